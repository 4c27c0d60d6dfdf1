//! The versioned JSON document Paragon writes for a set of scan reports.
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "summary": {
//!     "total": 3,
//!     "by_kind": {"vulnerability": 2, "misconfiguration": 1, "secret": 0, "weakness": 0, "license": 0},
//!     "by_severity": {"critical": 1, "high": 1, "medium": 1, "low": 0, "info": 0, "unknown": 0},
//!     "by_scanner": {"grype": 1, "trivy": 2},
//!     "sbom": {"documents": 1, "components": 40, "components_with_purl": 38}
//!   },
//!   "inputs": [{"scanner": {"name": "trivy", "version": "0.59.1"}, "target": "app:1.0", "findings": 2, "sbom": null}],
//!   "findings": [{"kind": "vulnerability", "id": "CVE-2021-44228", "aliases": [], "severity": "critical", "…": "…"}]
//! }
//! ```
//!
//! # Versioning
//!
//! `schema_version` is [`SCHEMA_VERSION`]. Adding a field keeps the version;
//! removing or renaming a field, or changing a field's meaning, bumps it.
//! Readers should ignore fields they do not know.
//!
//! Each finding serializes every field of [`Finding`]: `kind`, `id`,
//! `aliases`, `severity`, `cvss` (`version`, `score`, `vector`, `source`),
//! `package` (`name`, `version`, `purl`, `ecosystem`, or `null`),
//! `fixed_versions`, `locations` (`target`, `path`, `start_line`,
//! `end_line`, `resource`), `cwes`, `title`, `description`, `references` and
//! `sources` (`scanner`, `severity`, `target`). Optional values are `null`
//! when absent and lists are empty, never missing — except inside a
//! location, whose absent fields are left out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gate::policy::{Policy, Verdict};
use crate::model::finding::{Finding, FindingKind, Severity};
use crate::model::scan_report::{SbomSummary, ScanReport, ScannerInfo};
use crate::SCHEMA_VERSION;

/// Counts per finding kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct KindCounts {
    pub vulnerability: usize,
    pub misconfiguration: usize,
    pub secret: usize,
    pub weakness: usize,
    pub license: usize,
}

impl KindCounts {
    /// The count of one kind.
    pub fn get(&self, kind: FindingKind) -> usize {
        match kind {
            FindingKind::Vulnerability => self.vulnerability,
            FindingKind::Misconfiguration => self.misconfiguration,
            FindingKind::Secret => self.secret,
            FindingKind::Weakness => self.weakness,
            FindingKind::License => self.license,
        }
    }

    fn slot(&mut self, kind: FindingKind) -> &mut usize {
        match kind {
            FindingKind::Vulnerability => &mut self.vulnerability,
            FindingKind::Misconfiguration => &mut self.misconfiguration,
            FindingKind::Secret => &mut self.secret,
            FindingKind::Weakness => &mut self.weakness,
            FindingKind::License => &mut self.license,
        }
    }
}

/// Counts per severity, most severe first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub unknown: usize,
}

impl SeverityCounts {
    /// The count of one severity.
    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
            Severity::Unknown => self.unknown,
        }
    }

    fn slot(&mut self, severity: Severity) -> &mut usize {
        match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Info => &mut self.info,
            Severity::Unknown => &mut self.unknown,
        }
    }
}

/// SBOM totals over every input that carried an SBOM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbomTotals {
    /// How many SBOM documents were read.
    pub documents: usize,
    /// Components listed, summed over the documents.
    pub components: usize,
    /// Components with a valid purl, summed over the documents.
    pub components_with_purl: usize,
}

/// The summary block of a [`Report`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of findings.
    pub total: usize,
    /// Findings per kind.
    pub by_kind: KindCounts,
    /// Findings per severity.
    pub by_severity: SeverityCounts,
    /// Findings per scanner: a finding counts once for every scanner among its sources.
    pub by_scanner: BTreeMap<String, usize>,
    /// SBOM component totals.
    pub sbom: SbomTotals,
}

impl Summary {
    /// Counts a set of findings (SBOM totals are left at zero).
    pub fn of_findings<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Summary {
        let mut s = Summary::default();
        // The distinct scanners of one finding (a handful, however many
        // sources a merged finding has).
        let mut seen: Vec<&str> = Vec::new();
        for f in findings {
            s.count(f);
            seen.clear();
            for src in &f.sources {
                // A scanner named twice among one finding's sources counts once.
                if seen.contains(&&*src.scanner) {
                    continue;
                }
                seen.push(&src.scanner);
                match s.by_scanner.get_mut(&*src.scanner) {
                    Some(n) => *n += 1,
                    None => {
                        s.by_scanner.insert(src.scanner.to_string(), 1);
                    }
                }
            }
        }
        s
    }

    /// Counts findings by kind and severity, given their counts by scanner
    /// (which the merge gathers from its table of sources).
    pub(crate) fn with_scanners(
        findings: &[Finding],
        by_scanner: BTreeMap<String, usize>,
    ) -> Summary {
        let mut s = Summary {
            by_scanner,
            ..Summary::default()
        };
        for f in findings {
            s.count(f);
        }
        s
    }

    /// Counts one finding in the total, by kind and by severity.
    fn count(&mut self, f: &Finding) {
        self.total += 1;
        *self.by_kind.slot(f.kind) += 1;
        *self.by_severity.slot(f.severity) += 1;
    }
}

/// One input of a [`Report`]: which scanner, what it scanned, how much it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSummary {
    /// The scanner.
    pub scanner: ScannerInfo,
    /// What it scanned.
    pub target: Option<String>,
    /// How many findings its report held.
    pub findings: usize,
    /// Its SBOM inventory counts, when it was an SBOM.
    pub sbom: Option<SbomSummary>,
}

/// Paragon's report document over any number of scan reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The version of this JSON form ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Counts.
    pub summary: Summary,
    /// One entry per scan report that went in, in order.
    pub inputs: Vec<InputSummary>,
    /// The findings.
    pub findings: Vec<Finding>,
    /// The gate's verdict, when a policy was applied ([`Report::apply_policy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The comparison with a baseline, when one was made
    /// ([`Report::compare`]): the counts of new, unchanged and updated
    /// findings, and the baseline's findings that are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::model::baseline::Comparison>,
}

impl Report {
    /// Concatenates the findings of scan reports, in order, without merging.
    pub fn concat(reports: impl IntoIterator<Item = ScanReport>) -> Report {
        let mut inputs = Vec::new();
        let mut findings = Vec::new();
        let mut sbom = SbomTotals::default();
        for r in reports {
            let sbom_summary = r.sbom.as_ref().map(|s| s.summary());
            if let Some(s) = &sbom_summary {
                sbom.documents += 1;
                sbom.components += s.components;
                sbom.components_with_purl += s.components_with_purl;
            }
            inputs.push(InputSummary {
                scanner: r.scanner,
                target: r.target,
                findings: r.findings.len(),
                sbom: sbom_summary,
            });
            findings.extend(r.findings);
        }
        let mut summary = Summary::of_findings(&findings);
        summary.sbom = sbom;
        Report {
            schema_version: SCHEMA_VERSION,
            summary,
            inputs,
            findings,
            verdict: None,
            baseline: None,
        }
    }

    /// Evaluates a policy on the findings and records the verdict. With
    /// the feature `rego`, the policy's report rules see this report's
    /// JSON form (without a verdict) as `input`; their `deny` messages fail
    /// the gate, and an evaluation error fails it with the error as the
    /// message.
    pub fn apply_policy(&mut self, policy: &Policy) -> &Verdict {
        #[allow(unused_mut)]
        let mut verdict = policy.evaluate(&self.findings);
        #[cfg(feature = "rego")]
        self.apply_report_rules(policy, &mut verdict);
        self.verdict.insert(verdict)
    }

    /// The `deny` and `warn` messages of the policy's report rules.
    #[cfg(feature = "rego")]
    fn apply_report_rules(&mut self, policy: &Policy, verdict: &mut Verdict) {
        use crate::gate::policy::RuleMessage;
        let rules = &policy.rego_policy;
        if rules.is_empty() {
            return;
        }
        self.verdict = None;
        let outcome = serde_json::to_value(&*self)
            .map_err(|source| Error::Json { source })
            .and_then(|json| rules.report_messages(&json));
        let to_messages = |v: Vec<(String, String)>| {
            v.into_iter()
                .map(|(file, message)| RuleMessage { file, message })
                .collect::<Vec<_>>()
        };
        match outcome {
            Ok(m) => {
                verdict.denied = to_messages(m.deny);
                verdict.warnings = to_messages(m.warn);
            }
            Err(e) => verdict.denied.push(RuleMessage {
                file: rules
                    .files()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                message: e.to_string(),
            }),
        }
        verdict.passed = verdict.failures.is_empty() && verdict.denied.is_empty();
    }

    /// The report as compact JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if serialization fails (it does not for reports built by Paragon).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|source| Error::Json { source })
    }

    /// Writes the report as JSON (compact, or indented when `pretty`)
    /// without building it in memory first.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if writing fails (the source holds the I/O error).
    pub fn write_json<W: std::io::Write>(&self, writer: W, pretty: bool) -> Result<()> {
        let r = if pretty {
            serde_json::to_writer_pretty(writer, self)
        } else {
            serde_json::to_writer(writer, self)
        };
        r.map_err(|source| Error::Json { source })
    }

    /// The report as pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if serialization fails (it does not for reports built by Paragon).
    pub fn to_json_pretty(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| Error::Json { source })
    }

    /// Reads a report from its JSON form.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] with line and column when the input is not a report.
    pub fn from_json(bytes: &[u8]) -> Result<Report> {
        serde_json::from_slice(bytes).map_err(|source| Error::Json { source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::{Package, Source};
    use crate::model::scan_report::{Sbom, SbomFormat};

    fn finding(id: &str, sev: Severity, scanners: &[&str]) -> Finding {
        let mut f = Finding::new(FindingKind::Vulnerability, id, sev);
        f.package = Some(Package::new("pkg").with_version(Some("1.0")));
        for s in scanners {
            f.sources.push(Source::new(*s, sev, None));
        }
        f
    }

    #[test]
    fn concat_counts_and_round_trips() {
        let mut a = ScanReport::new(ScannerInfo::new("trivy", Some("0.59.1")));
        a.findings
            .push(finding("CVE-2021-1", Severity::High, &["trivy"]));
        a.findings
            .push(finding("CVE-2021-2", Severity::Low, &["trivy", "trivy"]));
        let mut b = ScanReport::new(ScannerInfo::new("syft", None::<String>));
        let mut sbom = Sbom::new(
            SbomFormat::CycloneDx,
            Some("1.6".into()),
            Default::default(),
        );
        sbom.push_component("a", Some("1".into()), Some("pkg:npm/a@1"), None);
        sbom.push_component("b", None, Some("not-a-purl"), None);
        b.sbom = Some(sbom);
        let report = Report::concat([a, b]);
        assert_eq!(report.summary.total, 2);
        assert_eq!(report.summary.by_severity.high, 1);
        assert_eq!(report.summary.by_severity.low, 1);
        assert_eq!(report.summary.by_kind.vulnerability, 2);
        assert_eq!(report.summary.by_scanner["trivy"], 2);
        assert_eq!(report.summary.sbom.components, 2);
        assert_eq!(report.summary.sbom.components_with_purl, 1);
        assert_eq!(report.inputs[1].sbom.as_ref().unwrap().invalid_purls, 1);
        let json = report.to_json_pretty().unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["schema_version"], 1);
        assert_eq!(
            value["findings"][0]["package"]["purl"],
            serde_json::Value::Null
        );
        assert_eq!(value["findings"][0]["sources"][0]["scanner"], "trivy");
        let back = Report::from_json(json.as_bytes()).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn from_json_rejects_garbage_with_position() {
        let err = Report::from_json(b"{\"schema_version\": 1,").unwrap_err();
        let Error::Json { source } = &err else {
            panic!("unexpected error {err:?}")
        };
        assert_eq!(source.line(), 1);
    }
}
