//! The `push` example: to an on-disk layout, and to the real registry
//! (ignored unless asked for with `--include-ignored`).

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

#[test]
fn pushes_to_an_on_disk_layout() {
    let src = app();
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("registry");
    let run = Command::new(example("push"))
        .args(["--context", src.path().to_str().unwrap()])
        .args(["--layout", layout.to_str().unwrap()])
        .args(["--repository", "shop/web", "--tag", "1.0.0"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let digest = digest_line(&run.stdout);
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
