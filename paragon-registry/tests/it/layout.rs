//! The on-disk layout registry: conformance, and the result is an OCI
//! layout skopeo reads.

use paragon_core::conformance;
use paragon_core::plugin::build::{BuildSpec, Builder};
use paragon_core::plugin::registry::Registry;
use paragon_core::CallContext;
use paragon_registry::{LayoutRegistry, NativeBuilder};

use crate::support::{demo_app, repo, tags, tool};

#[tokio::test]
async fn layout_registry_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LayoutRegistry::new(dir.path().join("registry"));
    conformance::registry::all(
        &registry,
        dir.path(),
        "paragon/conformance",
        conformance::registry::Capabilities::full(),
    )
    .await;
}

/// Builds the demo app and pushes it to a layout registry under `dir` as
/// `shop/app:1.0.0` and `latest`.
async fn pushed(
    dir: &std::path::Path,
) -> (LayoutRegistry, paragon_core::plugin::build::BuiltImage) {
    let src = dir.join("src");
    demo_app(&src, "1.0.0");
    let image = NativeBuilder::new()
        .build(
            &BuildSpec::new(&src, dir.join("build")),
            &CallContext::new(),
        )
        .await
        .unwrap();
    let registry = LayoutRegistry::new(dir.join("registry"));
    let tags = tags(&["1.0.0", "latest"]);
    let pushed = registry
        .push(&image, &repo("shop/app"), &tags, &CallContext::new())
        .await
        .unwrap();
    assert_eq!(pushed.uploaded, 3, "config, layer, manifest");
    let again = registry
        .push(&image, &repo("shop/app"), &tags, &CallContext::new())
        .await
        .unwrap();
    assert_eq!(again.uploaded, 0);
    (registry, image)
}

#[tokio::test]
async fn layout_registry_stores_each_blob_once() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, image) = pushed(dir.path()).await;
    let found = registry.image("shop/app", "latest").unwrap();
    assert_eq!(found.digest, image.digest);
}

#[tokio::test]
#[ignore = "needs skopeo"]
async fn layout_registry_images_are_readable_by_skopeo() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, image) = pushed(dir.path()).await;
    let out = std::process::Command::new(tool("skopeo", "skopeo"))
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:shop/app:1.0.0", registry.root().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(paragon_core::Digest::of(&out.stdout), image.digest);
}
