//! The in-memory registry passes the registry conformance suite.

use paragon_core::conformance;
use paragon_core::image::{testing::minimal_image, MemoryRegistry, Registry};
use paragon_core::ScanContext;

#[tokio::test]
async fn memory_registry_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let registry = MemoryRegistry::new();
    conformance::registry::all(&registry, dir.path(), "paragon/conformance").await;
}

#[tokio::test]
async fn memory_registry_counts_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let registry = MemoryRegistry::new();
    let a = minimal_image(&dir.path().join("a"), "a").unwrap();
    let tags = vec!["1".to_string(), "latest".to_string()];
    registry
        .push(&a, "app", &tags, &ScanContext::new())
        .await
        .unwrap();
    registry
        .push(&a, "app", &tags, &ScanContext::new())
        .await
        .unwrap();
    assert_eq!(registry.manifest_count("app"), 1);
    let err = registry.delete_tag("app", "nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
