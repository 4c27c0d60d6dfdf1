//! The `scan` example with the real tools (skipped without them unless
//! `PARAGON_REQUIRE_TOOLS=1`).

use std::path::PathBuf;
use std::process::Command;

mod support;

use support::example;

fn have(tool: &str, env: &str) -> bool {
    std::env::var_os(env).is_some_and(|p| PathBuf::from(p).is_file())
        || std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

#[test]
fn scans_a_directory_with_trivy_and_syft() {
    if !(have("trivy", "PARAGON_TRIVY") && have("syft", "PARAGON_SYFT")) {
        if std::env::var("PARAGON_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("trivy and syft are required (PARAGON_REQUIRE_TOOLS=1)");
        }
        eprintln!("skipped: trivy or syft is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY app /app\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("settings.env"),
        "GITHUB_TOKEN=ghp_R7x9Kq2LmN4pT8vW1yZ3bC6dF0hJ5sA2eG7k\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("requirements.txt"),
        "Django==3.2.9\nrequests==2.25.1\n",
    )
    .unwrap();
    let out = Command::new(example("scan"))
        .args(["--with", "trivy,syft"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["summary"]["sbom"]["documents"], 1);
    assert_eq!(v["summary"]["sbom"]["components_with_purl"], 2);
    assert!(v["summary"]["by_kind"]["secret"].as_u64().unwrap() >= 1);
    assert!(
        v["summary"]["by_kind"]["misconfiguration"]
            .as_u64()
            .unwrap()
            >= 1
    );

    let out = Command::new(example("scan"))
        .args(["--with", "nessus"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
