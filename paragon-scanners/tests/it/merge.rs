//! The merge on real reports.

use paragon_core::{FindingKind, Report, ScanReport};

use crate::support::load;

fn merge(files: &[&str]) -> Option<Report> {
    let reports: Option<Vec<ScanReport>> = files.iter().map(|f| load(f)).collect();
    Some(Report::merge(reports?))
}

#[test]
fn grype_duplicates_within_one_report_fold() {
    // Two identical Django matches (DefectDojo: one finding, 2 occurrences).
    let Some(r) = merge(&["anchore_grype/check_all_fields.json"]) else {
        return;
    };
    assert_eq!(r.findings.len(), 5);
    let django = r
        .findings
        .iter()
        .find(|f| f.id == "CVE-2021-44420")
        .unwrap();
    assert_eq!(
        django.aliases,
        ["GHSA-v6rh-hp5x-86rv"],
        "the CVE is canonical"
    );

    // One CVE in one package at two paths: one finding, two locations.
    let r = merge(&["anchore_grype/same_cve_different_paths.json"]).unwrap();
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].locations.len(), 2);
}

#[test]
fn trivy_kubernetes_subsets_add_nothing_new() {
    let Some(full) = merge(&["trivy/kubernetes.json"]) else {
        return;
    };
    let both = merge(&[
        "trivy/kubernetes.json",
        "trivy/kubernetes_fabricated_subset.json",
    ])
    .unwrap();
    assert_eq!(both.findings.len(), full.findings.len());
    assert_eq!(both.summary.by_kind, full.summary.by_kind);
    // Misconfigurations are per resource; the same vulnerable package in
    // two workloads is one finding with two locations.
    assert_eq!(full.summary.by_kind.misconfiguration, 10);
    let apt = full
        .findings
        .iter()
        .find(|f| f.id == "CVE-2020-27350")
        .unwrap();
    let mut resources: Vec<_> = apt
        .locations
        .iter()
        .filter_map(|l| l.resource.as_deref())
        .collect();
    resources.sort_unstable();
    assert_eq!(
        resources,
        [
            "default/Deployment/redis-follower",
            "default/Deployment/redis-leader"
        ]
    );

    // The report with internal duplicates: DefectDojo finds 3 of its 13
    // findings to be duplicates of others in the same report.
    let internal = merge(&["trivy/kubernetes_fabricated_internal_duplicates.json"]).unwrap();
    assert!(internal.findings.len() <= 10, "{}", internal.findings.len());
}

#[test]
fn cyclonedx_and_grype_of_one_image_agree() {
    // grype.xml is Grype's CycloneDX output for the same kind of image as its
    // JSON; merging a report with itself in another format changes nothing.
    let Some(once) = merge(&["cyclonedx/log4j.json"]) else {
        return;
    };
    let twice = merge(&["cyclonedx/log4j.json", "cyclonedx/log4j.xml"]).unwrap();
    assert_eq!(once.findings.len(), twice.findings.len());
    assert!(twice
        .findings
        .iter()
        .all(|f| f.kind == FindingKind::Vulnerability));
}
