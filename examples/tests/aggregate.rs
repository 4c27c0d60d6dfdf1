//! The `aggregate` example as a user runs it: exit codes, JSON contract,
//! error messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

/// The example binary, built by `cargo test` next to this test's binary.
fn aggregate() -> PathBuf {
    support::example("aggregate")
}

fn reports() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports")
}

fn run(args: &[&Path]) -> Output {
    Command::new(aggregate()).args(args).output().unwrap()
}

/// Runs on `files`, expects success, and returns the JSON report with the
/// raw standard output.
fn run_json(files: &[PathBuf]) -> (serde_json::Value, Vec<u8>) {
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), out.stdout)
}

#[test]
fn shipped_reports_aggregate_to_the_json_contract() {
    let files: Vec<PathBuf> = std::fs::read_dir(reports())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let (v, stdout) = run_json(&files);
    assert_eq!(v["schema_version"], 1);
    let summary = &v["summary"];
    // Trivy's CVE-2021-44420 and Grype's GHSA-v6rh-hp5x-86rv (which names
    // it) in django 3.2.9 merge: 10 findings in, 9 out.
    assert_eq!(summary["total"], 9);
    assert_eq!(summary["by_kind"]["vulnerability"], 4);
    assert_eq!(summary["by_kind"]["secret"], 1);
    assert_eq!(summary["by_severity"]["critical"], 2);
    assert_eq!(summary["by_scanner"]["trivy"], 4);
    assert_eq!(summary["by_scanner"]["semgrep-oss"], 1);
    assert_eq!(summary["sbom"]["components"], 4);
    assert_eq!(summary["sbom"]["components_with_purl"], 4);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 9);
    for f in findings {
        for key in [
            "kind",
            "id",
            "aliases",
            "severity",
            "package",
            "fixed_versions",
            "locations",
            "sources",
        ] {
            assert!(f.get(key).is_some(), "finding lacks {key}: {f}");
        }
        assert!(f["sources"][0]["scanner"].is_string());
        assert!(f["sources"][0].get("target").is_some());
    }
    let django = findings
        .iter()
        .find(|f| f["id"] == "CVE-2021-44420")
        .unwrap();
    assert_eq!(django["aliases"][0], "GHSA-v6rh-hp5x-86rv");
    assert_eq!(django["package"]["purl"], "pkg:pypi/django@3.2.9");
    assert_eq!(
        django["fixed_versions"],
        serde_json::json!(["2.2.25", "3.1.14", "3.2.10"])
    );
    let scanners: Vec<&str> = django["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scanner"].as_str().unwrap())
        .collect();
    assert_eq!(scanners, ["grype", "trivy"]);
    assert_eq!(django["locations"].as_array().unwrap().len(), 2);
    // Sorted by severity, descending.
    let sevs: Vec<&str> = findings
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert_eq!(sevs[0], "critical");
    assert_eq!(sevs[sevs.len() - 1], "info");
    let secret = findings.iter().find(|f| f["kind"] == "secret").unwrap();
    assert!(secret["package"].is_null());
    // The masked match of the secret is never copied.
    assert!(!String::from_utf8_lossy(&stdout).contains("GITHUB_TOKEN"));
}

#[test]
fn inputs_follow_the_files_and_findings_do_not_depend_on_their_order() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(reports())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let json = |files: &[PathBuf]| run_json(files).0;
    // Each file's own input summary, read alone.
    let alone: Vec<serde_json::Value> = files
        .iter()
        .map(|f| json(std::slice::from_ref(f))["inputs"][0].clone())
        .collect();
    let forward = json(&files);
    assert_eq!(forward["inputs"].as_array().unwrap(), &alone);
    let mut reversed = files.clone();
    reversed.reverse();
    let backward = json(&reversed);
    let mut alone_reversed = alone.clone();
    alone_reversed.reverse();
    assert_eq!(backward["inputs"].as_array().unwrap(), &alone_reversed);
    assert_eq!(backward["findings"], forward["findings"]);
    assert_eq!(backward["summary"], forward["summary"]);
}

#[test]
fn markdown_and_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("summary.md");
    let trivy = reports().join("trivy-fs.json");
    let out = Command::new(aggregate())
        .arg("--format")
        .arg("markdown")
        .arg("--output")
        .arg(&out_file)
        .arg(&trivy)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let md = std::fs::read_to_string(&out_file).unwrap();
    assert!(md.contains("| critical | 1 |"), "{md}");
    assert!(md.contains("CVE-2021-44420"), "{md}");
}

#[test]
fn timings_go_to_standard_error_and_leave_the_report_alone() {
    let plain = run_with(&[]);
    let timed = run_with(&["--timings"]);
    assert!(plain.status.success() && timed.status.success());
    assert_eq!(timed.stdout, plain.stdout, "the report is the same");
    let err = String::from_utf8_lossy(&timed.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("timings: "))
        .unwrap_or_else(|| panic!("no timings line in {err}"));
    let figures: Vec<f64> = line
        .split(' ')
        .filter_map(|w| w.parse::<f64>().ok())
        .collect();
    assert_eq!(figures.len(), 4, "{line}");
    let (merge, gate, write, total) = (figures[0], figures[1], figures[2], figures[3]);
    assert!(figures.iter().all(|&ms| ms >= 0.0), "{line}");
    assert!(
        (merge + gate + write - total).abs() < 0.2,
        "phases add up: {line}"
    );
    assert!(!String::from_utf8_lossy(&plain.stderr).contains("timings:"));
}

#[test]
fn input_errors_exit_2_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("truncated-grype.json");
    std::fs::write(&bad, br#"{"matches": [{"vulnerability": {"id": "CVE-1"#).unwrap();
    let good = reports().join("grype-image.json");
    let out = run(&[&good, &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no report on input error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated-grype.json"), "{err}");
    assert!(err.contains("Grype JSON"), "{err}");
    assert!(err.contains("line 1"), "{err}");

    let unknown = dir.path().join("notes.txt");
    std::fs::write(&unknown, "just some notes").unwrap();
    let out = run(&[&unknown]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt"));

    let out = run(&[Path::new("/nonexistent/report.json")]);
    assert_eq!(out.status.code(), Some(2));

    let out = Command::new(aggregate()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no files is a usage error");
    let out = Command::new(aggregate())
        .args(["--format", "yaml", "x.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn sample_reports() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(reports())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn run_with(args: &[&str]) -> Output {
    let files = sample_reports();
    Command::new(aggregate())
        .args(args)
        .args(&files)
        .output()
        .unwrap()
}

fn policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

#[test]
fn the_gate_sets_the_exit_code() {
    let strict = policies().join("strict.toml");
    let out = run_with(&["--policy", strict.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = &v["verdict"];
    assert_eq!(verdict["passed"], false);
    let failing: Vec<&str> = verdict["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        failing,
        [
            "github-pat",
            "pythonsecurity:S3649",
            "CVE-2021-44420",
            "DS002"
        ]
    );
    let suppressed = verdict["suppressed"].as_array().unwrap();
    assert_eq!(suppressed.len(), 2);
    assert!(suppressed
        .iter()
        .any(|s| s["by"]["type"] == "vex" && s["id"] == "CVE-2021-23337"));
    assert!(suppressed
        .iter()
        .any(|s| s["by"]["type"] == "ignore" && s["id"] == "CVE-2023-32681"));

    let lenient = policies().join("lenient.yaml");
    let out = run_with(&[
        "--policy",
        lenient.to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("**Gate: passed**"));
}

#[test]
fn bad_policies_exit_2_with_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("policy.toml");
    std::fs::write(&bad, "fail_on = \"severe\"\n").unwrap();
    let out = run_with(&["--policy", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policy.toml") && err.contains("fail_on") && err.contains("line 1"),
        "{err}"
    );
}

#[test]
fn every_output_format() {
    // SARIF
    let out = run_with(&["--format", "sarif"]);
    assert!(out.status.success());
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 9);
    // JUnit
    let out = run_with(&["--format", "junit"]);
    assert!(out.status.success());
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.contains("<testsuites name=\"paragon\" tests=\"9\""),
        "{xml}"
    );
    // CycloneDX, read back by Paragon's own parser.
    let out = run_with(&["--format", "cyclonedx"]);
    assert!(out.status.success());
    let back = paragon_scanners::parse_any(&out.stdout).unwrap();
    assert_eq!(back.findings.len(), 4, "the vulnerability findings");
    assert_eq!(back.scanner.name, "paragon");
    let django = back
        .findings
        .iter()
        .find(|f| f.id == "CVE-2021-44420")
        .unwrap();
    assert_eq!(django.aliases, ["GHSA-v6rh-hp5x-86rv"]);
    assert_eq!(
        django
            .package
            .as_ref()
            .unwrap()
            .purl
            .as_ref()
            .unwrap()
            .as_str(),
        "pkg:pypi/django@3.2.9"
    );
    // GitLab's container and dependency scanning formats, valid against
    // GitLab's published schemas.
    for (format, schema) in [
        ("gitlab-container-scanning", "container-scanning"),
        ("gitlab-dependency-scanning", "dependency-scanning"),
    ] {
        let out = run_with(&[
            "--format",
            format,
            "--image",
            "registry.example.com/shop/web:1.4.0",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../paragon-core/tests/fixtures/gitlab")
            .join(format!("{schema}-report-format-15.2.1.json"));
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{format}: {errors:#?}");
        let vulns = doc["vulnerabilities"].as_array().unwrap();
        assert!(!vulns.is_empty(), "{format}");
        if format == "gitlab-container-scanning" {
            assert!(vulns
                .iter()
                .all(|v| v["location"]["image"] == "registry.example.com/shop/web:1.4.0"));
        }
    }
    let out = run_with(&["--format", "gitlab"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gitlab-container-scanning"));
}

/// A report cut short never turns a failing gate into a passing one: the
/// cut SPDX tag-value document is an input error (exit 2), not an empty
/// report that passes.
#[test]
fn a_truncated_report_does_not_pass_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../paragon-scanners/tests/fixtures/spdx/spdx_one_vuln.spdx"),
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "fail_on = \"unknown\"\n").unwrap();
    let file = dir.path().join("sbom.spdx");
    std::fs::write(&file, &whole).unwrap();
    let args = |f: &Path| -> Vec<String> {
        vec![
            "--policy".into(),
            policy.display().to_string(),
            f.display().to_string(),
        ]
    };
    let gate = |f: &Path| Command::new(aggregate()).args(args(f)).output().unwrap();
    assert_eq!(gate(&file).status.code(), Some(1), "the whole report fails");
    for cut in [561, 280] {
        std::fs::write(&file, &whole[..cut]).unwrap();
        let out = gate(&file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "cut at {cut}: {stderr}");
        assert!(
            stderr.contains("sbom.spdx")
                && (stderr.contains("truncated?") || stderr.contains("lacks")),
            "{stderr}"
        );
    }
}

/// Input is bounded: a device is refused at once, a report over
/// `--max-report-mib` before it is read.
#[test]
fn devices_and_oversized_reports_are_refused() {
    let out = run(&[Path::new("/dev/zero")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("`/dev/zero` is a character device, not a report file"));
    let big = reports().join("grype-image.json");
    let out = Command::new(aggregate())
        .args(["--max-report-mib", "1"])
        .arg(&big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "a small report is read");
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; (1 << 20) + 1]).unwrap();
    let out = Command::new(aggregate())
        .args(["--max-report-mib", "1"])
        .arg(&huge)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("huge.json") && stderr.contains("larger than the limit of 1048576 bytes"),
        "{stderr}"
    );
    let out = Command::new(aggregate())
        .args(["--max-report-mib", "0"])
        .arg(&big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--baseline`: an earlier run without Trivy's report, then a run with
/// it, gated on what is new.
#[test]
fn a_baseline_gates_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let trivy = reports().join("trivy-fs.json");
    let earlier: Vec<PathBuf> = sample_reports()
        .into_iter()
        .filter(|f| *f != trivy)
        .collect();
    let (_, earlier_json) = run_json(&earlier);
    let baseline = dir.path().join("previous.json");
    std::fs::write(&baseline, earlier_json).unwrap();
    let policy = dir.path().join("new.toml");
    std::fs::write(
        &policy,
        "fail_on = \"high\"\nscope = \"new\"\n[secrets]\nfail_on = \"unknown\"\n[misconfigurations]\nfail_on = \"high\"\n[weaknesses]\nfail_on = \"critical\"\n",
    )
    .unwrap();
    let out = run_with(&[
        "--policy",
        policy.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("baseline: 3 new"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let state = |id: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .map(|f| f["baseline_state"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(state("github-pat"), "new");
    assert_eq!(state("DS002"), "new");
    assert_eq!(state("CVE-2023-32681"), "new");
    assert_eq!(state("pythonsecurity:S3649"), "unchanged");
    assert_ne!(state("CVE-2021-44420"), "new");
    assert_eq!(v["baseline"]["new"], 3);
    assert_eq!(v["baseline"]["absent"].as_array().unwrap().len(), 0);
    // Only the new secret and misconfiguration fail; the critical weakness
    // and the high CVE were there before.
    let failing: Vec<&str> = v["verdict"]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(failing, ["github-pat", "DS002"]);
    assert_eq!(v["verdict"]["scope"], "new");

    // Without Trivy's report against a baseline with it: its findings are
    // absent, nothing is new, and the gate passes.
    let (_, with_trivy) = run_json(&sample_reports());
    std::fs::write(&baseline, with_trivy).unwrap();
    let mut args: Vec<&str> = vec![
        "--policy",
        policy.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
    ];
    let names: Vec<String> = earlier.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let out = Command::new(aggregate()).args(&args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["baseline"]["new"], 0);
    let absent: Vec<&str> = v["baseline"]["absent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(absent.len(), 3, "{absent:?}");
    assert!(absent.contains(&"github-pat"));
}

#[test]
fn bad_baselines_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("new.toml");
    std::fs::write(&policy, "fail_on = \"high\"\nscope = \"new\"\n").unwrap();
    let out = run_with(&["--policy", policy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --baseline"));

    let trivy = reports().join("trivy-fs.json");
    let out = run_with(&["--baseline", trivy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trivy-fs.json") && err.contains("not a Paragon JSON report"),
        "{err}"
    );

    let future = dir.path().join("future.json");
    std::fs::write(&future, r#"{"schema_version": 2, "findings": []}"#).unwrap();
    let out = run_with(&["--baseline", future.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("future.json") && err.contains("schema version 2"),
        "{err}"
    );

    let missing = dir.path().join("missing.json");
    let out = run_with(&["--baseline", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
    assert!(out.stdout.is_empty());
}

/// A policy naming Rego files: Trivy's ignore policy suppresses, report
/// rules deny and warn; a broken file is a usage error naming its line.
#[test]
fn rego_policies_suppress_deny_and_warn() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ignore.rego"),
        "package trivy\n\ndefault ignore = false\n\nignore {\n\tinput.PkgName == \"requests\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.rego"),
        "package main\nimport rego.v1\n\ndeny contains msg if {\n\tsome f in input.findings\n\tf.kind == \"secret\"\n\tmsg := sprintf(\"secret %s in the sources\", [f.id])\n}\n\nwarn contains \"no SBOM\" if input.summary.sbom.documents == 0\n",
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "rego = [\"ignore.rego\", \"rules.rego\"]\n").unwrap();
    let out = run_with(&["--policy", policy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("secret github-pat in the sources"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = &v["verdict"];
    assert_eq!(verdict["failures"].as_array().unwrap().len(), 0);
    assert_eq!(
        verdict["denied"][0]["message"],
        "secret github-pat in the sources"
    );
    assert!(verdict["denied"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("rules.rego"));
    let suppressed = verdict["suppressed"].as_array().unwrap();
    assert_eq!(suppressed.len(), 1, "{suppressed:?}");
    assert_eq!(suppressed[0]["id"], "CVE-2023-32681");
    assert_eq!(suppressed[0]["by"]["type"], "rego");
    // The shipped reports hold a CycloneDX SBOM: no warning.
    assert_eq!(verdict.get("warnings"), None);

    std::fs::write(
        dir.path().join("rules.rego"),
        "package main\n\ndeny[msg] {\n\tmsg := \n}\n",
    )
    .unwrap();
    let out = run_with(&["--policy", policy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules.rego") && err.contains("line"), "{err}");
}
