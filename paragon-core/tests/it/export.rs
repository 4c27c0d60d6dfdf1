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

/// The sample compared with a baseline that has the Django finding at
/// another version (unchanged), a secret that moved line (absent, and the
/// sample's secrets new) and a finding fixed since (absent).
fn compared() -> Report {
    let mut earlier = ScanReport::new(ScannerInfo::new("trivy", Some("0.59.1")));
    let mut django = Finding::new(FindingKind::Vulnerability, "CVE-2021-44420", Severity::High);
    django.package = Some(
        Package::new("Django")
            .with_version(Some("3.2.8"))
            .with_purl_str(Some("pkg:pypi/django@3.2.8")),
    );
    django.add_fixed_version("3.2.10");
    django
        .sources
        .push(Source::new("trivy", Severity::High, None));
    earlier.findings.push(django);
    let mut fixed = Finding::new(FindingKind::Vulnerability, "CVE-2020-1", Severity::Low);
    fixed.package = Some(Package::new("left-pad").with_version(Some("1.0.0")));
    fixed
        .sources
        .push(Source::new("trivy", Severity::Low, None));
    earlier.findings.push(fixed);
    let mut lodash = Finding::new(
        FindingKind::Vulnerability,
        "CVE-2021-23337",
        Severity::Medium,
    );
    lodash.package = Some(Package::new("lodash").with_ecosystem(Some("npm")));
    lodash
        .sources
        .push(Source::new("trivy", Severity::Medium, None));
    earlier.findings.push(lodash);
    let baseline = Report::merge([earlier]);
    let mut report = sample();
    report.verdict = None;
    report.compare(&baseline).unwrap();
    report
}

#[test]
fn exports_show_the_comparison_with_the_baseline() {
    use paragon_core::BaselineState;
    let report = compared();
    let state = |id: &str| {
        report
            .findings
            .iter()
            .find(|f| f.id == id)
            .and_then(|f| f.baseline_state)
    };
    assert_eq!(state("CVE-2021-44420"), Some(BaselineState::Unchanged));
    assert_eq!(state("CVE-2021-23337"), Some(BaselineState::Updated));
    assert_eq!(state("github-pat"), Some(BaselineState::New));
    let c = report.baseline.as_ref().unwrap();
    assert_eq!(
        (c.new, c.unchanged, c.updated, c.absent.len()),
        (2, 1, 1, 1)
    );

    // SARIF: valid, with every state and the absent finding as a result.
    let log: serde_json::Value = serde_json::from_str(&to_sarif(&report).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&sarif_schema()).unwrap();
    assert!(validator.is_valid(&log));
    let results = log["runs"][0]["results"].as_array().unwrap();
    let states: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap(),
                r["baselineState"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        states.contains(&("CVE-2021-44420", "unchanged")),
        "{states:?}"
    );
    assert!(
        states.contains(&("CVE-2021-23337", "updated")),
        "{states:?}"
    );
    assert!(states.contains(&("CVE-2020-1", "absent")), "{states:?}");
    assert_eq!(states.iter().filter(|s| s.1 == "new").count(), 2);
    let django = results
        .iter()
        .find(|r| r["ruleId"] == "CVE-2021-44420")
        .unwrap();
    assert_eq!(
        django["partialFingerprints"]["paragon/baseline/v1"]
            .as_str()
            .unwrap()
            .len(),
        32
    );

    // JUnit: each case's state, and the counts and the absent finding.
    let xml = to_junit(&report);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.attribute("name") == Some("paragon.baseline"))
        .expect("a baseline suite");
    let prop = |name: &str| {
        suite
            .descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
    };
    assert_eq!(
        [
            prop("new"),
            prop("unchanged"),
            prop("updated"),
            prop("absent")
        ],
        [Some("2"), Some("1"), Some("1"), Some("1")]
    );
    let absent: Vec<_> = suite
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(absent, ["CVE-2020-1 left-pad 1.0.0"]);
    let marked = doc
        .descendants()
        .filter(|n| n.has_tag_name("property") && n.attribute("name") == Some("baseline"))
        .count();
    assert_eq!(marked, 4);

    // Markdown and JSON.
    let md = report.to_markdown(10);
    assert!(
        md.contains("2 new, 1 unchanged, 1 updated, 1 absent"),
        "{md}"
    );
    assert!(md.contains("| CVE-2020-1 | left-pad 1.0.0 | low |"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["baseline"]["new"], 2);
    assert_eq!(json["baseline"]["absent"][0]["baseline_state"], "absent");
    assert_eq!(json["findings"][0]["baseline_state"], "new");
    let back = Report::from_json(report.to_json().unwrap().as_bytes()).unwrap();
    assert_eq!(back, report);
}

/// GitLab's published schema (`tests/fixtures/gitlab`, see its README).
fn gitlab_schema(kind: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gitlab")
        .join(format!("{kind}-report-format-15.2.1.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Validation errors of `doc` against GitLab's schema for `kind`.
fn gitlab_errors(kind: &str, doc: &serde_json::Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&gitlab_schema(kind)).unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn gitlab_reports_validate_against_gitlabs_schemas() {
    use paragon_core::export::gitlab::{
        to_gitlab_container_scanning, to_gitlab_dependency_scanning, GitLabScan,
    };
    let report = sample();
    let start = time::macros::datetime!(2024-05-01 10:00:00 UTC);
    let end = time::macros::datetime!(2024-05-01 10:02:30 UTC);
    let scan = GitLabScan::new(start, end);

    let cs: serde_json::Value =
        serde_json::from_str(&to_gitlab_container_scanning(&report, &scan).unwrap()).unwrap();
    assert_eq!(
        gitlab_errors("container-scanning", &cs),
        Vec::<String>::new()
    );
    assert_eq!(cs["scan"]["type"], "container_scanning");
    assert_eq!(cs["scan"]["start_time"], "2024-05-01T10:00:00");
    assert_eq!(cs["scan"]["end_time"], "2024-05-01T10:02:30");
    assert_eq!(cs["scan"]["scanner"]["id"], "paragon-merge");
    let vulns = cs["vulnerabilities"].as_array().unwrap();
    // django merged (trivy + grype) is one; lodash is suppressed by the
    // policy; the two secrets are not vulnerabilities.
    assert_eq!(vulns.len(), 1, "{cs:#}");
    let django = &vulns[0];
    assert_eq!(django["severity"], "High");
    assert_eq!(django["solution"], "Upgrade django to 3.2.10");
    assert_eq!(
        django["location"]["dependency"]["package"]["name"],
        "django"
    );
    assert_eq!(django["location"]["dependency"]["version"], "3.2.9");
    let ids: Vec<&str> = django["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], "CVE-2021-44420", "the primary identifier first");
    assert!(
        ids.contains(&"GHSA-v6rh-hp5x-86rv") && ids.contains(&"290"),
        "{ids:?}"
    );
    assert_eq!(
        django["cvss_vectors"][0]["vector"],
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L"
    );
    let merged = report
        .findings
        .iter()
        .find(|f| f.id == "CVE-2021-44420")
        .unwrap();
    assert_eq!(
        django["id"],
        merged.fingerprint(),
        "the id is the stable fingerprint"
    );
    let messages: Vec<&str> = cs["scan"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("1 finding(s) suppressed"))
            && messages
                .iter()
                .any(|m| m.starts_with("2 finding(s) that are not vulnerabilities")),
        "{messages:?}"
    );

    // Dependency scanning: located in the manifest the finding names.
    let ds: serde_json::Value =
        serde_json::from_str(&to_gitlab_dependency_scanning(&report, &scan).unwrap()).unwrap();
    assert_eq!(
        gitlab_errors("dependency-scanning", &ds),
        Vec::<String>::new()
    );
    assert_eq!(ds["scan"]["type"], "dependency_scanning");
    let file = ds["vulnerabilities"][0]["location"]["file"]
        .as_str()
        .unwrap();
    assert!(
        ["requirements.txt", "/app/METADATA"].contains(&file),
        "a file the finding names: {file}"
    );

    // The same export with a named image and operating system.
    let named = GitLabScan::new(start, end)
        .with_image("registry.example.com/shop/app:1.4.0")
        .with_operating_system("debian 12.5");
    let cs: serde_json::Value =
        serde_json::from_str(&to_gitlab_container_scanning(&report, &named).unwrap()).unwrap();
    assert_eq!(
        gitlab_errors("container-scanning", &cs),
        Vec::<String>::new()
    );
    let location = &cs["vulnerabilities"][0]["location"];
    assert_eq!(location["image"], "registry.example.com/shop/app:1.4.0");
    assert_eq!(location["operating_system"], "debian 12.5");
}

#[test]
fn the_gitlab_schemas_refuse_what_they_should() {
    // The validator is not lenient: a report missing what the schema
    // requires, or with a value it does not allow, has errors.
    let start = time::macros::datetime!(2024-05-01 10:00:00 UTC);
    let scan = paragon_core::export::GitLabScan::new(start, start);
    let good: serde_json::Value = serde_json::from_str(
        &paragon_core::export::to_gitlab_container_scanning(&sample(), &scan).unwrap(),
    )
    .unwrap();
    let mut no_image = good.clone();
    no_image["vulnerabilities"][0]["location"]
        .as_object_mut()
        .unwrap()
        .remove("image");
    assert!(!gitlab_errors("container-scanning", &no_image).is_empty());
    let mut bad_severity = good.clone();
    bad_severity["vulnerabilities"][0]["severity"] = "high".into();
    assert!(!gitlab_errors("container-scanning", &bad_severity).is_empty());
    let mut bad_time = good;
    bad_time["scan"]["start_time"] = "2024-05-01T10:00:00Z".into();
    assert!(!gitlab_errors("container-scanning", &bad_time).is_empty());
}
