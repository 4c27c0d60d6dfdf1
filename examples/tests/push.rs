//! The `push` example: to an on-disk layout, and to the real registry
//! (ignored unless asked for with `--include-ignored`).

use std::path::Path;
use std::process::Command;

mod support;

use support::{example, require, tool, TestRegistry};

fn app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>shop</h1>\n").unwrap();
    dir
}

fn digest_line(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("digest: sha256:"))
        .unwrap_or_else(|| panic!("{text}"));
    line.trim_start_matches("digest: ").to_owned()
}

/// Runs `push` on `context` into the layout registry `layout` as
/// `shop/web:TAG`, with `extra` arguments; its digest.
fn push_to_layout(context: &Path, layout: &Path, tag: &str, extra: &[&str]) -> String {
    let run = Command::new(example("push"))
        .args(["--context", context.to_str().unwrap()])
        .args(["--layout", layout.to_str().unwrap()])
        .args(["--repository", "shop/web", "--tag", tag])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    digest_line(&run.stdout)
}

#[test]
fn pushes_to_an_on_disk_layout() {
    let src = app();
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("registry");
    let digest = push_to_layout(src.path(), &layout, "1.0.0", &[]);
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
    assert!(
        index.contains("shop/web:1.0.0") && index.contains("shop/web:latest"),
        "{index}"
    );
    assert!(index.contains(&digest));
    let bad = Command::new(example("push"))
        .args([
            "--context",
            src.path().to_str().unwrap(),
            "--repository",
            "Shop",
            "--tag",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// `--base` builds on an image in a layout: its layer comes first, as
/// it was; `--compression` and `--threads` choose the new layer's
/// compression, and the digest does not depend on the threads.
#[test]
fn builds_on_a_base_image_with_the_chosen_compression() {
    let src = app();
    let out = tempfile::tempdir().unwrap();
    let base = out.path().join("base");
    let push = |layout: &Path, extra: &[&str]| push_to_layout(src.path(), layout, "2.0.0", extra);
    push(&base, &[]);
    let base_ref = [
        "--base",
        base.to_str().unwrap(),
        "--base-ref",
        "shop/web:2.0.0",
    ];
    let on_base = |name: &str, threads: &str| {
        let layout = out.path().join(name);
        let mut extra = base_ref.to_vec();
        extra.extend(["--compression", "none", "--threads", threads]);
        (push(&layout, &extra), layout)
    };
    let (one, layout) = on_base("one", "1");
    let (two, _) = on_base("two", "2");
    assert_eq!(one, two);
    let layout = paragon_core::model::oci::OciLayout::open(&layout).unwrap();
    let digest: paragon_core::Digest = one.parse().unwrap();
    let layers = layout.manifest(&digest).unwrap().layers;
    let base_layout = paragon_core::model::oci::OciLayout::open(&base).unwrap();
    let base_digest = base_layout
        .resolve("shop/web:2.0.0")
        .unwrap()
        .unwrap()
        .digest;
    let base_layers = base_layout.manifest(&base_digest).unwrap().layers;
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0], base_layers[0]);
    assert_eq!(
        layers[1].media_type,
        "application/vnd.oci.image.layer.v1.tar"
    );
    for bad in [&["--compression", "gzip:0"][..], &["--base-ref", "x"][..]] {
        let run = Command::new(example("push"))
            .args(["--context", src.path().to_str().unwrap()])
            .args(["--repository", "shop/web", "--tag", "2.0.0"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(2), "{bad:?}");
        assert!(!String::from_utf8_lossy(&run.stderr).is_empty());
    }
}

#[test]
#[ignore = "needs docker-registry, htpasswd and skopeo"]
fn pushes_to_a_real_registry() {
    require(&["docker-registry", "htpasswd", "skopeo"]);
    let skopeo = tool("skopeo").unwrap();
    let server = TestRegistry::start("ci", "ci-password-1");
    let addr = server.addr.clone();
    let src = app();
    let run = Command::new(example("push"))
        .args(["--context", src.path().to_str().unwrap()])
        .args(["--registry", &format!("http://{addr}")])
        .args(["--repository", "shop/web", "--tag", "2.1.0"])
        .env("PARAGON_REGISTRY_USERNAME", "ci")
        .env("PARAGON_REGISTRY_PASSWORD", "ci-password-1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let digest = if run.status.success() {
        Some(digest_line(&run.stdout))
    } else {
        None
    };
    let seen: Vec<Option<String>> = ["2.1.0", "latest"]
        .iter()
        .map(|t| server.digest(&skopeo, &format!("shop/web:{t}")))
        .collect();
    drop(server);
    let digest = digest.unwrap_or_else(|| panic!("push failed: {stderr}"));
    assert!(!stderr.contains("ci-password-1"), "{stderr}");
    assert_eq!(seen, [Some(digest.clone()), Some(digest)]);
}

/// SIGINT or SIGTERM during the build cancels it, exits 2, and leaves no
/// build directory behind.
#[test]
fn a_signal_during_the_build_cancels_it_and_leaves_nothing_behind() {
    for signal in ["-INT", "-TERM"] {
        let src = app();
        std::fs::write(src.path().join("big.bin"), vec![0x42u8; 192 << 20]).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let child = Command::new(example("push"))
            .args(["--context", src.path().to_str().unwrap()])
            .args(["--layout", out.path().join("registry").to_str().unwrap()])
            .args(["--repository", "shop/web", "--tag", "1.0.0"])
            .env("TMPDIR", tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the build has started writing its layer.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::read_dir(tmp.path()).unwrap().next().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the build never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let run = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{signal}: {stderr}");
        assert!(
            stderr.contains("cancelling") && stderr.contains("cancelled"),
            "{stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "{signal} left {left:?}");
        assert!(!out.path().join("registry/index.json").exists());
    }
}

/// A wrong password fails at the check before the build, naming the
/// registry, and nothing is built.
#[test]
#[ignore = "needs docker-registry and htpasswd"]
fn a_wrong_password_fails_before_the_build() {
    require(&["docker-registry", "htpasswd"]);
    let server = TestRegistry::start("ci", "ci-password-1");
    let src = app();
    let run = Command::new(example("push"))
        .args(["--context", src.path().to_str().unwrap()])
        .args(["--registry", &format!("http://{}", server.addr)])
        .args(["--repository", "shop/web", "--tag", "2.1.0"])
        .env("PARAGON_REGISTRY_USERNAME", "ci")
        .env("PARAGON_REGISTRY_PASSWORD", "not-the-password")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("before the build"), "{stderr}");
    assert!(stderr.contains(&server.addr), "{stderr}");
    assert!(!stderr.contains("building"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
}

/// When `latest` cannot be written after the version tag landed, the
/// push fails and says the version tag names the image; skopeo agrees.
#[test]
#[ignore = "needs docker-registry, htpasswd and skopeo"]
fn a_failed_latest_says_the_version_tag_landed() {
    use paragon_core::conformance::faults::{Fault, FaultProxy, Rule};
    require(&["docker-registry", "htpasswd", "skopeo"]);
    let skopeo = tool("skopeo").unwrap();
    let server = TestRegistry::start("ci", "ci-password-1");
    let proxy = FaultProxy::start(Some(&server.addr));
    proxy.add(
        Rule::new(Fault::status(500))
            .method("PUT")
            .path_contains("/manifests/latest"),
    );
    let src = app();
    let run = Command::new(example("push"))
        .args(["--context", src.path().to_str().unwrap()])
        .args(["--registry", &proxy.url()])
        .args(["--repository", "shop/web", "--tag", "2.1.0"])
        .env("PARAGON_REGISTRY_USERNAME", "ci")
        .env("PARAGON_REGISTRY_PASSWORD", "ci-password-1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    let version = server.digest(&skopeo, "shop/web:2.1.0");
    assert_eq!(server.digest(&skopeo, "shop/web:latest"), None);
    let version = version.unwrap_or_else(|| panic!("2.1.0 did not land: {stderr}"));
    assert!(
        stderr.contains(&format!(
            "2.1.0 on {} already name {version}",
            proxy.address()
        )),
        "{stderr}"
    );
}

/// `push --sign-key` signs what it pushed, and `verify` accepts the
/// image with the signer's public key (exit 0) and refuses it with
/// another (exit 1, naming why and the key it accepted).
#[test]
fn a_signed_push_verifies_with_its_key_only() {
    use paragon_core::plugin::sign::Signer as _;
    use paragon_registry::cosign::CosignKeySigner;
    let src = app();
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("registry");
    let signer = CosignKeySigner::generate();
    let key = out.path().join("cosign.key");
    std::fs::write(&key, signer.private_key_pem().expose()).unwrap();
    let public = out.path().join("cosign.pub");
    std::fs::write(&public, signer.public_key_pem()).unwrap();
    let stranger = CosignKeySigner::generate();
    let other = out.path().join("other.pub");
    std::fs::write(&other, stranger.public_key_pem()).unwrap();

    let digest = push_to_layout(
        src.path(),
        &layout,
        "3.0.0",
        &["--sign-key", key.to_str().unwrap()],
    );
    let verify = |key: &Path| {
        Command::new(example("verify"))
            .args(["--layout", layout.to_str().unwrap()])
            .args(["--image", &format!("shop/web@{digest}")])
            .args(["--key", key.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = verify(&public);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&signer.identity()), "{stdout}");
    let refused = verify(&other);
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("not made by an accepted key") && stdout.contains(&stranger.identity()),
        "{stdout}"
    );
    // cosign 3's layout: a bundle referrer, which `verify` accepts too.
    let digest = push_to_layout(
        src.path(),
        &layout,
        "3.0.2",
        &[
            "--sign-key",
            key.to_str().unwrap(),
            "--signature-format",
            "bundles",
        ],
    );
    let ok = Command::new(example("verify"))
        .args(["--layout", layout.to_str().unwrap()])
        .args(["--image", &format!("shop/web@{digest}")])
        .args(["--key", public.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&signer.identity())
            && stdout.contains("application/vnd.dev.sigstore.bundle.v0.3+json"),
        "{stdout}"
    );
    let bad_key = Command::new(example("push"))
        .args(["--context", src.path().to_str().unwrap()])
        .args(["--repository", "shop/web", "--tag", "3.0.1"])
        .args(["--sign-key", public.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad_key.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad_key.stderr);
    assert!(stderr.contains("cosign.pub"), "{stderr}");
}
