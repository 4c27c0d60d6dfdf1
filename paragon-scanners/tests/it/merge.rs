//! The merge on real reports.

use std::collections::HashMap;
use std::sync::Arc;

use paragon_core::{Finding, FindingKind, Merger, Report, ScanReport};

use crate::support::load;

fn merge(files: &[&str]) -> Report {
    Report::merge(files.iter().map(|f| load(f)))
}

#[test]
fn grype_duplicates_within_one_report_fold() {
    // Two identical Django matches (DefectDojo: one finding, 2 occurrences).
    let r = merge(&["anchore_grype/check_all_fields.json"]);
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
    let r = merge(&["anchore_grype/same_cve_different_paths.json"]);
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].locations.len(), 2);
}

#[test]
fn trivy_kubernetes_subsets_add_nothing_new() {
    let full = merge(&["trivy/kubernetes.json"]);
    let both = merge(&[
        "trivy/kubernetes.json",
        "trivy/kubernetes_fabricated_subset.json",
    ]);
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
    let internal = merge(&["trivy/kubernetes_fabricated_internal_duplicates.json"]);
    assert!(internal.findings.len() <= 10, "{}", internal.findings.len());
}

#[test]
fn cyclonedx_and_grype_of_one_image_agree() {
    // grype.xml is Grype's CycloneDX output for the same kind of image as its
    // JSON; merging a report with itself in another format changes nothing.
    let once = merge(&["cyclonedx/log4j.json"]);
    let twice = merge(&["cyclonedx/log4j.json", "cyclonedx/log4j.xml"]);
    assert_eq!(once.findings.len(), twice.findings.len());
    assert!(twice
        .findings
        .iter()
        .all(|f| f.kind == FindingKind::Vulnerability));
}

/// Asserts that equal strings among `strings` are one shared allocation,
/// and that there are some.
fn assert_shared<'a>(what: &str, strings: impl Iterator<Item = &'a Arc<str>>) {
    let mut first: HashMap<&str, &Arc<str>> = HashMap::new();
    let mut repeats = 0;
    for s in strings {
        match first.get(&**s) {
            Some(f) => {
                assert!(Arc::ptr_eq(f, s), "{what}: {s:?} is a copy, not shared");
                repeats += 1;
            }
            None => {
                first.insert(s, s);
            }
        }
    }
    assert!(repeats > 0, "{what}: no string repeats");
}

fn sources_and_locations(r: &[Finding]) -> [Vec<&Arc<str>>; 3] {
    let sources = r.iter().flat_map(|f| &f.sources);
    let locations = r.iter().flat_map(|f| &f.locations);
    [
        sources.clone().map(|s| &s.scanner).collect(),
        sources.filter_map(|s| s.target.as_ref()).collect(),
        locations
            .flat_map(|l| l.target.iter().chain(&l.path))
            .collect(),
    ]
}

#[test]
fn a_reports_strings_are_shared_and_stay_shared_through_the_merge() {
    for file in [
        "trivy/scheme_2_many_vulns.json",
        "anchore_grype/many_vulns.json",
        "dependency_check_json/analysis-model-6.5.0.json",
    ] {
        let report = load(file);
        let parsed = sources_and_locations(&report.findings);
        for (what, strings) in ["scanner", "source target", "location"].iter().zip(parsed) {
            assert_shared(&format!("{file}, parsed, {what}"), strings.into_iter());
        }
        let merged = Report::merge([report]);
        let strings = sources_and_locations(&merged.findings);
        for (what, strings) in ["scanner", "source target", "location"].iter().zip(strings) {
            assert_shared(&format!("{file}, merged, {what}"), strings.into_iter());
        }
    }
}

#[test]
fn two_threads_merge_real_reports_as_one_thread_does() {
    let files = [
        "trivy/scheme_2_many_vulns.json",
        "trivy/misconfigurations_and_secrets.json",
        "trivy/kubernetes.json",
        "anchore_grype/many_vulns.json",
        "dependency_check_json/analysis-model-6.5.0.json",
        "dependency_check/version-6.5.3.xml",
        "cyclonedx/log4j.json",
        "spdx/spdx_many_vuln.json",
        "sonarqube/findings_over_api.json",
    ];
    let reports: Vec<ScanReport> = files.iter().map(|f| load(f)).collect();
    // Every report twice: the second time, every record repeats one the
    // reading thread has passed on, and it frees the repeat's metadata.
    let input: Vec<ScanReport> = reports.iter().chain(&reports).cloned().collect();
    let one = Report::merge(input.clone());
    let mut merger = Merger::new().with_threads(2);
    merger.add_all(input);
    let two = merger.finish();
    assert!(one.findings.len() > 500, "{}", one.findings.len());
    for kind in [
        FindingKind::Vulnerability,
        FindingKind::Misconfiguration,
        FindingKind::Secret,
        FindingKind::Weakness,
    ] {
        assert!(one.findings.iter().any(|f| f.kind == kind), "{kind:?}");
    }
    assert_eq!(two.findings, one.findings);
    assert_eq!(two.inputs, one.inputs);
    assert_eq!(two.summary, one.summary);
}
