//! The `push` example: to an on-disk layout, and to the real registry
//! (skipped without docker-registry unless `PARAGON_REQUIRE_TOOLS=1`).

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

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
fn pushes_to_a_real_registry() {
    let (Some(registry_bin), Some(htpasswd), Some(skopeo)) =
        (tool("docker-registry"), tool("htpasswd"), tool("skopeo"))
    else {
        if std::env::var("PARAGON_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("docker-registry, htpasswd and skopeo are required (PARAGON_REQUIRE_TOOLS=1)");
        }
        eprintln!("skipped: docker-registry, htpasswd or skopeo missing");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(htpasswd)
        .args(["-Bbn", "ci", "ci-password-1"])
        .output()
        .unwrap();
    std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::write(
        dir.path().join("config.yml"),
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: r\n    path: {}\n",
            dir.path().join("data").display(),
            dir.path().join("htpasswd").display()
        ),
    )
    .unwrap();
    let mut server = Command::new(registry_bin)
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(&addr).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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
        .map(|t| {
            let o = Command::new(&skopeo)
                .args(["inspect", "--tls-verify=false", "--creds=ci:ci-password-1"])
                .arg(format!("docker://{addr}/shop/web:{t}"))
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
            v["Digest"].as_str().map(str::to_owned)
        })
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    let digest = digest.unwrap_or_else(|| panic!("push failed: {stderr}"));
    assert!(!stderr.contains("ci-password-1"), "{stderr}");
    assert_eq!(seen, [Some(digest.clone()), Some(digest)]);
}
