//! Exports: SARIF validates against the SARIF 2.1.0 schema, JUnit is
//! well-formed with the verdict's failures, CycloneDX validates as 1.5.

use std::path::PathBuf;

use paragon_core::export::{fingerprint, to_cyclonedx, to_junit, to_sarif};
use paragon_core::gate::policy::PolicyFormat;
use paragon_core::{
    Finding, FindingKind, Location, Package, Policy, Report, ScanReport, ScannerInfo, Severity,
    Source,
};

fn sample() -> Report {
    let mut trivy = ScanReport::new(ScannerInfo::new("trivy", Some("0.59.1")));
    let mut grype = ScanReport::new(ScannerInfo::new("grype", Some("0.74.7")));
    let mut f = Finding::new(FindingKind::Vulnerability, "CVE-2021-44420", Severity::High);
    f.package = Some(
        Package::new("django")
            .with_version(Some("3.2.9"))
            .with_purl_str(Some("pkg:pypi/django@3.2.9")),
    );
    f.add_fixed_version("3.2.10");
    f.add_cwe("290");
    f.add_reference("https://nvd.nist.gov/vuln/detail/CVE-2021-44420");
    f.cvss.push(paragon_core::Cvss {
        version: paragon_core::CvssVersion::V3_1,
        score: Some(7.3),
        vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L".into()),
        source: Some("nvd".into()),
    });
    f.add_location(Location::new().with_target(Some("requirements.txt")));
    f.sources
        .push(Source::new("trivy", Severity::High, Some("app".into())));
    trivy.findings.push(f.clone());
    let mut g = f.clone();
    g.id = "GHSA-v6rh-hp5x-86rv".into();
    g.aliases = vec!["CVE-2021-44420".into()];
    g.locations = vec![Location::new()
        .with_target(Some("app:1.0"))
        .with_path(Some("/app/METADATA"))];
    g.sources = vec![Source::new(
        "grype",
        Severity::Medium,
        Some("app:1.0".into()),
    )];
    grype.findings.push(g);
    let mut lodash = Finding::new(FindingKind::Vulnerability, "CVE-2021-23337", Severity::High);
    lodash.package = Some(
        Package::new("lodash")
            .with_version(Some("4.17.20"))
            .with_ecosystem(Some("npm")),
    );
    lodash
        .sources
        .push(Source::new("trivy", Severity::High, None));
    trivy.findings.push(lodash);
    let mut secret = Finding::new(FindingKind::Secret, "github-pat", Severity::Critical);
    secret.title = Some("GitHub Personal Access Token <&>".into());
    secret.add_location(
        Location::new()
            .with_path(Some("deploy.env"))
            .with_lines(Some(3), Some(3)),
    );
    secret
        .sources
        .push(Source::new("trivy", Severity::Critical, None));
    trivy.findings.push(secret.clone());
    let mut second = secret;
    second.locations = vec![Location::new()
        .with_path(Some("other.env"))
        .with_lines(Some(1), Some(1))];
    trivy.findings.push(second);
    let mut report = Report::merge([trivy, grype]);
    let policy = Policy::parse(
        "fail_on = \"critical\"\n[secrets]\nfail_on = \"low\"\n[[ignore]]\nid = \"CVE-2021-23337\"\nreason = \"template() unused\"\n",
        PolicyFormat::Toml,
    )
    .unwrap();
    report.apply_policy(&policy);
    report
}

/// serde-sarif ships the SARIF 2.1.0 schema; find it through cargo metadata.
fn sarif_schema() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(out.status.success());
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif in the dependency graph");
    let schema = PathBuf::from(manifest)
        .parent()
        .unwrap()
        .join("src/schema.json");
    serde_json::from_slice(&std::fs::read(schema).unwrap()).unwrap()
}

#[test]
fn sarif_is_valid_with_rules_once_and_fingerprints() {
    let report = sample();
    assert_eq!(report.findings.len(), 4);
    let text = to_sarif(&report).unwrap();
    let log: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&sarif_schema()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["github-pat", "CVE-2021-23337", "CVE-2021-44420"],
        "each rule once"
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "one result per merged finding");
    let django = results
        .iter()
        .find(|r| r["ruleId"] == "CVE-2021-44420")
        .unwrap();
    assert_eq!(
        django["locations"].as_array().unwrap().len(),
        2,
        "all locations"
    );
    assert_eq!(django["level"], "error");
    let fp = django["partialFingerprints"]["paragon/v1"]
        .as_str()
        .unwrap();
    assert_eq!(fp.len(), 64);
    let finding = report
        .findings
        .iter()
        .find(|f| f.id == "CVE-2021-44420")
        .unwrap();
    assert_eq!(fp, fingerprint(finding));
    let secrets: Vec<_> = results
        .iter()
        .filter(|r| r["ruleId"] == "github-pat")
        .collect();
    assert_ne!(
        secrets[0]["partialFingerprints"]["paragon/v1"],
        secrets[1]["partialFingerprints"]["paragon/v1"]
    );
    assert_eq!(
        secrets[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
    let ignored = results
        .iter()
        .find(|r| r["ruleId"] == "CVE-2021-23337")
        .unwrap();
    assert!(ignored["suppressions"][0]["justification"]
        .as_str()
        .unwrap()
        .contains("template() unused"));
    // Stable: the same report gives the same log.
    assert_eq!(to_sarif(&sample()).unwrap(), text);
}

#[test]
fn junit_marks_failures_and_skips() {
    let report = sample();
    let xml = to_junit(&report);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 5, "4 findings and the gate");
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    let skipped = doc
        .descendants()
        .filter(|n| n.has_tag_name("skipped"))
        .count();
    let verdict = report.verdict.as_ref().unwrap();
    assert!(!verdict.passed);
    assert_eq!(
        failures,
        verdict.failures.len() + 1,
        "failing findings and the gate"
    );
    assert_eq!(skipped, 1);
    assert_eq!(
        root.attribute("failures"),
        Some(failures.to_string().as_str())
    );
    assert!(
        xml.contains("GitHub Personal Access Token &lt;&amp;&gt;"),
        "escaped"
    );
    let django = cases
        .iter()
        .find(|c| c.attribute("name") == Some("CVE-2021-44420 django 3.2.9"))
        .unwrap();
    assert_eq!(
        django.attribute("classname"),
        Some("paragon.vulnerability.grype+trivy")
    );
    assert!(
        django.children().all(|c| !c.is_element()),
        "below the threshold: passes"
    );
}

#[test]
fn cyclonedx_validates_as_1_5() {
    use cyclonedx_bom::models::bom::Bom;
    use cyclonedx_bom::validation::Validate;
    let report = sample();
    let text = to_cyclonedx(&report).unwrap();
    let bom = Bom::parse_from_json_v1_5(text.as_bytes()).expect("cyclonedx-bom reads it back");
    assert!(bom.validate().passed());
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["specVersion"], "1.5");
    let vulns = v["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 2, "secrets are not vulnerabilities");
    let django = vulns.iter().find(|x| x["id"] == "CVE-2021-44420").unwrap();
    assert_eq!(django["references"][0]["id"], "GHSA-v6rh-hp5x-86rv");
    assert_eq!(django["affects"][0]["ref"], "pkg:pypi/django@3.2.9");
    assert_eq!(django["cwes"][0], 290);
    assert_eq!(django["recommendation"], "Upgrade to 3.2.10");
    let comps = v["components"].as_array().unwrap();
    assert_eq!(comps.len(), 2);
    assert!(comps.iter().any(|c| c["purl"] == "pkg:pypi/django@3.2.9"));
}

#[test]
fn markdown_shows_the_verdict() {
    let md = sample().to_markdown(10);
    assert!(md.contains("**Gate: FAILED**"), "{md}");
    assert!(md.contains("| github-pat |"), "{md}");
    assert!(md.contains("template() unused"), "{md}");
}
