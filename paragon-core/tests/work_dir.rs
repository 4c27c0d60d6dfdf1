//! A run whose temporary work directory cannot be made fails its build
//! stage with that error (its own test binary: it changes `TMPDIR` for the
//! whole process).

use paragon_core::pipeline::{Outcome, Pipeline, Stage, VersionStrategy};
use paragon_core::plugin::build::testing::MinimalBuilder;
use paragon_core::{CallContext, MemoryGitOps, MemoryRegistry, Registry};

#[tokio::test]
async fn a_work_directory_that_cannot_be_made_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.go"), "package main\n").unwrap();
    let missing = dir.path().join("no-such-tmp");
    // The only test of this binary: nothing else reads the variable.
    std::env::set_var("TMPDIR", &missing);
    let registry = MemoryRegistry::new();
    let gitops = MemoryGitOps::new(["dev"]);
    let rec = Pipeline::builder("shop", dir.path())
        .builder(MinimalBuilder)
        .registry(registry.clone(), "shop/app")
        .version(VersionStrategy::explicit("1.0.0").unwrap())
        .environment("dev", gitops.clone())
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    assert_eq!(rec.failed_stage, Some(Stage::Build), "{rec:?}");
    let builds: Vec<Outcome> = rec
        .stages
        .iter()
        .filter(|s| s.stage == Stage::Build)
        .map(|s| s.outcome)
        .collect();
    assert_eq!(builds, [Outcome::Failed]);
    let error = rec.error.as_deref().unwrap();
    assert!(
        error.contains("cannot create the run's work directory")
            && error.contains(&missing.display().to_string()),
        "{error}"
    );
    assert!(registry
        .list_tags(&repo("shop/app"), &CallContext::new())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(gitops.commit_count(), 0);
}

/// A repository name the tests know to be valid.
fn repo(name: &str) -> paragon_core::Repository {
    paragon_core::Repository::new(name).expect("a valid repository name")
}

/// A tag the tests know to be valid.
#[allow(dead_code)]
fn tag(name: &str) -> paragon_core::Tag {
    paragon_core::Tag::new(name).expect("a valid tag")
}
