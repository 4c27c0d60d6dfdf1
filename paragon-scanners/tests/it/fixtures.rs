//! Every report in the fixtures (see `tests/fixtures/README.md`) parses to
//! the stated number of findings and the asserted field values.
//!
//! Counts are the "raw" column of the fixtures' README: Paragon's parsers do not
//! merge (merging is the `Merger`'s job). Where DefectDojo's count differs,
//! the test says why.

use paragon_core::{CvssVersion, Finding, FindingKind, SbomFormat, ScanReport, Severity};
use paragon_scanners::{detect, parse_file, Error, Format};

use crate::support::{fixture, load};

fn pkg(f: &Finding) -> (&str, Option<&str>) {
    let p = f.package.as_ref().expect("finding has a package");
    (p.name.as_str(), p.version.as_deref())
}

fn count(r: &ScanReport, kind: FindingKind) -> usize {
    r.findings.iter().filter(|f| f.kind == kind).count()
}

fn has_vector(f: &Finding, vector: &str) -> bool {
    f.cvss.iter().any(|c| c.vector.as_deref() == Some(vector))
}

fn has_score(f: &Finding, version: CvssVersion, score: f64) -> bool {
    f.cvss
        .iter()
        .any(|c| c.version == version && c.score == Some(score))
}

fn has_v3_score(f: &Finding, score: f64) -> bool {
    has_score(f, CvssVersion::V3_0, score) || has_score(f, CvssVersion::V3_1, score)
}

fn find<'a>(r: &'a ScanReport, id: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

// ---------------------------------------------------------------- Trivy

#[test]
fn trivy_legacy_forms() {
    let r = load("trivy/legacy_no_vuln.json");
    assert_eq!(r.scanner.name, "trivy");
    assert!(r.findings.is_empty());

    let r = load("trivy/legacy_many_vulns.json");
    assert_eq!(r.findings.len(), 93);
    let f = &r.findings[0];
    assert_eq!(
        (f.id.as_str(), f.severity),
        ("CVE-2011-3374", Severity::Low)
    );
    assert_eq!(f.cwes, ["CWE-347"]);
    assert_eq!(pkg(f), ("apt", Some("1.8.2.2")));
    // "tags never contain None": no empty strings anywhere in the lists.
    for f in &r.findings {
        assert!(f.cwes.iter().chain(&f.aliases).all(|s| !s.is_empty()));
    }

    // Six targets (composer, npm, alpine, pip, gem, cargo); the composer
    // entry has no VulnerabilityID and is kept under a placeholder id.
    let r = load("trivy/legacy_trivy_mix.json");
    assert_eq!(r.findings.len(), 7);
    assert_eq!(r.findings[0].id, paragon_scanners::trivy::UNIDENTIFIED);
    assert_eq!(pkg(&r.findings[0]).0, "simplito/elliptic-php");
    let lodash = find(&r, "CVE-2018-16487");
    assert_eq!(lodash.fixed_versions, [">=4.17.11"]);
    assert_eq!(
        lodash.locations[0].target.as_deref(),
        Some("node-app/package-lock.json")
    );
}

#[test]
fn trivy_schema_2() {
    let r = load("trivy/scheme_2_no_vuln.json");
    assert!(r.findings.is_empty());

    let r = load("trivy/scheme_2_many_vulns.json");
    assert_eq!(r.findings.len(), 5);
    let f = &r.findings[0];
    assert_eq!(f.id, "CVE-2020-15999");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(pkg(f), ("freetype", Some("2.9.1-r2")));
    assert_eq!(f.cwes, ["CWE-787"]);
    assert_eq!(
        f.locations[0].path.as_deref(),
        Some("app/libs/freetype-2.9.1-r2")
    );
    assert_eq!(f.fixed_versions, ["2.9.1-r3"]);
    assert!(has_vector(
        f,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"
    ));
    let f = &r.findings[1];
    assert_eq!(
        (f.id.as_str(), f.severity),
        ("CVE-2020-28196", Severity::High)
    );
    assert_eq!(pkg(f), ("krb5-libs", Some("1.15.5-r0")));
    assert_eq!(f.cwes, ["CWE-674"]);
    assert_eq!(f.fixed_versions, ["1.15.5-r1"]);
    assert!(f.is_fixable());

    let r = load("trivy/issue_9092.json");
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].severity, Severity::High);
    assert_eq!(
        r.findings[0].locations[0].target.as_deref(),
        Some("requirements.txt")
    );

    let r = load("trivy/issue_9263.json");
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].severity, Severity::High);

    let r = load("trivy/issue_9333.json");
    assert_eq!(r.findings.len(), 13);
    assert_eq!(r.findings[0].severity, Severity::Low);

    let r = load("trivy/issue_14136.json");
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].kind, FindingKind::Misconfiguration);
    assert_eq!(r.findings[0].severity, Severity::Low);
}

#[test]
fn trivy_misconfigurations_and_secrets() {
    let r = load("trivy/misconfigurations_and_secrets.json");
    assert_eq!(r.findings.len(), 5);
    assert_eq!(count(&r, FindingKind::Vulnerability), 2);
    assert_eq!(count(&r, FindingKind::Misconfiguration), 1);
    assert_eq!(count(&r, FindingKind::Secret), 2);
    let m = &r.findings[2];
    assert_eq!(m.kind, FindingKind::Misconfiguration);
    assert_eq!(m.id, "DS002");
    assert_eq!(m.title.as_deref(), Some("Image user should not be 'root'"));
    assert_eq!(m.severity, Severity::High);
    let s = &r.findings[3];
    assert_eq!(s.kind, FindingKind::Secret);
    assert_eq!(s.title.as_deref(), Some("GitHub Personal Access Token"));
    assert_eq!(s.severity, Severity::Critical);
    assert_eq!(s.locations[0].path.as_deref(), Some("Dockerfile"));
    assert_eq!(s.locations[0].start_line, Some(24));
    // The masked match text is never copied into the model.
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("GITHUB_PAT"), "secret match leaked");
}

#[test]
fn trivy_kubernetes_forms() {
    let r = load("trivy/kubernetes.json");
    assert_eq!(r.findings.len(), 20);
    assert_eq!(count(&r, FindingKind::Vulnerability), 10);
    assert_eq!(count(&r, FindingKind::Misconfiguration), 10);
    let f = &r.findings[0];
    assert_eq!(f.id, "CVE-2020-27350");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(pkg(f), ("apt", Some("1.8.2.1")));
    assert_eq!(f.fixed_versions, ["1.8.2.2"]);
    assert_eq!(
        f.locations[0].resource.as_deref(),
        Some("default/Deployment/redis-follower")
    );
    assert_eq!(
        f.locations[0].target.as_deref(),
        Some("gcr.io/google_samples/gb-redis-follower:v2 (debian 10.4)")
    );
    let f = &r.findings[5];
    assert_eq!(f.id, "CVE-2020-27350");
    assert_eq!(
        f.locations[0].resource.as_deref(),
        Some("default/Deployment/redis-leader")
    );
    let f = &r.findings[10];
    assert_eq!(f.kind, FindingKind::Misconfiguration);
    assert_eq!(f.id, "KSV001");
    assert_eq!(
        f.title.as_deref(),
        Some("Process can elevate its own privileges")
    );
    assert_eq!(f.severity, Severity::Medium);
    assert!(f.package.is_none());

    // Hand-edited subsets used by DefectDojo's dedupe tests: raw counts.
    for (file, vulns, misconf) in [
        ("trivy/kubernetes_fabricated_subset.json", 7, 6),
        ("trivy/kubernetes_fabricated_internal_duplicates.json", 7, 6),
        (
            "trivy/kubernetes_fabricated_internal_duplicates_subset.json",
            4,
            1,
        ),
    ] {
        let r = load(file);
        assert_eq!(count(&r, FindingKind::Vulnerability), vulns, "{file}");
        assert_eq!(count(&r, FindingKind::Misconfiguration), misconf, "{file}");
    }

    // The `Resources[]` form.
    for file in ["trivy/issue_9170.json", "trivy/issue_10991.json"] {
        let r = load(file);
        assert_eq!(r.findings.len(), 37, "{file}");
        assert_eq!(count(&r, FindingKind::Misconfiguration), 37, "{file}");
    }
    let r = load("trivy/issue_9170.json");
    assert_eq!(r.target.as_deref(), Some("minikube"));
    let f = &r.findings[0];
    assert_eq!((f.id.as_str(), f.severity), ("KSV116", Severity::Low));
    assert_eq!(
        f.title.as_deref(),
        Some("Runs with a root primary or supplementary GID")
    );
}

#[test]
fn trivy_licenses() {
    let r = load("trivy/license_scheme.json");
    assert_eq!(r.findings.len(), 19);
    assert_eq!(count(&r, FindingKind::License), 19);
    let f = &r.findings[0];
    assert_eq!((f.id.as_str(), f.severity), ("GPL-2.0", Severity::High));
    assert_eq!(pkg(f).0, "alpine-baselayout");
    assert!(f.title.as_deref().unwrap().contains("restricted"));
}

#[test]
fn trivy_statuses_and_cvss() {
    let r = load("trivy/all_statuses.json");
    // One finding per Status value; not_affected stays a finding here (the
    // gate, with VEX, decides what is suppressed).
    assert_eq!(r.findings.len(), 8);
    let f = &r.findings[3];
    assert_eq!(f.id, "CVE-2018-1000876");
    assert_eq!(pkg(f), ("binutils", Some("2.31.1-16")));
    assert_eq!(f.cwes, ["CWE-190", "CWE-787"]);
    assert!(r.findings[2].cwes.is_empty());

    let r = load("trivy/cvss_severity_source.json");
    assert_eq!(r.findings.len(), 2);
    let f = &r.findings[0];
    assert_eq!(f.severity, Severity::Medium);
    assert!(has_vector(
        f,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N"
    ));
    assert!(has_score(f, CvssVersion::V3_1, 6.5));
    assert!(f.package.as_ref().unwrap().purl.is_some());
    assert_eq!(r.findings[1].severity, Severity::High);
    assert!(has_score(&r.findings[1], CvssVersion::V3_1, 7.5));

    // The report's Severity wins over what the CVSS score would say.
    let r = load("trivy/severity_prio.json");
    assert_eq!(r.findings[0].severity, Severity::Low);
    assert_eq!(r.findings[1].severity, Severity::Critical);

    let r = load("trivy/cvssv4_severity_source.json");
    assert_eq!(r.findings.len(), 3);
    let f = &r.findings[0];
    assert_eq!(f.severity, Severity::Medium);
    assert!(has_vector(
        f,
        "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N"
    ));
    assert!(has_score(f, CvssVersion::V4_0, 6.3));
    assert_eq!(f.aliases, ["GHSA-fpj8-gq4v-p354"]);
    assert_eq!(f.fixed_versions, ["11.0.14", "10.1.49", "9.0.112"]);
    let purl = f.package.as_ref().unwrap().purl.as_ref().unwrap();
    assert_eq!(purl.ty(), "maven");
}

// ---------------------------------------------------------------- Grype

#[test]
fn grype_counts() {
    for (file, n) in [
        ("anchore_grype/no_vuln.json", 0),
        ("anchore_grype/many_vulns.json", 1509),
        ("anchore_grype/many_vulns2.json", 1567),
        ("anchore_grype/many_vulns3.json", 327),
        ("anchore_grype/many_vulns4.json", 9),
        ("anchore_grype/issue_9618.json", 35),
        ("anchore_grype/issue_9942.json", 1),
        ("anchore_grype/many_vulns_with_epss_values.json", 15),
        ("anchore_grype/anchore_grype_epss_problem.json", 1),
        ("anchore_grype/check_all_fields_with_ids_fabricated.json", 1),
        ("anchore_grype/check_all_fields_no_ids_fabricated.json", 1),
        (
            "anchore_grype/check_all_fields_different_ids_fabricated.json",
            1,
        ),
    ] {
        let r = load(file);
        assert_eq!(r.scanner.name, "grype");
        assert_eq!(r.findings.len(), n, "{file}");
    }
}

#[test]
fn grype_fields() {
    let r = load("anchore_grype/many_vulns.json");
    assert_eq!(r.scanner.version.as_deref(), Some("0.7.0"));
    assert_eq!(r.target.as_deref(), Some("python:3.6"));
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "CVE-2011-3389" && pkg(f).0 == "libgnutls-openssl27")
        .unwrap();
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(pkg(f).1, Some("3.6.7-4+deb10u5"));
    assert_eq!(f.locations[0].path.as_deref(), Some("/var/lib/dpkg/status"));
    // Grype 0.7 wrote CVSS as `cvssV2`; it is read.
    assert!(has_score(f, CvssVersion::V2, 4.3));
    assert_eq!(
        f.package.as_ref().unwrap().ecosystem.as_deref(),
        Some("deb")
    );

    let r = load("anchore_grype/many_vulns2.json");
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "CVE-2019-9192" && pkg(f).0 == "libc6-dev")
        .unwrap();
    assert_eq!(f.severity, Severity::Info, "Negligible maps to info");
    assert_eq!(pkg(f).1, Some("2.28-10"));

    let r = load("anchore_grype/many_vulns3.json");
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "CVE-2011-3389" && pkg(f).0 == "libgnutls30")
        .unwrap();
    assert_eq!(f.severity, Severity::Medium);

    let r = load("anchore_grype/many_vulns4.json");
    let f = find(&r, "CVE-1999-1338");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(pkg(f), ("delegate", Some("3.2.0")));
}

#[test]
fn grype_check_all_fields() {
    let r = load("anchore_grype/check_all_fields.json");
    // Six matches; DefectDojo folds the two Django matches into one (5).
    assert_eq!(r.findings.len(), 6);
    let f = &r.findings[0];
    assert_eq!(f.id, "CVE-2004-0971");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(pkg(f), ("libgssapi-krb5-2", Some("1.17-3+deb10u3")));
    let f = &r.findings[1];
    assert_eq!(
        (f.id.as_str(), f.severity),
        ("CVE-2021-32626", Severity::High)
    );
    assert_eq!(pkg(f), ("redis", Some("4.0.2")));
    assert!(has_vector(
        f,
        "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"
    ));
    assert_eq!(f.fixed_versions, ["fix_1", "fix_2"]);
    assert_eq!(
        f.package.as_ref().unwrap().purl.as_ref().unwrap().as_str(),
        "pkg:pypi/redis@4.0.2"
    );
    let django: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.id == "GHSA-v6rh-hp5x-86rv")
        .collect();
    assert_eq!(django.len(), 2);
    for f in django {
        assert_eq!(pkg(f), ("Django", Some("3.2.9")));
        assert_eq!(f.aliases, ["CVE-2021-44420"]);
        assert_eq!(f.cve(), Some("CVE-2021-44420"));
        assert_eq!(f.fixed_versions, ["3.2.10"]);
    }

    let r = load("anchore_grype/fix_available.json");
    assert_eq!(r.findings[0].fixed_versions, ["1.2.3"]);
    let r = load("anchore_grype/fix_not_available.json");
    assert!(r.findings[0].fixed_versions.is_empty());

    let r = load("anchore_grype/anchore_grype_epss_problem.json");
    assert_eq!(r.findings[0].id, "GHSA-4374-p667-p6c8");

    // Two matches of one CVE in one package at two paths (DefectDojo's
    // default mode folds them into one finding with two occurrences).
    let r = load("anchore_grype/same_cve_different_paths.json");
    assert_eq!(r.findings.len(), 2);
    let paths: Vec<&str> = r
        .findings
        .iter()
        .flat_map(|f| &f.locations)
        .filter_map(|l| l.path.as_deref())
        .collect();
    assert!(paths.contains(&"/usr/lib/x86_64-linux-gnu/libc.so.6"));
    assert!(paths.contains(&"/lib/x86_64-linux-gnu/libc.so.6"));
}

// ------------------------------------------------------ Dependency-Check

#[test]
fn dependency_check_xml() {
    let r = load("dependency_check/single_vuln.xml");
    assert_eq!(r.scanner.name, "dependency-check");
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(f.id, "CVE-0000-0001");
    assert_eq!(f.severity, Severity::Medium, "Moderate maps to medium");
    assert_eq!(pkg(f), ("org.owasp:library", Some("6.7.8")));
    // Schema 1.3's flat cvssScore/cvssAccessVector… elements are read.
    assert!(has_vector(f, "AV:N/AC:L/Au:N/C:P/I:P/A:P"));

    for file in [
        "dependency_check/single_dependency_with_related_no_vulnerability.xml",
        "dependency_check/dc_empty.xml",
    ] {
        assert!(load(file).findings.is_empty(), "{file}");
    }

    // 7 vulnerabilities and 2 suppressed ones; DefectDojo counts the
    // suppressed ones too (9). Suppressed vulnerabilities are not findings.
    let r = load("dependency_check/multiple_vulnerabilities_has_multiple_findings.xml");
    assert_eq!(r.findings.len(), 7);
    let f = &r.findings[0];
    assert_eq!(f.id, "CVE-0000-0001");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(pkg(f), ("org.dom4j:dom4j", Some("2.1.1.redhat-00001")));
    assert_eq!(
        f.locations[0].path.as_deref(),
        Some("adapter-ear1.ear: dom4j-2.1.1.jar")
    );
    let f = &r.findings[1];
    assert_eq!((f.id.as_str(), f.severity), ("1500", Severity::Low));
    assert!(f.cve().is_none() && f.cwes.is_empty());
    let f = &r.findings[2];
    assert_eq!(f.id, "CVE-2020-7608");
    assert!(has_vector(
        f,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N"
    ));
    assert!(has_score(f, CvssVersion::V3_1, 7.5));
    let f = &r.findings[3];
    assert!(f
        .id
        .starts_with("CWE-400: Uncontrolled Resource Consumption"));
    assert_eq!(f.cwes, ["CWE-400"]);
    assert!(!r
        .findings
        .iter()
        .any(|f| pkg(f).0.contains("jquery") && f.severity == Severity::Critical));

    let r = load("dependency_check/version-6.5.3.xml");
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(
        pkg(f),
        ("org.apache.logging.log4j:log4j-api", Some("2.12.4"))
    );
    assert_eq!(f.severity, Severity::Low);
    assert!(has_vector(
        f,
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N"
    ));
    assert!(has_score(f, CvssVersion::V3_1, 3.7));
    assert_eq!(f.locations[0].path.as_deref(), Some("log4j-api-2.12.4.jar"));
    assert_eq!(f.cwes, ["CWE-295"]);

    let r = load("dependency_check/version-6.5.3_multi_cwe_fabricated.xml");
    assert_eq!(r.findings[0].cwes, ["CWE-295", "CWE-297"]);

    // 26 vulnerabilities and 8 suppressed (DefectDojo: 34). Its first
    // finding, CVE-2015-3208 in activemq-broker, is a suppressed one.
    let r = load("dependency_check/PR6439.xml");
    assert_eq!(r.findings.len(), 26);
    assert!(!r.findings.iter().any(|f| f.id == "CVE-2015-3208"));
}

#[test]
fn dependency_check_json() {
    // Dependency-Check 6.5.0 on the Jenkins analysis-model project.
    let r = load("dependency_check_json/analysis-model-6.5.0.json");
    assert_eq!(r.scanner.name, "dependency-check");
    assert_eq!(r.scanner.version.as_deref(), Some("6.5.0"));
    assert_eq!(r.findings.len(), 2);
    let f = &r.findings[0];
    assert_eq!(f.id, "CVE-2014-0114");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.locations[0].path.as_deref(),
        Some("commons-beanutils-1.8.3.jar")
    );
    assert!(has_score(f, CvssVersion::V2, 7.5));
    assert!(!f.cvss.iter().any(|c| c.version != CvssVersion::V2));
    assert_eq!(f.cwes, ["CWE-20"]);
    assert_eq!(
        f.package.as_ref().unwrap().purl.as_ref().unwrap().as_str(),
        "pkg:maven/commons-beanutils/commons-beanutils@1.8.3"
    );
    let f = &r.findings[1];
    assert_eq!(f.id, "CVE-2019-10086");
    assert!(has_score(f, CvssVersion::V2, 7.5));
    assert!(has_v3_score(f, 7.3));
    assert_eq!(f.cwes, ["CWE-502"]);

    // Dependency-Check 6.1.6 with analysis exceptions and shaded jars.
    let r = load("dependency_check_json/artemis-6.1.6.json");
    assert_eq!(r.scanner.version.as_deref(), Some("6.1.6"));
    assert_eq!(r.findings.len(), 5);
    let on =
        |name: &str| -> Vec<&Finding> { r.findings.iter().filter(|f| pkg(f).0 == name).collect() };
    let classic = on("ch.qos.logback:logback-classic");
    assert_eq!(classic.len(), 2);
    assert_eq!(
        (classic[0].id.as_str(), classic[0].severity),
        ("CVE-2021-42550", Severity::Medium)
    );
    assert!(has_v3_score(classic[0], 6.6));
    assert_eq!(
        (classic[1].id.as_str(), classic[1].severity),
        ("CVE-2023-6378", Severity::High)
    );
    assert_eq!(on("ch.qos.logback:logback-core").len(), 2);
    let jetty = on("org.eclipse.jetty:jetty-io");
    assert_eq!(jetty.len(), 1);
    assert_eq!(jetty[0].id, "CVE-2021-28165");
    assert_eq!(pkg(jetty[0]).1, Some("9.4.8.v20171121"));
    assert_eq!(jetty[0].max_cvss_score(), Some(7.5));

    // Written in the shape Dependency-Check 12 writes: CVSS v4.
    let r = load("dependency_check_json/paragon-cvssv4.json");
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(f.id, "CVE-2024-9329");
    assert_eq!(f.severity, Severity::Medium);
    assert!(has_score(f, CvssVersion::V4_0, 6.9));
    assert!(has_score(f, CvssVersion::V3_1, 6.1));
    assert!(!f.cvss.iter().any(|c| c.version == CvssVersion::V2));
    assert!(has_vector(
        f,
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
    ));
    assert_eq!(f.cwes, ["CWE-601", "CWE-233"]);
    // No purl: the package comes from the CPE.
    assert_eq!(pkg(f), ("glassfish", Some("1.0.3")));
    assert!(f.package.as_ref().unwrap().purl.is_none());
}

// ------------------------------------------------------------- CycloneDX

#[test]
fn cyclonedx_xml_with_vulnerability_extension() {
    let r = load("cyclonedx/grype_dd_1_14_1.xml");
    assert_eq!(r.scanner.name, "grype");
    assert_eq!(r.findings.len(), 312);
    assert_eq!(r.findings[0].severity, Severity::Low);
    assert_eq!(pkg(&r.findings[0]), ("Django", Some("2.2.18")));
    let f = &r.findings[200];
    assert_eq!(f.id, "CVE-2019-6988");
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(pkg(f), ("libopenjp2-7", Some("2.3.0-2+deb10u2")));
    // 308 components in the file, one of them the BOM's subject (metadata).
    assert_eq!(r.sbom.as_ref().unwrap().components.len(), 307);

    let r = load("cyclonedx/dd_1_15_0.xml");
    assert_eq!(r.findings.len(), 381);
    assert_eq!(pkg(&r.findings[0]), ("apt", Some("1.8.2.1")));
    assert_eq!(r.findings[0].severity, Severity::Low);
    // The BOM says "Unknown" (score 0); DefectDojo files that as Info.
    assert_eq!(r.findings[5].severity, Severity::Unknown);
    assert_eq!(
        pkg(&r.findings[5]),
        ("bind9-host", Some("1:9.11.5.P4+dfsg-5.1+deb10u3"))
    );
    assert_eq!(r.findings[379].id, "CVE-2019-9923");
    assert_eq!(pkg(&r.findings[379]), ("tar", Some("1.30+dfsg-6")));
    assert_eq!(r.findings[380].id, "CVE-2021-20193");

    assert_eq!(load("cyclonedx/grype.xml").findings.len(), 327);

    for file in ["cyclonedx/spec1.xml", "cyclonedx/spec1_lowfirst.xml"] {
        let r = load(file);
        assert_eq!(r.findings.len(), 1);
        let f = &r.findings[0];
        assert_eq!(f.id, "CVE-2018-7489");
        assert_eq!(f.severity, Severity::Critical, "{file}: highest rating");
        assert_eq!(f.cwes, ["CWE-184", "CWE-502"]);
        assert_eq!(pkg(f), ("jackson-databind", Some("2.9.9")));
    }
}

#[test]
fn cyclonedx_sbom_only_xml() {
    for (file, components) in [
        ("cyclonedx/cyclonedx_bom.xml", 73),
        ("cyclonedx/jake.xml", 204),
        ("cyclonedx/retirejs.latest.xml", 6),
    ] {
        let r = load(file);
        assert!(r.findings.is_empty(), "{file}");
        let sbom = r.sbom.as_ref().unwrap();
        assert_eq!(sbom.format, SbomFormat::CycloneDx);
        assert_eq!(sbom.components.len(), components, "{file}");
    }
}

#[test]
fn cyclonedx_native_vulnerabilities() {
    for file in [
        "cyclonedx/valid-vulnerability-1.4.xml",
        "cyclonedx/valid-vulnerability-1.4.json",
    ] {
        let r = load(file);
        assert_eq!(r.findings.len(), 1, "{file}");
        let f = &r.findings[0];
        assert_eq!(f.id, "SNYK-JAVA-COMFASTERXMLJACKSONCORE-32111");
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.cwes, ["CWE-184", "CWE-502"]);
        assert_eq!(f.aliases, ["CVE-2018-7489"], "{file}: duplicates removed");
        assert_eq!(pkg(f), ("jackson-databind", Some("2.9.4")));
    }

    let r = load("cyclonedx/multiple_cwes_fabricated.xml");
    assert_eq!(r.findings[0].cwes, ["CWE-79", "CWE-89"]);

    let r = load("cyclonedx/jake2.json");
    assert_eq!(r.findings.len(), 7);
    assert_eq!(r.sbom.as_ref().unwrap().components.len(), 67);
    let f = &r.findings[0];
    assert_eq!(f.id, "c7129ff8-08bc-4afe-82ec-7d97b9491741");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(pkg(f), ("Django", Some("2.0")));
    assert_eq!(f.cve(), Some("CVE-2021-33203"));
    // The BOM writes the v3 vector without its `CVSS:3.x/` prefix (method
    // "CVSSv3"); it is kept as written.
    assert!(has_vector(f, "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"));

    for file in [
        "cyclonedx/log4j.json",
        "cyclonedx/log4j.xml",
        "cyclonedx/nested-component-log4j.json",
    ] {
        let r = load(file);
        assert_eq!(r.findings.len(), 8, "{file}");
        let f = &r.findings[0];
        assert_eq!(f.id, "CVE-2021-44228");
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(pkg(f), ("log4j-core", Some("2.13.2")), "{file}");
        assert!(has_vector(
            f,
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"
        ));
    }

    // 10 vulnerabilities affecting 14 components: one finding per affects ref.
    let r = load("cyclonedx/issue_9277.json");
    assert_eq!(r.scanner.name, "trivy");
    assert_eq!(r.findings.len(), 14);
    assert_eq!(r.sbom.as_ref().unwrap().components.len(), 102);
    assert_eq!(
        r.sbom.as_ref().unwrap().spec_version.as_deref(),
        Some("1.5")
    );

    assert_eq!(load("cyclonedx/issue_8022.json").findings.len(), 1);

    // No severity anywhere: it comes from the CVSS score (10.0); the affects
    // ref matches no component, so there is no package.
    let r = load("cyclonedx/no-severity.json");
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].severity, Severity::Critical);
    assert!(r.findings[0].package.is_none());
}

/// For the versions `cyclonedx-bom` reads (1.3–1.5), it and Paragon's
/// lenient reader agree on components and vulnerabilities.
#[test]
fn cyclonedx_agrees_with_cyclonedx_bom() {
    use cyclonedx_bom::models::bom::Bom;
    fn count_components(list: &[cyclonedx_bom::models::component::Component]) -> usize {
        list.iter()
            .map(|c| 1 + c.components.as_ref().map_or(0, |n| count_components(&n.0)))
            .sum()
    }
    for file in [
        "cyclonedx/valid-vulnerability-1.4.json",
        "cyclonedx/log4j.json",
        "cyclonedx/nested-component-log4j.json",
        "cyclonedx/jake2.json",
        "cyclonedx/issue_9277.json",
        "cyclonedx/issue_8022.json",
    ] {
        let path = fixture(file);
        let bytes = std::fs::read(&path).unwrap();
        let theirs = Bom::parse_from_json(bytes.as_slice())
            .unwrap_or_else(|e| panic!("cyclonedx-bom rejects {file}: {e}"));
        let ours = parse_file(&path).unwrap();
        let their_components = theirs
            .components
            .as_ref()
            .map_or(0, |c| count_components(&c.0));
        assert_eq!(
            ours.sbom.as_ref().unwrap().components.len(),
            their_components,
            "{file}: components"
        );
        let their_affects: usize = theirs.vulnerabilities.as_ref().map_or(0, |v| {
            v.0.iter()
                .map(|v| {
                    v.vulnerability_targets
                        .as_ref()
                        .map_or(1, |t| t.0.len().max(1))
                })
                .sum()
        });
        assert_eq!(ours.findings.len(), their_affects, "{file}: findings");
    }
    // And where it does not read the version, Paragon still does.
    {
        let path = fixture("syft/cyclonedxjson/1.6.json");
        let bytes = std::fs::read(&path).unwrap();
        assert!(Bom::parse_from_json(bytes.as_slice()).is_err());
        assert_eq!(parse_file(&path).unwrap().sbom.unwrap().components.len(), 1);
    }
}

// ------------------------------------------------------------- SonarQube

#[test]
fn sonarqube_api_issues() {
    let r = load("sonarqube/findings_over_api.json");
    assert_eq!(r.scanner.name, "sonarqube");
    assert_eq!(r.findings.len(), 5);
    assert!(r.findings.iter().all(|f| f.kind == FindingKind::Weakness));
    let f = &r.findings[0];
    assert_eq!(f.id, "OWASP:UsingComponentWithKnownVulnerability");
    assert_eq!(f.severity, Severity::Medium, "MAJOR maps to medium");
    assert_eq!(f.aliases, ["CVE-2024-2529"]);
    assert!(f.cwes.contains(&"CWE-120".to_owned()));
    assert_eq!(f.max_cvss_score(), Some(6.4));
    assert_eq!(pkg(f), ("package", Some("1.1.2")));
    let f = &r.findings[1];
    assert_eq!(f.id, "Web:TableWithoutCaptionCheck");
    assert_eq!(f.severity, Severity::Low, "MINOR maps to low");
    assert_eq!(
        f.locations[0].path.as_deref(),
        Some("src/app/pages/fjiowefjewio/fjwieof/fjiwoe/details.html")
    );
    assert_eq!(f.locations[0].start_line, Some(59));
    assert_eq!(r.findings[3].aliases, ["GHSA-frr2-c345-p7c2"]);
    let f = &r.findings[4];
    assert_eq!(f.aliases, ["CVE-2023-52428"]);
    assert_eq!(pkg(f), ("nimbus-jose-jwt-9.24.4.jar", None));

    let r = load("sonarqube/findings_over_api_multi_cwe_fabricated.json");
    assert!(r.findings[0].cwes.contains(&"CWE-120".to_owned()));
    assert!(r.findings[0].cwes.contains(&"CWE-79".to_owned()));

    assert!(load("sonarqube/findings_over_api_empty.json")
        .findings
        .is_empty());

    let r = load("sonarqube/findings_over_api_hotspots.json");
    assert_eq!(r.findings.len(), 4);
    assert_eq!(r.findings[0].id, "typescript:7777");
    assert_eq!(r.findings[0].severity, Severity::High);
    assert_eq!(r.findings[0].locations[0].start_line, Some(47));
    assert_eq!(r.findings[1].id, "Web:1222");
    assert_eq!(r.findings[1].severity, Severity::Low);

    // A bare list of issues; the RESOLVED false positive is not a finding.
    let r = load("api_sonarqube/issues.json");
    assert_eq!(r.findings.len(), 2);
}

#[test]
fn sonarqube_report_export() {
    let r = load("sonarqube/sonar-single-finding.json");
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(f.id, "python:S4502");
    assert_eq!(f.locations[0].start_line, Some(8));
    assert_eq!(r.target.as_deref(), Some("vulnerable-flask-app"));
    for file in ["sonarqube/sonar-6-findings.json", "sonarqube/sonar.json"] {
        assert_eq!(load(file).findings.len(), 6, "{file}");
    }
    assert!(load("sonarqube/sonar-no-finding.json").findings.is_empty());
    let r = load("sonarqube/issue_10150.json");
    assert_eq!(r.findings.len(), 3);
    assert_eq!(r.findings[0].severity, Severity::High);
    assert_eq!(r.findings[2].severity, Severity::Medium);
}

/// `findings_over_api.zip` holds two `api/issues/search` pages. An archive
/// is not a report format.
#[test]
fn sonarqube_zip_is_not_a_report() {
    let path = fixture("sonarqube/findings_over_api.zip");
    assert!(matches!(
        parse_file(&path),
        Err(Error::UnknownFormat { .. })
    ));
}

/// The pages inside `findings_over_api.zip` are reports, and together hold
/// 6 issues.
#[test]
#[ignore = "needs unzip"]
fn sonarqube_zipped_pages() {
    let path = fixture("sonarqube/findings_over_api.zip");
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("unzip")
        .arg("-q")
        .arg(&path)
        .arg("-d")
        .arg(dir.path())
        .status()
        .expect("this test needs unzip on PATH");
    assert!(status.success());
    let mut findings = Vec::new();
    for page in ["findings_over_api.json", "findings_over_api2.json"] {
        findings.extend(parse_file(dir.path().join(page)).unwrap().findings);
    }
    assert_eq!(findings.len(), 6);
    assert_eq!(
        findings[0].locations[0].target.as_deref(),
        Some("testapplication")
    );
    assert_eq!(findings[0].severity, Severity::Medium);
    assert_eq!(findings[5].id, "typescript:S112533");
    assert_eq!(findings[5].severity, Severity::Medium);
}

// ----------------------------------------------------------------- SPDX

#[test]
fn spdx_documents() {
    let r = load("spdx/spdx_one_vuln.json");
    assert_eq!(r.scanner.name, "syft");
    assert_eq!(r.scanner.version.as_deref(), Some("1.50.0"));
    assert_eq!(r.findings.len(), 1);
    let f = &r.findings[0];
    assert_eq!(f.id, "CVE-2024-10001");
    assert_eq!(pkg(f), ("alpine-baselayout", Some("3.1.2-r0")));
    // SPDX gives no severity (DefectDojo assumes Medium; Paragon says unknown).
    assert_eq!(f.severity, Severity::Unknown);
    let sbom = r.sbom.as_ref().unwrap();
    assert_eq!(sbom.format, SbomFormat::Spdx);
    assert_eq!(sbom.components.len(), 3);
    assert_eq!(sbom.summary().components_with_purl, 3);

    let r = load("spdx/spdx_one_vuln.spdx");
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].id, "CVE-2024-10001");
    assert_eq!(pkg(&r.findings[0]), ("alpine-baselayout", Some("3.1.2-r0")));

    let r = load("spdx/spdx_many_vuln.json");
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        ["CVE-2024-10001", "CVE-2024-10002", "GHSA-JFH8-C2JP-5V3Q"]
    );

    let r = load("spdx/spdx_no_vuln.json");
    assert!(r.findings.is_empty());
    assert_eq!(r.sbom.as_ref().unwrap().components.len(), 3);

    let path = fixture("spdx/spdx_3_unsupported.json");
    let err = parse_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedVersion { version, .. } if version == "SPDX-3.0"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("spdx_3_unsupported.json") && msg.contains("not supported"),
        "{msg}"
    );
}

// ----------------------------------------------------------------- Syft

#[test]
fn syft_outputs() {
    let r = load("syft/cyclonedxjson/TestCycloneDxImageEncoder.golden");
    assert_eq!(r.scanner.name, "syft");
    assert!(r.findings.is_empty());
    let sbom = r.sbom.as_ref().unwrap();
    assert_eq!(sbom.spec_version.as_deref(), Some("1.7"));
    let names: Vec<&str> = sbom.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["package-1", "package-2", "debian"]);
    // package-1's purl ("a-purl-1") is invalid on purpose; the OS has none.
    assert_eq!(sbom.invalid_purls, 1);
    assert_eq!(
        sbom.components[1].purl.as_ref().unwrap().as_str(),
        "pkg:deb/debian/package-2@2.0.1"
    );
    assert_eq!(sbom.summary().components_with_purl, 1);
    assert!(!sbom.document.is_empty());

    let r = load("syft/cyclonedxjson/TestCycloneDxDirectoryEncoder.golden");
    assert_eq!(r.sbom.as_ref().unwrap().components.len(), 3);

    let r = load("syft/cyclonedxjson/1.6.json");
    let sbom = r.sbom.as_ref().unwrap();
    assert_eq!(sbom.components.len(), 1);
    assert_eq!(
        sbom.components[0].purl.as_ref().unwrap().as_str(),
        "pkg:golang/github.com/wagoodman/go-partybus@v0.0.0-20230516145632-8ccac152c651"
    );

    let r = load("syft/cyclonedxxml/TestCycloneDxImageEncoder.golden");
    assert_eq!(r.sbom.as_ref().unwrap().components.len(), 3);
    assert_eq!(r.scanner.name, "syft");

    let r = load("syft/spdxjson/TestSPDXJSONImageEncoder.golden");
    let names: Vec<&str> = r
        .sbom
        .as_ref()
        .unwrap()
        .components
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["package-1", "package-2", "user-image-input"]);
    assert_eq!(r.scanner.version.as_deref(), Some("v0.42.0-bogus"));

    for file in [
        "syft/syftjson/TestImageEncoder.golden",
        "syft/syftjson/TestEncodeFullJSONDocument.golden",
    ] {
        let path = fixture(file);
        assert_eq!(
            detect(&std::fs::read(&path).unwrap()),
            Some(Format::SyftJson)
        );
        let r = parse_file(&path).unwrap();
        assert!(r.findings.is_empty());
        assert_eq!(r.sbom.as_ref().unwrap().format, SbomFormat::SyftJson);
        assert_eq!(r.sbom.as_ref().unwrap().components.len(), 2, "{file}");
    }
}

/// Every data file in the fixtures is recognised and parses (the two
/// SonarQube mock payloads that are not reports, the zip archive and the
/// SPDX 3 document are the expected exceptions).
#[test]
fn every_fixture_is_detected() {
    let dir = crate::support::fixtures_dir();
    let not_reports = [
        "api_sonarqube/product.json",
        "api_sonarqube/rule.json",
        "sonarqube/findings_over_api.zip",
    ];
    let mut stack = vec![dir.clone()];
    let mut parsed = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let data = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("json" | "xml" | "golden" | "spdx" | "zip")
            );
            if !data {
                continue;
            }
            let result = parse_file(&path);
            if not_reports.contains(&rel.as_str()) {
                assert!(matches!(result, Err(Error::UnknownFormat { .. })), "{rel}");
            } else if rel == "spdx/spdx_3_unsupported.json" {
                assert!(matches!(result, Err(Error::UnsupportedVersion { .. })));
            } else {
                result.unwrap_or_else(|e| panic!("{rel}: {e}"));
                parsed += 1;
            }
        }
    }
    assert!(parsed >= 80, "only {parsed} fixtures parsed");
}
