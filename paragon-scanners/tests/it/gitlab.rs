//! GitLab container and dependency scanning reports of real scanner
//! reports, validated against GitLab's published schemas (copied into
//! `paragon-core/tests/fixtures/gitlab`).

use paragon_core::export::gitlab::{
    to_gitlab_container_scanning, to_gitlab_dependency_scanning, GitLabScan,
};
use paragon_core::{FindingKind, Report};

use crate::support::load;

fn errors(kind: &str, doc: &serde_json::Value) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../paragon-core/tests/fixtures/gitlab")
        .join(format!("{kind}-report-format-15.2.1.json"));
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema)
        .unwrap()
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn scan() -> GitLabScan {
    let t = time::macros::datetime!(2024-05-01 10:00:00 UTC);
    GitLabScan::new(t, t)
}

#[test]
fn trivy_and_grype_image_reports_become_valid_gitlab_reports() {
    let report = Report::merge([
        load("trivy/scheme_2_many_vulns.json"),
        load("anchore_grype/check_all_fields.json"),
        load("trivy/misconfigurations_and_secrets.json"),
    ]);
    let vulns_with_package = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Vulnerability && f.package.is_some())
        .count();
    assert!(vulns_with_package > 5, "{vulns_with_package}");

    let cs: serde_json::Value =
        serde_json::from_str(&to_gitlab_container_scanning(&report, &scan()).unwrap()).unwrap();
    assert_eq!(errors("container-scanning", &cs), Vec::<String>::new());
    let vulns = cs["vulnerabilities"].as_array().unwrap();
    assert_eq!(
        vulns.len(),
        vulns_with_package,
        "every vulnerability with a package"
    );
    // Trivy's OS target `teamdojo:latest (alpine 3.9.4)`: the image and
    // its operating system.
    assert!(
        vulns
            .iter()
            .any(|v| v["location"]["image"] == "teamdojo:latest"
                && v["location"]["operating_system"] == "alpine 3.9.4"),
        "{cs:#}"
    );
    let ids: std::collections::BTreeSet<&str> =
        vulns.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), vulns.len(), "ids are unique");
    assert!(
        cs["scan"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["value"].as_str().unwrap().contains("not vulnerabilities")),
        "the secrets and misconfigurations left out are said: {:#}",
        cs["scan"]
    );
    assert!(cs["scan"]["scanner"]["name"]
        .as_str()
        .unwrap()
        .contains("grype"));

    let ds: serde_json::Value =
        serde_json::from_str(&to_gitlab_dependency_scanning(&report, &scan()).unwrap()).unwrap();
    assert_eq!(errors("dependency-scanning", &ds), Vec::<String>::new());
    assert!(ds["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["location"]["file"] == "app/libs/commons-compress-1.14.jar"));
}

#[test]
fn a_single_scanner_is_named_with_its_version() {
    let report = Report::merge([load("trivy/scheme_2_many_vulns.json")]);
    let cs: serde_json::Value =
        serde_json::from_str(&to_gitlab_container_scanning(&report, &scan()).unwrap()).unwrap();
    assert_eq!(errors("container-scanning", &cs), Vec::<String>::new());
    assert_eq!(cs["scan"]["scanner"]["id"], "trivy");
    assert_eq!(cs["scan"]["scanner"]["vendor"]["name"], "Aqua Security");
}
