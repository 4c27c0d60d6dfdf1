//! The in-memory GitOps target under the conformance suite.

use paragon_core::conformance;
use paragon_core::plugin::deploy::{GitOpsTarget, MemoryGitOps, Release};
use paragon_core::{CallContext, ErrorKind};

#[tokio::test]
async fn memory_gitops_conforms() {
    let target = MemoryGitOps::new(["dev", "test", "stage", "prod"]);
    conformance::gitops::all(&target, "shop").await;
}

#[tokio::test]
async fn a_revert_of_a_superseded_change_conflicts() {
    let target = MemoryGitOps::new(["dev"]);
    let ctx = CallContext::new();
    let first = target
        .deploy(
            &Release::new("shop", "dev", "r.example/shop", "1.0.0"),
            &ctx,
        )
        .await
        .unwrap();
    target
        .deploy(
            &Release::new("shop", "dev", "r.example/shop", "1.0.1"),
            &ctx,
        )
        .await
        .unwrap();
    let err = target
        .rollback(first.change().unwrap(), &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err:?}");
    assert_eq!(target.commit_count(), 2);
}
