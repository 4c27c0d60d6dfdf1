//! Trivy's ignore policies, applied by Paragon and by real Trivy
//! (`trivy convert --format json --ignore-policy POLICY REPORT`, offline)
//! to the same Trivy reports, suppress the same findings.
//!
//! The policies are Trivy's own examples (`tests/fixtures/rego/trivy-*`)
//! and two of Paragon's (`held-back-*`), in Rego v0 and v1.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use paragon_core::gate::policy::{Policy, SuppressedBy};
use paragon_core::gate::rego::RegoPolicy;
use paragon_core::{Finding, Report, ScanReport};

use crate::support::{fixture, tool};

const POLICIES: &[&str] = &[
    "trivy-basic.rego",
    "trivy-advanced.rego",
    "trivy-whitelist.rego",
    "held-back-kinds.rego",
    "held-back-v1.rego",
];

const REPORTS: &[&str] = &[
    "trivy/scheme_2_many_vulns.json",
    "trivy/misconfigurations_and_secrets.json",
    "trivy/license_scheme.json",
    "trivy/cvss_severity_source.json",
    "trivy/all_statuses.json",
    "trivy/issue_9333.json",
];

/// What identifies a finding of one Trivy report.
type Key = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u32>,
);

fn key(f: &Finding) -> Key {
    let loc = f.locations.first();
    (
        f.kind.as_str().to_owned(),
        f.id.clone(),
        f.package.as_ref().map(|p| p.name.clone()),
        f.package.as_ref().and_then(|p| p.version.clone()),
        loc.and_then(|l| l.path.as_deref().or(l.target.as_deref()).map(str::to_owned)),
        loc.and_then(|l| l.start_line),
    )
}

fn keys<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> BTreeSet<Key> {
    findings.into_iter().map(key).collect()
}

fn policy(name: &str) -> PathBuf {
    fixture(&format!("rego/{name}"))
}

/// The findings real Trivy keeps after its ignore policy.
fn trivy_keeps(policy: &Path, report: &Path) -> BTreeSet<Key> {
    let out = Command::new(tool("trivy", "PARAGON_TRIVY"))
        .args(["convert", "--format", "json", "--ignore-policy"])
        .arg(policy)
        .arg(report)
        .env("TRIVY_NO_PROGRESS", "true")
        .output()
        .expect("trivy runs");
    assert!(
        out.status.success(),
        "trivy convert {}: {}",
        policy.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let kept: ScanReport = paragon_scanners::parse_any(&out.stdout).expect("trivy's output parses");
    keys(&kept.findings)
}

#[ignore = "needs trivy"]
#[test]
fn paragon_and_trivy_ignore_the_same_findings() {
    let mut suppressed_somewhere = 0;
    for name in POLICIES {
        let rego = RegoPolicy::from_files(&[policy(name)]).expect("the policy parses");
        let gate = Policy {
            rego_policy: rego,
            ..Policy::default()
        };
        for rel in REPORTS {
            let report = Report::concat([crate::support::load(rel)]);
            let verdict = gate.evaluate(&report.findings);
            assert!(
                verdict.failures.is_empty(),
                "{name} on {rel}: {:?}",
                verdict.failures
            );
            let ignored: BTreeSet<usize> = verdict
                .suppressed
                .iter()
                .inspect(|s| assert!(matches!(s.by, SuppressedBy::Rego { .. })))
                .map(|s| s.finding)
                .collect();
            let kept = keys(
                report
                    .findings
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !ignored.contains(i))
                    .map(|(_, f)| f),
            );
            let expected = trivy_keeps(&policy(name), &fixture(rel));
            assert_eq!(kept, expected, "{name} on {rel}");
            suppressed_somewhere += ignored.len();
        }
    }
    // The comparison is not vacuous: the policies suppress findings.
    assert!(suppressed_somewhere > 50, "{suppressed_somewhere}");
}
