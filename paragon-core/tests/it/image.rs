//! The in-memory registry and the minimal builder pass their conformance
//! suites, directly and behind `Box<dyn _>` and `Arc<dyn _>`.

use crate::{repo, tag};
use std::sync::Arc;

use paragon_core::conformance;
use paragon_core::plugin::build::testing::{minimal_image, MinimalBuilder};
use paragon_core::plugin::build::Builder;
use paragon_core::plugin::registry::{MemoryRegistry, Registry};
use paragon_core::CallContext;

#[tokio::test]
async fn memory_registry_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let caps = conformance::registry::Capabilities::full();
    conformance::registry::all(&MemoryRegistry::new(), dir.path(), "paragon/direct", caps).await;
    let boxed: Box<dyn Registry> = Box::new(MemoryRegistry::new());
    conformance::registry::all(&boxed, dir.path(), "paragon/boxed", caps).await;
    let shared: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    conformance::registry::all(&shared, dir.path(), "paragon/shared", caps).await;
}

#[tokio::test]
async fn minimal_builder_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let caps = conformance::builder::Capabilities::full();
    conformance::builder::all(&MinimalBuilder, &dir.path().join("direct"), caps).await;
    let boxed: Box<dyn Builder> = Box::new(MinimalBuilder);
    conformance::builder::all(&boxed, &dir.path().join("boxed"), caps).await;
    let shared: Arc<dyn Builder> = Arc::new(MinimalBuilder);
    conformance::builder::all(&shared, &dir.path().join("shared"), caps).await;
}

#[tokio::test]
async fn memory_registry_counts_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let registry = MemoryRegistry::new();
    let a = minimal_image(&dir.path().join("a"), "a").unwrap();
    let tags = vec![tag("1"), tag("latest")];
    registry
        .push(&a, &repo("app"), &tags, &CallContext::new())
        .await
        .unwrap();
    registry
        .push(&a, &repo("app"), &tags, &CallContext::new())
        .await
        .unwrap();
    assert_eq!(registry.manifest_count("app"), 1);
    let err = registry
        .delete_tag(&repo("app"), &tag("nope"), &CallContext::new())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
