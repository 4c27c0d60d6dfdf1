//! What a user of the GitOps target relies on: diffs `git apply` takes,
//! typos that are errors rather than "no image yet", `appVersion` that
//! follows the release, versions written as plainly as the file wrote
//! them, tag-only releases, and errors that name what the user named.

use paragon_core::plugin::deploy::{GitOpsTarget, Release};
use paragon_core::CallContext;
use paragon_gitops::{GitOps, HelmValues, Kustomize};

use crate::git::{helm, release};
use crate::support::{git, Remote};

/// Applies `diff` with `git apply` to a clone at `rev`, and returns the
/// clone's `file` afterwards.
fn apply_at(remote: &Remote, rev: &str, diff: &str, file: &str) -> String {
    let clone = remote.clone_main("apply");
    git(&clone, &["checkout", "--quiet", rev]);
    let patch = clone.join("change.diff");
    std::fs::write(&patch, diff).unwrap();
    git(&clone, &["apply", "--check", patch.to_str().unwrap()]);
    git(&clone, &["apply", patch.to_str().unwrap()]);
    std::fs::read_to_string(clone.join(file)).unwrap()
}

#[tokio::test]
async fn the_diff_is_one_git_apply_takes() {
    let remote = Remote::new();
    let ctx = CallContext::new();
    // Two files (values and Chart.yaml), one with CRLF line endings.
    let target = GitOps::new(
        remote.url(),
        HelmValues::new("charts/shop")
            .with_digest_key("image.digest")
            .with_app_version(None),
    );
    for env in ["dev", "prod"] {
        let d = target.deploy(&release(env, "2.1.0"), &ctx).await.unwrap();
        let change = d.change().unwrap();
        let file = format!("charts/shop/values-{env}.yaml");
        assert!(change
            .diff
            .contains(&format!("--- a/{file}\n+++ b/{file}\n@@ ")));
        assert_eq!(
            apply_at(&remote, "main~1", &change.diff, &file),
            remote.file(&file),
            "{env}"
        );
    }
}

#[tokio::test]
async fn a_path_through_a_scalar_is_an_error_not_an_empty_environment() {
    let remote = Remote::new();
    let clone = remote.clone_main("edit");
    std::fs::write(
        clone.join("charts/shop/values-dev.yaml"),
        "image: harbor.example/shop/app:1.0\n",
    )
    .unwrap();
    git(&clone, &["commit", "--quiet", "-am", "flat image"]);
    git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
    let commits = remote.commits("main");
    let ctx = CallContext::new();
    let target = helm(&remote);
    let err = target.current("dev", &ctx).await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref(),
            Some(paragon_gitops::Error::YamlPath { .. })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("`image` is a scalar, not a mapping"),
        "{err}"
    );
    assert!(target.deploy(&release("dev", "2.0.0"), &ctx).await.is_err());
    assert_eq!(remote.commits("main"), commits, "the remote moved");
}

#[tokio::test]
async fn app_version_follows_the_release_also_when_the_tag_is_there() {
    let remote = Remote::new();
    let ctx = CallContext::new();
    helm(&remote)
        .deploy(&release("dev", "1.21.0"), &ctx)
        .await
        .unwrap();
    let with_chart = GitOps::new(
        remote.url(),
        HelmValues::new("charts/shop")
            .with_digest_key("image.digest")
            .with_app_version(None),
    );
    let d = with_chart
        .deploy(&release("dev", "1.21.0"), &ctx)
        .await
        .unwrap();
    let change = d.change().expect("appVersion was stale");
    assert_eq!(change.files, ["charts/shop/Chart.yaml"]);
    assert!(remote
        .file("charts/shop/Chart.yaml")
        .contains("appVersion: \"1.21.0\"\n"));
    assert!(with_chart
        .deploy(&release("dev", "1.21.0"), &ctx)
        .await
        .unwrap()
        .change()
        .is_none());
    // The application version given apart from the tag.
    let r = release("dev", "1.22.0-build.7").with_app_version("1.22.0");
    with_chart.deploy(&r, &ctx).await.unwrap();
    assert!(remote
        .file("charts/shop/Chart.yaml")
        .contains("appVersion: \"1.22.0\"\n"));
    assert!(remote
        .file("charts/shop/values-dev.yaml")
        .contains("  tag: 1.22.0-build.7\n"));
}

#[tokio::test]
async fn versions_stay_as_plain_as_the_file_wrote_them() {
    let remote = Remote::new();
    let ctx = CallContext::new();
    let target = helm(&remote);
    // The seed's `tag: 1.20` is plain: a version with two dots stays plain,
    // one a loader would read as a number is quoted.
    target
        .deploy(&release("dev", "1.29.3"), &ctx)
        .await
        .unwrap();
    assert!(remote
        .file("charts/shop/values-dev.yaml")
        .contains("\n  tag: 1.29.3\n"));
    target.deploy(&release("dev", "1.30"), &ctx).await.unwrap();
    assert!(remote
        .file("charts/shop/values-dev.yaml")
        .contains("\n  tag: \"1.30\"\n"));
}

#[tokio::test]
async fn a_tag_only_release_keeps_the_repository() {
    let remote = Remote::new();
    let ctx = CallContext::new();
    let before = remote.file("charts/shop/values-dev.yaml");
    let d = helm(&remote)
        .deploy(&Release::tag_only("shop", "dev", "3.0.0"), &ctx)
        .await
        .unwrap();
    let change = d.change().unwrap();
    assert_eq!(
        change.current.repository.as_deref(),
        Some("harbor.example/shop/app")
    );
    let after = remote.file("charts/shop/values-dev.yaml");
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed, [("  tag: 1.20", "  tag: 3.0.0")]);

    // Kustomize: no `newName` that repeats `name`; an existing one moves.
    let kz = GitOps::new(remote.url(), Kustomize::new("sidecar"));
    kz.deploy(&Release::new("shop", "dev", "sidecar", "8"), &ctx)
        .await
        .unwrap();
    let file = remote.file("overlays/dev/kustomization.yaml");
    assert!(
        file.contains("  - name: sidecar\n    newTag: \"8\"\n  - name: shop-app"),
        "{file}"
    );
    let kz = GitOps::new(remote.url(), Kustomize::new("shop-app"));
    kz.deploy(&Release::tag_only("shop", "dev", "1.1.0"), &ctx)
        .await
        .unwrap();
    let file = remote.file("overlays/dev/kustomization.yaml");
    assert!(
        file.contains("newName: harbor.example/shop/app\n    newTag: \"1.1.0\"\n"),
        "{file}"
    );
}

#[tokio::test]
async fn errors_name_what_the_user_named() {
    let remote = Remote::new();
    let ctx = CallContext::new();
    let target = GitOps::new(
        remote.url(),
        HelmValues::new("charts/shop").with_values_file("charts/shop/values-{env}-eu.yaml"),
    );
    let err = target
        .deploy(&release("dev", "1.0.0"), &ctx)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot access `charts/shop/values-dev-eu.yaml`: "),
        "{text}"
    );
    assert!(text.contains("No such file"), "{text}");
    let err = target
        .deploy(&Release::tag_only("shop", "dev", "bad tag"), &ctx)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("invalid release configuration"), "{text}");
    assert!(!text.contains("registry"), "{text}");
    assert_eq!(remote.commits("main"), 1);
}
