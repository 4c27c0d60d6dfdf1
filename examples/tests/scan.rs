//! The `scan` example with the real tools (ignored unless asked for with
//! `--include-ignored`; then a missing tool fails the test).

use std::path::Path;
use std::process::Command;

mod support;

use support::{example, require};

/// A settings file holding a GitHub token, which trivy's secret scanner
/// finds.
fn plant_token(dir: &Path) {
    std::fs::write(
        dir.join("settings.env"),
        "GITHUB_TOKEN=ghp_R7x9Kq2LmN4pT8vW1yZ3bC6dF0hJ5sA2eG7k\n",
    )
    .unwrap();
}

/// Runs `cmd` (the example), expects success, and parses its report.
fn report(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs trivy and syft"]
fn scans_a_directory_with_trivy_and_syft() {
    require(&["trivy", "syft"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY app /app\n",
    )
    .unwrap();
    plant_token(dir.path());
    std::fs::write(
        dir.path().join("requirements.txt"),
        "Django==3.2.9\nrequests==2.25.1\n",
    )
    .unwrap();
    let v = report(
        Command::new(example("scan"))
            .args(["--with", "trivy,syft"])
            .arg(dir.path()),
    );
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

#[test]
#[ignore = "needs trivy"]
fn finds_trivy_through_its_variable() {
    require(&["trivy"]);
    let trivy = examples::installed("trivy").unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    plant_token(dir.path());
    let v = report(
        Command::new(example("scan"))
            .args(["--with", "trivy"])
            .arg(dir.path())
            .env("PARAGON_TRIVY", &trivy)
            .env("PATH", support::path_without(&["trivy"])),
    );
    assert_eq!(v["summary"]["by_kind"]["secret"], 1);
}

#[test]
fn a_tool_variable_naming_no_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-syft");
    let out = Command::new(example("scan"))
        .args(["--with", "syft"])
        .arg(dir.path())
        .env("PARAGON_SYFT", &missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "PARAGON_SYFT is set to {}, which is not a file",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
