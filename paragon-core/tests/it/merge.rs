//! The merge: keys, folding, and its properties (checked with proptest).

use paragon_core::{
    Finding, FindingKind, Location, Merger, Package, Report, ScanReport, ScannerInfo, Severity,
    Source,
};
use proptest::prelude::*;

fn vuln(scanner: &str, id: &str, aliases: &[&str], pkg: Package, sev: Severity) -> Finding {
    let mut f = Finding::new(FindingKind::Vulnerability, id, sev);
    for a in aliases {
        f.add_alias(*a);
    }
    f.package = Some(pkg);
    f.sources.push(Source::new(
        scanner,
        sev,
        Some(format!("{scanner}-target").into()),
    ));
    f
}

fn report(scanner: &str, findings: Vec<Finding>) -> ScanReport {
    let mut r = ScanReport::new(ScannerInfo::new(scanner, None::<String>));
    r.findings = findings;
    r
}

fn pip(name: &str, version: &str) -> Package {
    Package::new(name)
        .with_version(Some(version))
        .with_ecosystem(Some("pip"))
}

#[test]
fn ghsa_with_related_cve_joins_the_cve_across_reports() {
    let trivy = report(
        "trivy",
        vec![vuln(
            "trivy",
            "CVE-2021-44420",
            &[],
            pip("Django", "3.2.9"),
            Severity::High,
        )],
    );
    let grype = report(
        "grype",
        vec![vuln(
            "grype",
            "GHSA-v6rh-hp5x-86rv",
            &["CVE-2021-44420"],
            Package::new("django")
                .with_version(Some("3.2.9"))
                .with_purl_str(Some("pkg:pypi/django@3.2.9")),
            Severity::Medium,
        )],
    );
    // A third scanner names only the GHSA: joined transitively.
    let other = report(
        "osv",
        vec![vuln(
            "osv",
            "GHSA-v6rh-hp5x-86rv",
            &[],
            pip("django", "3.2.9"),
            Severity::Low,
        )],
    );
    for order in [
        vec![trivy.clone(), grype.clone(), other.clone()],
        vec![other.clone(), grype.clone(), trivy.clone()],
    ] {
        let merged = Report::merge(order);
        assert_eq!(merged.findings.len(), 1, "{:#?}", merged.findings);
        let f = &merged.findings[0];
        assert_eq!(f.id, "CVE-2021-44420");
        assert_eq!(f.aliases, ["GHSA-v6rh-hp5x-86rv"]);
        assert_eq!(f.severity, Severity::High, "highest of the sources");
        let scanners: Vec<&str> = f.sources.iter().map(|s| &*s.scanner).collect();
        assert_eq!(scanners, ["grype", "osv", "trivy"]);
        assert_eq!(f.sources[0].severity, Severity::Medium, "own severity kept");
        assert!(f.package.as_ref().unwrap().purl.is_some(), "the purl wins");
        assert_eq!(merged.summary.by_scanner["grype"], 1);
        assert_eq!(merged.inputs.len(), 3);
    }
}

#[test]
fn same_vulnerability_in_two_packages_stays_two() {
    let r = report(
        "grype",
        vec![
            vuln(
                "grype",
                "CVE-2021-33574",
                &[],
                Package::new("libc6")
                    .with_version(Some("2.28-10"))
                    .with_ecosystem(Some("deb")),
                Severity::Critical,
            ),
            vuln(
                "grype",
                "CVE-2021-33574",
                &[],
                Package::new("libc-bin")
                    .with_version(Some("2.28-10"))
                    .with_ecosystem(Some("deb")),
                Severity::Critical,
            ),
            vuln(
                "grype",
                "CVE-2021-33574",
                &[],
                Package::new("libc6")
                    .with_version(Some("2.28-11"))
                    .with_ecosystem(Some("deb")),
                Severity::Critical,
            ),
        ],
    );
    assert_eq!(Report::merge([r]).findings.len(), 3);
}

#[test]
fn one_package_in_three_targets_is_one_finding_with_three_locations() {
    let findings = ["svc-a/go.mod", "svc-b/go.mod", "svc-c/go.mod"]
        .into_iter()
        .map(|target| {
            let mut f = vuln(
                "trivy",
                "CVE-2023-39325",
                &["GHSA-4374-p667-p6c8"],
                Package::new("golang.org/x/net")
                    .with_version(Some("v0.15.0"))
                    .with_ecosystem(Some("gomod")),
                Severity::High,
            );
            f.add_location(Location::new().with_target(Some(target)));
            f.fixed_versions = vec!["0.17.0".into()];
            f
        })
        .collect();
    let merged = Report::merge([report("trivy", findings)]);
    assert_eq!(merged.findings.len(), 1);
    assert_eq!(merged.findings[0].locations.len(), 3);
    assert_eq!(merged.findings[0].fixed_versions, ["0.17.0"]);
}

#[test]
fn advisories_covering_several_cves_do_not_collapse_them() {
    let pkg = || {
        Package::new("openssl-libs")
            .with_version(Some("1.1.1k-1"))
            .with_ecosystem(Some("redhat"))
    };
    let r = report(
        "trivy",
        vec![
            vuln(
                "trivy",
                "CVE-2021-3711",
                &["RHSA-2021:3798"],
                pkg(),
                Severity::High,
            ),
            vuln(
                "trivy",
                "CVE-2021-3712",
                &["RHSA-2021:3798"],
                pkg(),
                Severity::Medium,
            ),
            // Names only the advisory: it cannot say which CVE, so it stays apart.
            vuln("rhel-scanner", "RHSA-2021:3798", &[], pkg(), Severity::High),
        ],
    );
    let merged = Report::merge([r]);
    let ids: Vec<&str> = merged.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["CVE-2021-3711", "RHSA-2021:3798", "CVE-2021-3712"]);
}

#[test]
fn misconfigurations_secrets_weaknesses_and_licenses_use_their_keys() {
    let mis = |line: u32, resource: Option<&str>| {
        let mut f = Finding::new(FindingKind::Misconfiguration, "DS002", Severity::High);
        f.add_location(
            Location::new()
                .with_path(Some("Dockerfile"))
                .with_lines(Some(line), Some(line))
                .with_resource(resource),
        );
        f.sources.push(Source::new("trivy", Severity::High, None));
        f
    };
    let secret = |path: &str, line: u32, scanner: &str| {
        let mut f = Finding::new(FindingKind::Secret, "github-pat", Severity::Critical);
        f.add_location(
            Location::new()
                .with_path(Some(path))
                .with_lines(Some(line), Some(line)),
        );
        f.sources
            .push(Source::new(scanner, Severity::Critical, None));
        f
    };
    let weakness = |start: u32, end: u32, scanner: &str| {
        let mut f = Finding::new(FindingKind::Weakness, "python:S4502", Severity::High);
        f.add_location(
            Location::new()
                .with_path(Some("app.py"))
                .with_lines(Some(start), Some(end)),
        );
        f.sources.push(Source::new(scanner, Severity::High, None));
        f
    };
    let license = |pkg: &str| {
        let mut f = Finding::new(FindingKind::License, "GPL-2.0", Severity::High);
        f.package = Some(Package::new(pkg).with_ecosystem(Some("apk")));
        f.sources.push(Source::new("trivy", Severity::High, None));
        f
    };
    let r = report(
        "mixed",
        vec![
            mis(3, None),
            mis(3, None),
            mis(9, None),
            secret("a.env", 1, "trivy"),
            secret("a.env", 1, "gitleaks"),
            secret("a.env", 2, "trivy"),
            weakness(8, 9, "sonarqube"),
            weakness(8, 9, "semgrep"),
            weakness(8, 10, "semgrep"),
            license("musl"),
            license("musl"),
            license("busybox"),
        ],
    );
    let merged = Report::merge([r]);
    let count = |k: FindingKind| merged.findings.iter().filter(|f| f.kind == k).count();
    assert_eq!(count(FindingKind::Misconfiguration), 2);
    assert_eq!(count(FindingKind::Secret), 2);
    assert_eq!(count(FindingKind::Weakness), 2);
    assert_eq!(count(FindingKind::License), 2);
    let two_scanners = merged
        .findings
        .iter()
        .filter(|f| f.sources.len() == 2)
        .count();
    assert_eq!(
        two_scanners, 2,
        "the secret and the weakness seen by two tools"
    );
}

#[test]
fn output_is_sorted_by_severity_then_id_then_package() {
    let r = report(
        "grype",
        vec![
            vuln("grype", "CVE-2020-2", &[], pip("b", "1"), Severity::Low),
            vuln(
                "grype",
                "CVE-2020-1",
                &[],
                pip("b", "1"),
                Severity::Critical,
            ),
            vuln(
                "grype",
                "CVE-2020-3",
                &[],
                pip("a", "1"),
                Severity::Critical,
            ),
            vuln(
                "grype",
                "CVE-2020-1",
                &[],
                pip("a", "1"),
                Severity::Critical,
            ),
        ],
    );
    let merged = Report::merge([r]);
    let order: Vec<(&str, &str)> = merged
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.package.as_ref().unwrap().name.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("CVE-2020-1", "a"),
            ("CVE-2020-1", "b"),
            ("CVE-2020-3", "a"),
            ("CVE-2020-2", "b")
        ]
    );
}

// ----------------------------------------------------------- properties

const SCANNERS: [&str; 3] = ["trivy", "grype", "dependency-check"];
/// (id, aliases): GHSA-b names CVE-2; GO-3 names GHSA-c which names CVE-3.
const IDS: [(&str, &[&str]); 7] = [
    ("CVE-2021-0001", &[]),
    ("CVE-2021-0002", &[]),
    ("GHSA-bbbb-bbbb-bbbb", &["CVE-2021-0002"]),
    ("GHSA-cccc-cccc-cccc", &["CVE-2021-0003"]),
    ("GO-2021-0003", &["GHSA-cccc-cccc-cccc"]),
    ("PYSEC-2021-9", &[]),
    ("CVE-2021-0003", &[]),
];

fn package(i: usize, version: usize) -> Package {
    let v = format!("1.{version}");
    match i {
        0 => Package::new("Django")
            .with_version(Some(v))
            .with_ecosystem(Some("pip")),
        1 => Package::new("django")
            .with_version(Some(v.clone()))
            .with_purl_str(Some(&format!("pkg:pypi/django@{v}"))),
        2 => Package::new("requests")
            .with_version(Some(v))
            .with_ecosystem(Some("python")),
        _ => Package::new("libssl3")
            .with_version(Some(v))
            .with_ecosystem(Some("debian")),
    }
}

fn arb_finding() -> impl Strategy<Value = Finding> {
    (
        0..SCANNERS.len(),
        0..IDS.len(),
        0..4usize,
        0..2usize,
        0..6u8,
        0..3usize,
        0..4u8,
    )
        .prop_map(|(s, i, p, v, sev, target, kind)| {
            let sev = Severity::DESCENDING[sev as usize];
            let scanner = SCANNERS[s];
            if kind == 0 {
                let mut f = Finding::new(FindingKind::Secret, "github-pat", sev);
                f.add_location(
                    Location::new()
                        .with_path(Some(format!("f{target}.env")))
                        .with_lines(Some(1), None),
                );
                f.sources.push(Source::new(scanner, sev, None));
                return f;
            }
            let (id, aliases) = IDS[i];
            let mut f = vuln(scanner, id, aliases, package(p, v), sev);
            f.add_location(Location::new().with_target(Some(format!("image-{target}"))));
            if v == 1 {
                f.add_fixed_version("1.9");
            }
            f.title = Some(format!("title {s}"));
            // Metadata that differs between one scanner's records of one
            // finding, so that folds must not assume it repeats.
            if target == 2 {
                f.add_reference(format!("https://example.test/{scanner}/{sev}"));
                f.description = Some(format!("described in image-{target}"));
            }
            f
        })
}

fn arb_reports() -> impl Strategy<Value = Vec<ScanReport>> {
    proptest::collection::vec(
        (
            0..SCANNERS.len(),
            proptest::collection::vec(arb_finding(), 0..12),
        ),
        0..6,
    )
    .prop_map(|rs| {
        rs.into_iter()
            .map(|(s, fs)| report(SCANNERS[s], fs))
            .collect()
    })
}

fn merged(reports: &[ScanReport]) -> Vec<Finding> {
    let mut m = Merger::new();
    for r in reports {
        m.add(r.clone());
    }
    m.finish().findings
}

/// Whether `got` holds the same findings, inputs and summary as `expected`.
fn same_report(got: &Report, expected: &Report) -> Result<(), TestCaseError> {
    prop_assert_eq!(&got.findings, &expected.findings);
    prop_assert_eq!(&got.inputs, &expected.inputs);
    prop_assert_eq!(&got.summary, &expected.summary);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn order_independent(reports in arb_reports(), seed in any::<u64>()) {
        let expected = merged(&reports);
        // Shuffle reports and the findings inside them.
        let mut shuffled = reports.clone();
        let mut state = seed | 1;
        let mut next = move |n: usize| {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            (state % n.max(1) as u64) as usize
        };
        for i in (1..shuffled.len()).rev() { let j = next(i + 1); shuffled.swap(i, j); }
        for r in &mut shuffled {
            for i in (1..r.findings.len()).rev() { let j = next(i + 1); r.findings.swap(i, j); }
        }
        prop_assert_eq!(merged(&shuffled), expected);
    }

    #[test]
    fn idempotent(reports in arb_reports()) {
        let once = merged(&reports);
        let mut twice_input = reports.clone();
        twice_input.extend(reports.iter().cloned());
        prop_assert_eq!(merged(&twice_input), once.clone());
        // Merging the merged findings again changes nothing either.
        let again = merged(&[report("paragon", once.clone())]);
        prop_assert_eq!(again, once);
    }

    #[test]
    fn absorbing_mergers_equals_one_merger(reports in arb_reports(), cut in any::<prop::sample::Index>(), cut2 in any::<prop::sample::Index>()) {
        let mut one = Merger::new();
        for r in &reports {
            one.add(r.clone());
        }
        let expected = one.finish();
        // Three mergers over consecutive shares, absorbed in order.
        let a = cut.index(reports.len() + 1);
        let b = a + cut2.index(reports.len() - a + 1);
        let mut parts = Vec::new();
        for share in [&reports[..a], &reports[a..b], &reports[b..]] {
            let mut m = Merger::new();
            for r in share {
                m.add(r.clone());
            }
            parts.push(m);
        }
        let mut all = Merger::new();
        for m in parts {
            all.absorb(m);
        }
        same_report(&all.finish(), &expected)?;
    }

    #[test]
    fn two_threads_change_nothing(reports in arb_reports()) {
        let mut one = Merger::new();
        for r in &reports {
            one.add(r.clone());
        }
        let expected = one.finish();
        // Read ahead on a second thread, which strips repeated metadata
        // and frees it there (`add_all`) or hands it back (`add_parsed`).
        type Add = fn(&mut Merger, Vec<ScanReport>);
        let ways: [Add; 2] = [|m, r| m.add_all(r), |m, r| m.add_parsed(r)];
        for add in ways {
            let mut two = Merger::new().with_threads(2);
            add(&mut two, reports.clone());
            same_report(&two.finish(), &expected)?;
            // The same reports twice, the second time all repeats.
            let mut twice = Merger::new().with_threads(2);
            add(&mut twice, reports.iter().chain(&reports).cloned().collect());
            prop_assert_eq!(&twice.finish().findings, &expected.findings);
        }
    }

    #[test]
    fn never_drops_a_scanner_id_package_triple(reports in arb_reports()) {
        let out = merged(&reports);
        for f in reports.iter().flat_map(|r| &r.findings) {
            let identity = f.package.as_ref().map(Package::identity);
            for s in &f.sources {
                let found = out.iter().any(|o| {
                    o.kind == f.kind
                        && o.ids().any(|id| id == f.id)
                        && o.package.as_ref().map(Package::identity) == identity
                        && o.sources.iter().any(|os| os.scanner == s.scanner && os.severity == s.severity)
                });
                prop_assert!(found, "lost ({}, {}, {:?})", s.scanner, f.id, identity);
            }
            // Its metadata is in the finding it was merged into.
            let version = f.package.as_ref().and_then(|p| p.version.as_ref());
            let into = out.iter().find(|o| {
                o.kind == f.kind
                    && o.ids().any(|id| id == f.id)
                    && o.package.as_ref().map(Package::identity) == identity
                    && o.package.as_ref().and_then(|p| p.version.as_ref()) == version
                    && f.locations.iter().all(|l| o.locations.contains(l))
            });
            let Some(into) = into else {
                return Err(TestCaseError::fail(format!("{} not found", f.id)));
            };
            prop_assert!(f.references.iter().all(|r| into.references.contains(r)));
            prop_assert!(f.fixed_versions.iter().all(|v| into.fixed_versions.contains(v)));
            prop_assert!(into.severity >= f.severity);
            prop_assert!(into.title.as_ref() <= f.title.as_ref() || f.title.is_none());
            prop_assert!(into.description.as_ref().map_or(0, String::len) >= f.description.as_ref().map_or(0, String::len));
        }
        // And the output is sorted by severity, descending.
        prop_assert!(out.windows(2).all(|w| w[0].severity >= w[1].severity));
    }
}

/// The merged report of `reports`.
fn merged_report(reports: &[ScanReport]) -> Report {
    let mut m = Merger::new();
    for r in reports {
        m.add(r.clone());
    }
    m.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_report_against_itself_is_all_unchanged(reports in arb_reports()) {
        let baseline = merged_report(&reports);
        let mut now = baseline.clone();
        let c = now.compare(&baseline).unwrap().clone();
        prop_assert_eq!((c.new, c.updated, c.absent.len()), (0, 0, 0));
        prop_assert_eq!(c.unchanged, now.findings.len());
        prop_assert!(now
            .findings
            .iter()
            .all(|f| f.baseline_state == Some(paragon_core::BaselineState::Unchanged)));
    }

    #[test]
    fn against_an_empty_baseline_all_is_new(reports in arb_reports()) {
        let mut now = merged_report(&reports);
        let c = now.compare(&Report::concat([])).unwrap().clone();
        prop_assert_eq!((c.unchanged, c.updated, c.absent.len()), (0, 0, 0));
        prop_assert_eq!(c.new, now.findings.len());
    }

    #[test]
    fn fingerprints_do_not_depend_on_input_order(reports in arb_reports(), seed in any::<u64>()) {
        let prints = |rs: &[ScanReport]| {
            let mut p: Vec<String> = merged(rs).iter().map(Finding::fingerprint).collect();
            p.sort();
            p
        };
        let expected = prints(&reports);
        let mut shuffled = reports.clone();
        shuffled.reverse();
        let mut state = seed | 1;
        for r in &mut shuffled {
            for i in (1..r.findings.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                r.findings.swap(i, (state % (i as u64 + 1)) as usize);
            }
        }
        prop_assert_eq!(prints(&shuffled), expected);
        // And an earlier run in another order is all unchanged.
        let mut now = merged_report(&shuffled);
        let c = now.compare(&merged_report(&reports)).unwrap();
        prop_assert_eq!((c.new, c.absent.len()), (0, 0));
    }
}
