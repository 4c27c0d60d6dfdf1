//! GitOps under faults of the git remote: it disappears mid-run, it hangs,
//! a hook keeps git busy after the branch moved. Each outcome is checked
//! against the bare remote itself: the caller is told a commit landed
//! exactly when it did.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paragon_core::plugin::deploy::GitOpsTarget;
use paragon_core::{CallContext, Error};

use crate::git::{helm, release};
use crate::support::{git, Remote};

/// An executable script at `dir/name`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn remote_main(remote: &Remote) -> String {
    git(
        &remote.dir.path().join("remote.git"),
        &["rev-parse", "main"],
    )
    .trim()
    .to_owned()
}

#[tokio::test]
async fn a_remote_that_disappears_before_the_push_is_a_git_error_naming_it() {
    let remote = Remote::new();
    let bare = remote.dir.path().join("remote.git");
    let gone = remote.dir.path().join("gone.git");
    // The remote vanishes between the clone and the push.
    let wrapper = script(
        remote.dir.path(),
        "git-vanishing",
        &format!(
            "for a in \"$@\"; do [ \"$a\" = push ] && mv '{}' '{}'; done\nexec git \"$@\"\n",
            bare.display(),
            gone.display()
        ),
    );
    let err = helm(&remote)
        .with_git(wrapper)
        .deploy(&release("dev", "4.0.0"), &CallContext::new())
        .await
        .unwrap_err();
    match err.downcast_ref::<paragon_gitops::Error>() {
        Some(paragon_gitops::Error::Git {
            remote: named,
            operation,
            ..
        }) => {
            assert_eq!(named, &remote.url());
            assert!(operation.contains("push"), "{operation}");
        }
        other => panic!("{other:?}"),
    }
    // Nothing reached the remote.
    assert_eq!(
        git(&gone, &["rev-list", "--count", "main"]).trim(),
        "1",
        "{err}"
    );
}

#[tokio::test]
async fn a_remote_gone_before_a_later_deploy_is_a_git_error() {
    let remote = Remote::new();
    let work = tempfile::tempdir().unwrap();
    let target = helm(&remote).with_workdir(work.path().join("tree"));
    target
        .deploy(&release("dev", "4.0.0"), &CallContext::new())
        .await
        .unwrap();
    std::fs::remove_dir_all(remote.dir.path().join("remote.git")).unwrap();
    let err = target
        .deploy(&release("dev", "4.0.1"), &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(paragon_gitops::Error::Git { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&remote.url()), "{text}");
    assert!(text.contains("fetch"), "{text}");
}

#[tokio::test]
async fn a_remote_that_hangs_is_stopped_by_the_timeout() {
    let remote = Remote::new();
    let wrapper = script(
        remote.dir.path(),
        "git-hanging",
        "for a in \"$@\"; do [ \"$a\" = clone ] && exec sleep 600; done\nexec git \"$@\"\n",
    );
    let started = Instant::now();
    let err = helm(&remote)
        .with_git(wrapper)
        .deploy(
            &release("dev", "4.0.0"),
            &CallContext::new().with_timeout(Duration::from_millis(500)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(remote.commits("main"), 1);
}

/// A `post-receive` hook that runs after the branch moved and keeps the
/// push busy for 5 s.
fn slow_hook(remote: &Remote) {
    script(
        &remote.dir.path().join("remote.git/hooks"),
        "post-receive",
        "sleep 5\n",
    );
}

#[tokio::test]
async fn a_push_stopped_after_the_remote_moved_reports_the_commit() {
    let remote = Remote::new();
    slow_hook(&remote);
    // Clone, fetch and commit take well under the 2 s of each step; the
    // push does not, although the branch moves at its start.
    let ctx = CallContext::new().with_timeout(Duration::from_secs(2));
    let d = helm(&remote)
        .deploy(&release("dev", "4.0.0"), &ctx)
        .await
        .unwrap();
    assert_eq!(d.commit(), remote_main(&remote));
    assert_eq!(remote.commits("main"), 2);
}

#[tokio::test]
async fn a_push_cancelled_after_the_remote_moved_reports_the_commit() {
    let remote = Remote::new();
    slow_hook(&remote);
    let ctx = CallContext::new();
    let cancel = ctx.cancel.clone();
    let bare = remote.dir.path().join("remote.git");
    let first = remote_main(&remote);
    // Cancelled once the branch has moved, while the hook still runs.
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = git(&bare, &["rev-parse", "main"]);
            if now.trim() != first {
                cancel.cancel();
                return;
            }
        }
    });
    let result = helm(&remote).deploy(&release("dev", "4.0.0"), &ctx).await;
    let d = result.unwrap();
    assert_eq!(d.commit(), remote_main(&remote));
}

#[tokio::test]
async fn a_push_cancelled_before_the_remote_moved_is_cancelled() {
    let remote = Remote::new();
    // A `pre-receive` hook holds the push before the branch moves.
    script(
        &remote.dir.path().join("remote.git/hooks"),
        "pre-receive",
        "sleep 5\n",
    );
    let ctx = CallContext::new();
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cancel.cancel();
    });
    let err = helm(&remote)
        .deploy(&release("dev", "4.0.0"), &ctx)
        .await
        .unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    // The hook may still finish on its own, but the branch was not moved
    // by the time the deploy said it was cancelled: git's receive-pack is
    // gone with the push.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(remote.commits("main"), 1);
}
