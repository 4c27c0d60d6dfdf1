//! GitOps over real git: byte-minimal edits, races, rollback, change
//! requests, credentials.

use std::sync::{Arc, Mutex};

use paragon_core::conformance;
use paragon_core::plugin::deploy::{Deployment, GitOpsTarget, GitOpsTargetExt, Release};
use paragon_core::{CallContext, Digest, Error, Secret};
use paragon_gitops::{
    ChangeRequest, ChangeRequests, ChartBump, GitCredentials, GitOps, HelmValues, Kustomize,
    RetryPolicy, WriteMode,
};

use crate::support::{git, values, Remote, KUSTOMIZATION};

const REPO: &str = "harbor.example/shop/app";

pub(crate) fn helm(remote: &Remote) -> GitOps {
    GitOps::new(
        remote.url(),
        HelmValues::new("charts/shop").with_digest_key("image.digest"),
    )
    .with_author("Paragon CI", "ci@example.com")
}

pub(crate) fn release(env: &str, tag: &str) -> Release {
    Release::new("shop", env, REPO, tag).with_digest(Digest::of(tag.as_bytes()))
}

fn yaml(text: &str) -> serde_json::Value {
    serde_norway::from_str(text).unwrap()
}

#[tokio::test]
async fn helm_target_conforms() {
    let remote = Remote::new();
    conformance::gitops::all(&helm(&remote), "shop").await;
}

#[tokio::test]
async fn kustomize_target_conforms() {
    let remote = Remote::new();
    conformance::gitops::all(
        &GitOps::new(remote.url(), Kustomize::new("shop-app")),
        "shop",
    )
    .await;
}

#[tokio::test]
async fn a_deploy_changes_only_the_image_lines() {
    let remote = Remote::new();
    let before = remote.file("charts/shop/values-dev.yaml");
    let ctx = CallContext::new();
    let r = release("dev", "1.21");
    let d = helm(&remote).deploy(&r, &ctx).await.unwrap();
    let change = d.change().unwrap();
    assert_eq!(change.files, vec!["charts/shop/values-dev.yaml".to_owned()]);
    assert_eq!(change.previous.as_ref().unwrap().tag, "1.20");
    let after = remote.file("charts/shop/values-dev.yaml");
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    // One line changed in place, one inserted (the digest, after the tag).
    assert_eq!(new.len(), old.len() + 1);
    let tag_line = old
        .iter()
        .position(|l| l.trim_start().starts_with("tag:"))
        .unwrap();
    for (i, line) in old.iter().enumerate() {
        if i == tag_line {
            assert_eq!(new[i], "  tag: \"1.21\"");
        } else if i < tag_line {
            assert_eq!(new[i], *line, "line {}", i + 1);
        } else {
            assert_eq!(new[i + 1], *line, "line {}", i + 2);
        }
    }
    assert_eq!(
        new[tag_line + 1],
        format!("  digest: {}", r.digest.as_ref().unwrap())
    );
    // Re-parsed: the tag is a string, everything else unchanged.
    let (mut a, b) = (yaml(&before), yaml(&after));
    assert_eq!(b["image"]["tag"], serde_json::json!("1.21"));
    a["image"]["tag"] = serde_json::json!("1.21");
    a["image"]["digest"] = serde_json::json!(r.digest.as_ref().unwrap().as_str());
    assert_eq!(a, b);
    // Nothing else in the repository moved.
    for env in ["test", "stage"] {
        assert_eq!(
            remote.file(&format!("charts/shop/values-{env}.yaml")),
            values(env)
        );
    }
    assert_eq!(remote.commits("main"), 2);
    let message = git(
        &remote.dir.path().join("remote.git"),
        &["log", "-1", "--format=%an <%ae>%n%B", "main"],
    );
    assert!(
        message.starts_with("Paragon CI <ci@example.com>\ndeploy shop 1.21 to dev"),
        "{message}"
    );
    assert!(message.contains("dev: 1.20 -> 1.21"), "{message}");
}

#[tokio::test]
async fn crlf_files_stay_crlf() {
    let remote = Remote::new();
    helm(&remote)
        .deploy(&release("prod", "2.0.0"), &CallContext::new())
        .await
        .unwrap();
    let after = remote.file("charts/shop/values-prod.yaml");
    assert!(
        !after.replace("\r\n", "").contains('\n'),
        "a bare LF crept in"
    );
    assert!(after.contains("  tag: 2.0.0\r\n  digest: sha256:"));
}

#[tokio::test]
async fn the_same_update_twice_makes_one_commit() {
    let remote = Remote::new();
    let target = helm(&remote);
    let ctx = CallContext::new();
    let first = target.deploy(&release("dev", "1.5.0"), &ctx).await.unwrap();
    let second = target.deploy(&release("dev", "1.5.0"), &ctx).await.unwrap();
    assert!(matches!(second, Deployment::Unchanged { .. }));
    assert_eq!(second.commit(), first.commit());
    assert_eq!(remote.commits("main"), 2);
}

#[tokio::test]
async fn concurrent_writers_to_different_environments_all_land() {
    let remote = Remote::new();
    // Four pipelines, each with its own clone.
    let envs = ["dev", "test", "stage", "prod"];
    let targets: Vec<GitOps> = envs.iter().map(|_| helm(&remote)).collect();
    let ctx = CallContext::new();
    let results = futures_join(&targets, &envs, &ctx).await;
    for r in results {
        assert!(r.unwrap().change().is_some());
    }
    assert_eq!(remote.commits("main"), 1 + envs.len());
    for env in envs {
        let v = yaml(&remote.file(&format!("charts/shop/values-{env}.yaml")));
        assert_eq!(v["image"]["tag"], serde_json::json!(format!("9.0.0-{env}")));
    }
}

/// Eight pipelines released at once, each changing its own service's
/// keys in one shared values file: every push that loses is redone on the
/// new head, and all eight land within the default retry policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_writers_of_one_file_all_land() {
    let remote = Remote::new();
    let seed = remote.clone_main("services");
    let file = seed.join("charts/shop/values-dev.yaml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    for i in 0..8 {
        text.push_str(&format!(
            "\nsvc{i}:\n  image:\n    repository: {REPO}\n    tag: \"1.0\"\n"
        ));
    }
    std::fs::write(&file, text).unwrap();
    git(&seed, &["commit", "--quiet", "-am", "services"]);
    git(&seed, &["push", "--quiet", "origin", "HEAD:main"]);
    let targets: Vec<GitOps> = (0..8)
        .map(|i| {
            GitOps::new(
                remote.url(),
                HelmValues::new("charts/shop").with_keys(
                    format!("svc{i}.image.repository"),
                    format!("svc{i}.image.tag"),
                ),
            )
            .with_author("Paragon CI", "ci@example.com")
        })
        .collect();
    let releases: Vec<Release> = (0..8)
        .map(|i| Release::new("shop", "dev", format!("{REPO}-{i}"), format!("3.0.{i}")))
        .collect();
    let ctx = CallContext::new();
    let deploys = targets
        .iter()
        .zip(&releases)
        .map(|(t, r)| t.deploy(r, &ctx));
    for d in join_all(deploys.collect()).await {
        assert!(d.unwrap().change().is_some());
    }
    assert_eq!(remote.commits("main"), 10);
    let v = yaml(&remote.file("charts/shop/values-dev.yaml"));
    for i in 0..8 {
        assert_eq!(
            v[format!("svc{i}")]["image"]["tag"],
            serde_json::json!(format!("3.0.{i}"))
        );
        assert_eq!(
            v[format!("svc{i}")]["image"]["repository"],
            serde_json::json!(format!("{REPO}-{i}"))
        );
    }
    // The rest of the file is as it was.
    assert_eq!(v["image"]["tag"], serde_json::json!(1.20));
}

async fn futures_join(
    targets: &[GitOps],
    envs: &[&str],
    ctx: &CallContext,
) -> Vec<paragon_core::Result<Deployment>> {
    let releases: Vec<Release> = envs
        .iter()
        .map(|e| release(e, &format!("9.0.0-{e}")))
        .collect();
    let mut set = Vec::new();
    for (t, r) in targets.iter().zip(&releases) {
        set.push(t.deploy(r, ctx));
    }
    let mut out = Vec::new();
    // Run them all at once on the runtime.
    let joined = join_all(set).await;
    out.extend(joined);
    out
}

async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

/// A `git` wrapper that, before the first push it sees, pushes someone
/// else's commit to the remote: the push it wraps is then rejected.
fn racing_git(remote: &Remote, every_time: bool) -> std::path::PathBuf {
    let other = remote.clone_main("other-writer");
    std::fs::write(
        other.join("charts/shop/values-test.yaml"),
        values("test").replace("replicaCount: 1", "replicaCount: 3"),
    )
    .unwrap();
    git(&other, &["commit", "--quiet", "-am", "someone else"]);
    let marker = remote.dir.path().join("raced");
    let script = remote.dir.path().join("git-racing");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = push ] && {{ [ ! -e '{m}' ] || [ {e} = 1 ]; }}; then touch '{m}'; [ -e '{m}.again' ] && git -C '{o}' -c user.name=o -c user.email=o@x commit --quiet --allow-empty -m again; touch '{m}.again'; git -C '{o}' push --quiet origin HEAD:main >/dev/null 2>&1; fi; done\nexec git \"$@\"\n",
            m = marker.display(),
            o = other.display(),
            e = u8::from(every_time)
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn a_rejected_push_is_redone_on_the_new_head() {
    let remote = Remote::new();
    let target = helm(&remote).with_git(racing_git(&remote, false));
    let d = target
        .deploy(&release("dev", "4.0.0"), &CallContext::new())
        .await
        .unwrap();
    assert!(
        remote.dir.path().join("raced").exists(),
        "the race did not happen"
    );
    // Both the other writer's commit and ours are on main.
    assert_eq!(remote.commits("main"), 3);
    assert!(remote
        .file("charts/shop/values-test.yaml")
        .contains("replicaCount: 3"));
    assert!(remote
        .file("charts/shop/values-dev.yaml")
        .contains("tag: 4.0.0\n"));
    assert_eq!(
        git(
            &remote.dir.path().join("remote.git"),
            &["rev-parse", "main"]
        )
        .trim(),
        d.commit()
    );
}

#[tokio::test]
async fn pushes_rejected_every_time_end_in_a_conflict() {
    let remote = Remote::new();
    // Another writer pushes before each of our pushes.
    let target = helm(&remote)
        .with_git(racing_git(&remote, true))
        .with_push_retry(RetryPolicy::new(
            2,
            std::time::Duration::from_millis(10),
            std::time::Duration::from_millis(20),
        ));
    let err = target
        .deploy(&release("dev", "4.0.0"), &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref(),
            Some(paragon_gitops::Error::PushRejected { attempts: 2, .. })
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    // Only the other writer's commits landed.
    assert_eq!(remote.commits("main"), 3);
    assert!(!remote.file("charts/shop/values-dev.yaml").contains("4.0.0"));
}

#[tokio::test]
async fn a_hook_refusing_the_push_is_an_error_not_a_retry() {
    let remote = Remote::new();
    let hook = remote.dir.path().join("remote.git/hooks/update");
    std::fs::write(&hook, "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = helm(&remote)
        .deploy(&release("dev", "4.0.0"), &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(paragon_gitops::Error::Git { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("main is protected"), "{err}");
}

#[tokio::test]
async fn a_stale_clone_lands_without_losing_the_other_update() {
    let remote = Remote::new();
    let work = tempfile::tempdir().unwrap();
    let a = helm(&remote).with_workdir(work.path().join("a"));
    let ctx = CallContext::new();
    // A clones now; B deploys after; A's clone is stale.
    assert_eq!(a.current("dev", &ctx).await.unwrap().unwrap().tag, "1.20");
    helm(&remote)
        .deploy(&release("test", "5.0.0"), &ctx)
        .await
        .unwrap();
    a.deploy(&release("dev", "5.0.1"), &ctx).await.unwrap();
    assert_eq!(remote.commits("main"), 3);
    assert!(remote
        .file("charts/shop/values-test.yaml")
        .contains("tag: 5.0.0\n"));
    assert!(remote
        .file("charts/shop/values-dev.yaml")
        .contains("tag: 5.0.1\n"));
}

#[tokio::test]
async fn rollback_restores_the_previous_bytes_with_a_revert_commit() {
    let remote = Remote::new();
    let target = helm(&remote);
    let ctx = CallContext::new();
    target
        .deploy(&release("stage", "6.0.0"), &ctx)
        .await
        .unwrap();
    let good = remote.file("charts/shop/values-stage.yaml");
    let bad = target
        .deploy(&release("stage", "6.0.1"), &ctx)
        .await
        .unwrap();
    let reverted = target.rollback(bad.change().unwrap(), &ctx).await.unwrap();
    assert_eq!(remote.file("charts/shop/values-stage.yaml"), good);
    assert_eq!(remote.commits("main"), 4);
    let subject = git(
        &remote.dir.path().join("remote.git"),
        &["log", "-1", "--format=%s", "main"],
    );
    assert!(subject.starts_with("Revert"), "{subject}");
    assert_eq!(reverted.change().unwrap().current.tag, "6.0.0");
}

#[tokio::test]
async fn promotion_carries_the_digest() {
    let remote = Remote::new();
    let target = helm(&remote);
    let ctx = CallContext::new();
    let r = release("dev", "7.1.0");
    target.deploy(&r, &ctx).await.unwrap();
    target.promote("shop", "dev", "test", &ctx).await.unwrap();
    let test = yaml(&remote.file("charts/shop/values-test.yaml"));
    assert_eq!(test["image"]["tag"], serde_json::json!("7.1.0"));
    assert_eq!(
        test["image"]["digest"],
        serde_json::json!(r.digest.unwrap().as_str())
    );
}

#[tokio::test]
async fn chart_app_version_keeps_its_quotes_and_the_version_is_bumped() {
    let remote = Remote::new();
    let target = GitOps::new(
        remote.url(),
        HelmValues::new("charts/shop").with_app_version(Some(ChartBump::Patch)),
    );
    let d = target
        .deploy(&release("dev", "1.21"), &CallContext::new())
        .await
        .unwrap();
    assert_eq!(d.change().unwrap().files.len(), 2);
    let chart = remote.file("charts/shop/Chart.yaml");
    assert_eq!(
        chart,
        "apiVersion: v2\nname: shop\ndescription: The shop\n# bumped by the pipeline\nversion: 0.3.10\nappVersion: \"1.21\"\n"
    );
}

#[tokio::test]
async fn kustomize_entries_are_set_and_appended() {
    let remote = Remote::new();
    let ctx = CallContext::new();
    let r = release("dev", "3.3");
    GitOps::new(remote.url(), Kustomize::new("shop-app"))
        .deploy(&r, &ctx)
        .await
        .unwrap();
    let after = remote.file("overlays/dev/kustomization.yaml");
    assert_eq!(
        after,
        KUSTOMIZATION.replace(
            "    newTag: \"1.0\"\n",
            &format!(
                "    newTag: \"3.3\"\n    digest: {}\n",
                r.digest.as_ref().unwrap()
            )
        )
    );
    GitOps::new(remote.url(), Kustomize::new("worker"))
        .deploy(&release("test", "1.0.0"), &ctx)
        .await
        .unwrap();
    let v = yaml(&remote.file("overlays/test/kustomization.yaml"));
    assert_eq!(v["images"][2]["name"], serde_json::json!("worker"));
    assert_eq!(v["images"][2]["newTag"], serde_json::json!("1.0.0"));
}

#[derive(Debug, Default)]
struct Forge {
    opened: Mutex<Vec<ChangeRequest>>,
}

#[paragon_core::async_trait]
impl ChangeRequests for Forge {
    async fn open(
        &self,
        request: &ChangeRequest,
        _ctx: &CallContext,
    ) -> paragon_core::Result<String> {
        self.opened.lock().unwrap().push(request.clone());
        Ok(format!(
            "https://forge.example/shop/deploy/pulls/{}",
            self.opened.lock().unwrap().len()
        ))
    }
}

#[tokio::test]
async fn change_request_mode_pushes_a_branch_and_opens_a_request() {
    let remote = Remote::new();
    let forge = Arc::new(Forge::default());
    let target = helm(&remote)
        .with_mode(WriteMode::ChangeRequest)
        .with_change_requests(forge.clone());
    let ctx = CallContext::new();
    let d = target
        .deploy(&release("prod", "8.0.0"), &ctx)
        .await
        .unwrap();
    let change = d.change().unwrap();
    assert_eq!(change.branch, "paragon/prod/shop-8.0.0");
    assert_eq!(
        change.change_request.as_deref(),
        Some("https://forge.example/shop/deploy/pulls/1")
    );
    assert_eq!(remote.commits("main"), 1, "the protected branch moved");
    assert!(remote
        .show("paragon/prod/shop-8.0.0", "charts/shop/values-prod.yaml")
        .contains("tag: 8.0.0\r\n"));
    let opened = forge.opened.lock().unwrap().clone();
    assert_eq!(opened[0].target_branch, "main");
    assert!(
        opened[0].description.contains("+"),
        "{}",
        opened[0].description
    );
    // The same request again changes nothing.
    let again = target
        .deploy(&release("prod", "8.0.0"), &ctx)
        .await
        .unwrap();
    assert!(matches!(again, Deployment::Unchanged { .. }));
    assert_eq!(forge.opened.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn credentials_stay_out_of_the_repository_and_errors() {
    let remote = Remote::new();
    let work = tempfile::tempdir().unwrap();
    let token = "tok-7f3e9a-very-secret";
    let target = helm(&remote)
        .with_workdir(work.path().join("w"))
        .with_credentials(GitCredentials::token("ci-bot", Secret::new(token)));
    target
        .deploy(&release("dev", "1.0.1"), &CallContext::new())
        .await
        .unwrap();
    assert!(!format!("{target:?}").contains(token));
    let config = std::fs::read_to_string(work.path().join("w/.git/config")).unwrap();
    assert!(
        !config.contains(token) && !config.contains("extraHeader"),
        "{config}"
    );
    let log = git(
        &remote.dir.path().join("remote.git"),
        &["log", "-p", "--all"],
    );
    assert!(!log.contains(token));
    // A password in the URL is taken out and never shown.
    let url = "https://bot:hunter2-secret@127.0.0.1:9/shop/deploy.git";
    let t = GitOps::new(url, HelmValues::new("."));
    assert!(!format!("{t:?}").contains("hunter2"));
    assert!(!t.location().contains("hunter2"));
    let err = t
        .deploy(&release("dev", "1.0.0"), &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(paragon_gitops::Error::Git { .. })),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("hunter2") && !format!("{err:?}").contains("hunter2"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_files_and_paths_are_typed_errors() {
    let remote = Remote::new();
    let ctx = CallContext::new();
    let missing = GitOps::new(remote.url(), HelmValues::new("charts/nope"));
    let err = missing
        .deploy(&release("dev", "1.0.0"), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("values-dev.yaml"), "{err}");
    let deep = GitOps::new(
        remote.url(),
        HelmValues::new("charts/shop").with_keys("image.repository", "image.build.tag"),
    );
    let err = deep
        .deploy(&release("dev", "1.0.0"), &ctx)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("nearest existing path is `image`"),
        "{err}"
    );
    assert_eq!(remote.commits("main"), 1);
}

/// A target that requires a signature writes a signed release and refuses
/// an unsigned one, one signed by another key, and one without a digest,
/// leaving the branch as it was.
#[tokio::test]
async fn a_target_requiring_a_signature_writes_only_verified_releases() {
    use paragon_core::plugin::build::testing::minimal_image;
    use paragon_core::plugin::sign::testing::KeyedDigest;
    use paragon_core::{MemoryRegistry, Registry};
    let remote = Remote::new();
    let dir = tempfile::tempdir().unwrap();
    let registry = MemoryRegistry::new();
    let repository: paragon_core::Repository = "shop/app".parse().unwrap();
    let ctx = CallContext::new();
    let push = |seed: &str| minimal_image(&dir.path().join(seed), seed).unwrap();
    let (signed, unsigned, other) = (push("signed"), push("unsigned"), push("other"));
    for image in [&signed, &unsigned, &other] {
        registry.push(image, &repository, &[], &ctx).await.unwrap();
    }
    let name = "harbor.example/shop/app";
    let sign = |image: &paragon_core::BuiltImage, key: &str| {
        let (registry, repository, digest) =
            (registry.clone(), repository.clone(), image.digest.clone());
        let key = KeyedDigest::new(key);
        async move {
            paragon_core::plugin::sign::cosign::sign(
                &registry,
                &repository,
                &digest,
                name,
                &key,
                &CallContext::new(),
            )
            .await
            .unwrap();
        }
    };
    sign(&signed, "ci").await;
    sign(&other, "someone-else").await;
    let target = helm(&remote).require_signature(
        registry.clone(),
        repository.clone(),
        KeyedDigest::new("ci"),
    );
    let release = |image: &paragon_core::BuiltImage, tag: &str| {
        Release::new("shop", "dev", name, tag).with_digest(image.digest.clone())
    };
    let before = remote.commits("main");
    for (r, why) in [
        (release(&unsigned, "2.0.0"), "has no signature"),
        (release(&other, "2.0.1"), "not made by an accepted key"),
        (
            Release::new("shop", "dev", name, "2.0.2"),
            "names no digest",
        ),
    ] {
        let err = target.deploy(&r, &ctx).await.unwrap_err().to_string();
        assert!(err.contains(why) && err.contains("keyed:ci"), "{err}");
    }
    assert_eq!(remote.commits("main"), before);
    let deployed = target
        .deploy(&release(&signed, "2.1.0"), &ctx)
        .await
        .unwrap();
    assert!(deployed.change().is_some());
    assert_eq!(remote.commits("main"), before + 1);
}
