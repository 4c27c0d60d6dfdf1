//! Findings over time: a stable fingerprint per finding, and the
//! comparison of a report with an earlier one (its baseline).
//!
//! A gate that sees only today's report fails every build of an old
//! service; one that sees what is *new* against the last accepted report
//! can be switched on today. [`Report::compare`] marks each finding
//! [`New`](BaselineState::New), [`Unchanged`](BaselineState::Unchanged) or
//! [`Updated`](BaselineState::Updated) and lists the baseline's findings
//! that are gone ([`Comparison::absent`]: fixed, or no longer scanned). A
//! policy with `scope = "new"` then gates only the new ones.
//!
//! # The fingerprint
//!
//! [`Finding::fingerprint`] is 32 lower-case hex digits: the 128-bit XXH3
//! hash of these parts, each as its byte length (8 bytes, little-endian)
//! followed by its UTF-8 bytes:
//!
//! 1. `paragon-fingerprint-1`;
//! 2. the kind (`vulnerability`, `misconfiguration`, `secret`, `weakness`,
//!    `license`);
//! 3. the canonical id: among the finding's id and aliases, a CVE id
//!    first, then a GHSA id, then any other, the smallest within a rank,
//!    in upper case;
//! 4. for vulnerabilities and licences, the package's
//!    [identity](crate::model::package_identity) — ecosystem, U+001F and
//!    canonical name (`pypi\u{1f}django`), *without the version*, so that an upgrade that still carries
//!    the CVE is `unchanged`, not fixed plus new — or nothing when there is
//!    no package;
//! 5. for misconfigurations, secrets and weaknesses, the place: the first
//!    location's file (its path, or its target), then the resource for a
//!    misconfiguration that names one, else the start line (and, for a
//!    weakness, the end line).
//!
//! It does not depend on the scanners' order, on which scanners reported
//! the finding, on its severity, fix or description, or on the Paragon
//! version, for one [`SCHEMA_VERSION`]: a change to these rules bumps the
//! schema version, and comparing reports of two schema versions is an
//! error.
//!
//! # Matching
//!
//! Findings are matched by fingerprint. Two findings of one report can
//! share one (a package installed at two versions); they are matched in
//! order against the baseline's findings with that fingerprint, and the
//! ones left over are new (in the report) or absent (in the baseline). A
//! matched finding whose severity or fixed versions differ from the
//! baseline's is `updated`.

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::finding::{is_cve, Finding, FindingKind};
use crate::model::package_identity::write_identity;
use crate::model::report::Report;
use crate::SCHEMA_VERSION;

/// How a finding stands against the baseline (the names are SARIF's
/// `baselineState` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineState {
    /// Not in the baseline.
    New,
    /// In the baseline, with the same severity and fixed versions.
    Unchanged,
    /// In the baseline, with another severity or other fixed versions.
    Updated,
    /// In the baseline only (listed in [`Comparison::absent`]).
    Absent,
}

impl BaselineState {
    /// The lower-case name (`new`, `unchanged`, `updated`, `absent`).
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineState::New => "new",
            BaselineState::Unchanged => "unchanged",
            BaselineState::Updated => "updated",
            BaselineState::Absent => "absent",
        }
    }
}

impl std::fmt::Display for BaselineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`Report::compare`], kept in [`Report::baseline`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Comparison {
    /// Findings not in the baseline.
    pub new: usize,
    /// Findings in the baseline, as they were.
    pub unchanged: usize,
    /// Findings in the baseline with another severity or fix.
    pub updated: usize,
    /// The baseline's findings that are not in the report (fixed, or no
    /// longer scanned), each marked [`BaselineState::Absent`].
    pub absent: Vec<Finding>,
}

/// Appends `s` prefixed by its byte length.
fn part(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// The rank of an id for the canonical choice: CVE, then GHSA, then any
/// other.
fn rank(id: &str) -> u8 {
    if is_cve(id) {
        0
    } else if id.len() >= 5 && id.as_bytes()[..5].eq_ignore_ascii_case(b"GHSA-") {
        1
    } else {
        2
    }
}

/// The canonical id of a finding: CVE, then GHSA, then any other; the
/// smallest, in upper case, within a rank. (Returned as it is spelled; the
/// fingerprint takes it in upper case.)
fn canonical_id(f: &Finding) -> &str {
    fn upper_iter(s: &str) -> impl Iterator<Item = u8> + '_ {
        s.bytes().map(|b| b.to_ascii_uppercase())
    }
    let mut best: Option<&str> = None;
    for id in f.ids() {
        let better = match best {
            None => true,
            Some(b) => {
                rank(id)
                    .cmp(&rank(b))
                    .then_with(|| upper_iter(id).cmp(upper_iter(b)))
                    == std::cmp::Ordering::Less
            }
        };
        if better {
            best = Some(id);
        }
    }
    best.unwrap_or("")
}

/// Writes the place of a misconfiguration, secret or weakness (see the
/// module docs) into `out` (cleared first); empty for other kinds or
/// without a location.
fn write_place(f: &Finding, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    let Some(loc) = f.locations.iter().min() else {
        return;
    };
    let file = loc.path.as_deref().or(loc.target.as_deref()).unwrap_or("");
    let line = |out: &mut String, l: Option<u32>| {
        if let Some(l) = l {
            let _ = write!(out, "{l}");
        }
    };
    match f.kind {
        FindingKind::Misconfiguration => {
            out.push_str(file);
            out.push('\u{1f}');
            match &loc.resource {
                Some(r) => {
                    out.push_str("r:");
                    out.push_str(r);
                }
                None => {
                    out.push_str("l:");
                    line(out, loc.start_line);
                }
            }
        }
        FindingKind::Secret => {
            out.push_str(file);
            out.push('\u{1f}');
            line(out, loc.start_line);
        }
        FindingKind::Weakness => {
            out.push_str(file);
            out.push('\u{1f}');
            line(out, loc.start_line);
            out.push('-');
            line(out, loc.end_line);
        }
        FindingKind::Vulnerability | FindingKind::License => {}
    }
}

/// Buffers reused from one fingerprint to the next.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    text: String,
}

/// The 128-bit fingerprint of `f` (see the module docs).
fn fingerprint_hash(f: &Finding, s: &mut Scratch) -> u128 {
    s.bytes.clear();
    part(&mut s.bytes, "paragon-fingerprint-1");
    part(&mut s.bytes, f.kind.as_str());
    let id = canonical_id(f);
    s.bytes.extend_from_slice(&(id.len() as u64).to_le_bytes());
    s.bytes.extend(id.bytes().map(|b| b.to_ascii_uppercase()));
    match f.kind {
        FindingKind::Vulnerability | FindingKind::License => match &f.package {
            Some(p) => {
                write_identity(p, &mut s.text);
                part(&mut s.bytes, &s.text);
            }
            None => part(&mut s.bytes, ""),
        },
        _ => {
            write_place(f, &mut s.text);
            part(&mut s.bytes, &s.text);
        }
    }
    xxhash_rust::xxh3::xxh3_128(&s.bytes)
}

impl Finding {
    /// The finding's stable fingerprint: 32 hex digits that stay the same
    /// across runs, scanner orders and Paragon versions of one schema
    /// version (see the [module docs](self) for what goes in).
    pub fn fingerprint(&self) -> String {
        format!("{:032x}", fingerprint_hash(self, &mut Scratch::default()))
    }
}

/// Whether two matched findings differ in what `updated` is about.
fn changed(now: &Finding, then: &Finding) -> bool {
    if now.severity != then.severity {
        return true;
    }
    if now.fixed_versions == then.fixed_versions {
        return false;
    }
    let mut a: Vec<&str> = now.fixed_versions.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = then.fixed_versions.iter().map(String::as_str).collect();
    a.sort_unstable();
    b.sort_unstable();
    a != b
}

impl Report {
    /// Compares this report with `baseline` (an earlier report of the same
    /// service): sets each finding's
    /// [`baseline_state`](Finding::baseline_state) and
    /// [`Report::baseline`], and recounts nothing else. A verdict already
    /// recorded is left as it is: apply the policy after comparing.
    ///
    /// # Errors
    ///
    /// [`Error::Baseline`] when `baseline` is of another
    /// [`schema_version`](Report::schema_version) than this report (its
    /// fingerprints would not be comparable).
    ///
    /// # Example
    ///
    /// ```
    /// use paragon_core::{BaselineState, Finding, FindingKind, Report, ScanReport, ScannerInfo, Severity};
    ///
    /// let report = |ids: &[&str]| {
    ///     let mut scan = ScanReport::new(ScannerInfo::new("trivy", None::<String>));
    ///     for id in ids {
    ///         scan.findings.push(Finding::new(FindingKind::Vulnerability, *id, Severity::High));
    ///     }
    ///     Report::concat([scan])
    /// };
    /// let baseline = report(&["CVE-2024-1", "CVE-2024-2"]);
    /// let mut today = report(&["CVE-2024-2", "CVE-2024-3"]);
    /// today.compare(&baseline)?;
    /// let states: Vec<_> = today.findings.iter().map(|f| f.baseline_state).collect();
    /// assert_eq!(states, [Some(BaselineState::Unchanged), Some(BaselineState::New)]);
    /// let comparison = today.baseline.as_ref().unwrap();
    /// assert_eq!(comparison.absent[0].id, "CVE-2024-1");
    /// # Ok::<(), paragon_core::Error>(())
    /// ```
    pub fn compare(&mut self, baseline: &Report) -> Result<&Comparison> {
        let (mut comparison, absent) = self.match_findings(baseline)?;
        comparison.absent = absent
            .into_iter()
            .map(|i| baseline.findings[i].clone())
            .collect();
        Ok(self.record_comparison(comparison))
    }

    /// As [`Report::compare`], taking the baseline: its absent findings
    /// are moved into the comparison rather than cloned (the cheaper way
    /// when the baseline is read only to be compared with).
    ///
    /// # Errors
    ///
    /// As [`Report::compare`].
    pub fn compare_owned(&mut self, baseline: Report) -> Result<&Comparison> {
        let (mut comparison, absent) = self.match_findings(&baseline)?;
        let mut gone = vec![false; baseline.findings.len()];
        for i in absent {
            gone[i] = true;
        }
        comparison.absent = baseline
            .findings
            .into_iter()
            .zip(gone)
            .filter_map(|(f, gone)| gone.then_some(f))
            .collect();
        Ok(self.record_comparison(comparison))
    }

    /// Marks the findings against `baseline`; the counts, and the indices
    /// (ascending) of the baseline's findings that matched none.
    fn match_findings(&mut self, baseline: &Report) -> Result<(Comparison, Vec<usize>)> {
        if baseline.schema_version != self.schema_version {
            return Err(Error::Baseline {
                message: format!(
                    "the baseline is of schema version {}, this report of {}; \
                     fingerprints are comparable within one schema version only",
                    baseline.schema_version, self.schema_version
                ),
            });
        }
        let mut scratch = Scratch::default();
        // Each fingerprint of the baseline, with the baseline's findings
        // that have it, last first (matched by popping).
        let mut earlier: FxHashMap<u128, Vec<usize>> = FxHashMap::default();
        earlier.reserve(baseline.findings.len());
        for (i, f) in baseline.findings.iter().enumerate().rev() {
            earlier
                .entry(fingerprint_hash(f, &mut scratch))
                .or_default()
                .push(i);
        }
        let mut comparison = Comparison::default();
        for f in &mut self.findings {
            let matched = earlier
                .get_mut(&fingerprint_hash(f, &mut scratch))
                .and_then(Vec::pop);
            let state = match matched {
                None => BaselineState::New,
                Some(i) if changed(f, &baseline.findings[i]) => BaselineState::Updated,
                Some(_) => BaselineState::Unchanged,
            };
            match state {
                BaselineState::New => comparison.new += 1,
                BaselineState::Updated => comparison.updated += 1,
                _ => comparison.unchanged += 1,
            }
            f.baseline_state = Some(state);
        }
        let mut absent: Vec<usize> = earlier.into_values().flatten().collect();
        absent.sort_unstable();
        Ok((comparison, absent))
    }

    /// Marks the absent findings and keeps the comparison.
    fn record_comparison(&mut self, mut comparison: Comparison) -> &Comparison {
        for f in &mut comparison.absent {
            f.baseline_state = Some(BaselineState::Absent);
        }
        self.baseline.insert(comparison)
    }

    /// Reads a baseline: a Paragon JSON report of this
    /// [`SCHEMA_VERSION`], named `name` (its file) in errors.
    ///
    /// # Errors
    ///
    /// [`Error::Baseline`] naming `name` when the bytes are not a Paragon
    /// report (with the parser's line and column) or are one of another
    /// schema version.
    pub fn baseline_from_json(name: &str, bytes: &[u8]) -> Result<Report> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: Option<u32>,
        }
        let not_a_report = |e: serde_json::Error| Error::Baseline {
            message: format!("`{name}` is not a Paragon JSON report: {e}"),
        };
        let version: Version = serde_json::from_slice(bytes).map_err(not_a_report)?;
        match version.schema_version {
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(Error::Baseline {
                    message: format!(
                        "`{name}` is a report of schema version {v}; this Paragon reads \
                         version {SCHEMA_VERSION}"
                    ),
                })
            }
            None => {
                return Err(Error::Baseline {
                    message: format!(
                        "`{name}` is not a Paragon JSON report (it has no `schema_version`)"
                    ),
                })
            }
        }
        serde_json::from_slice(bytes).map_err(not_a_report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::{Location, Package, Severity, Source};
    use crate::model::scan_report::{ScanReport, ScannerInfo};

    fn vuln(id: &str, aliases: &[&str], pkg: &str, version: &str, sev: Severity) -> Finding {
        let mut f = Finding::new(FindingKind::Vulnerability, id, sev);
        for a in aliases {
            f.add_alias(*a);
        }
        f.package = Some(
            Package::new(pkg)
                .with_version(Some(version))
                .with_purl_str(Some(&format!("pkg:pypi/{pkg}@{version}"))),
        );
        f.sources.push(Source::new("grype", sev, None));
        f
    }

    fn report(findings: Vec<Finding>) -> Report {
        let mut scan = ScanReport::new(ScannerInfo::new("grype", None::<String>));
        scan.findings = findings;
        Report::concat([scan])
    }

    #[test]
    fn the_fingerprint_ignores_version_scanner_alias_order_and_spelling() {
        let a = vuln(
            "CVE-2021-44420",
            &["GHSA-v6rh-hp5x-86rv"],
            "Django",
            "3.2.9",
            Severity::High,
        );
        let mut b = vuln(
            "GHSA-v6rh-hp5x-86rv",
            &["cve-2021-44420"],
            "django",
            "3.2.10",
            Severity::Low,
        );
        b.sources[0] = Source::new("trivy", Severity::Low, None);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 32);
        let other = vuln("CVE-2021-44420", &[], "flask", "3.2.9", Severity::High);
        assert_ne!(a.fingerprint(), other.fingerprint());
    }

    #[test]
    fn the_fingerprint_of_a_rule_finding_is_its_rule_and_place() {
        let at = |line| {
            let mut f = Finding::new(FindingKind::Secret, "aws-access-key-id", Severity::Critical);
            f.add_location(
                Location::new()
                    .with_path(Some("app/.env"))
                    .with_lines(Some(line), None),
            );
            f
        };
        assert_eq!(at(3).fingerprint(), at(3).fingerprint());
        assert_ne!(at(3).fingerprint(), at(4).fingerprint());
        let mut misconf = Finding::new(FindingKind::Misconfiguration, "KSV001", Severity::Medium);
        misconf.add_location(
            Location::new()
                .with_path(Some("deploy.yaml"))
                .with_lines(Some(10), None)
                .with_resource(Some("Deployment/web")),
        );
        let mut moved = misconf.clone();
        moved.locations[0] = moved.locations[0].clone().with_lines(Some(40), None);
        assert_eq!(misconf.fingerprint(), moved.fingerprint());
    }

    /// A fixed value: the fingerprint must not change within a schema
    /// version, whatever changes in the code. It is what the documented
    /// encoding gives with any XXH3-128 implementation (Python's
    /// `xxhash.xxh3_128_hexdigest` included).
    #[test]
    fn the_fingerprint_is_stable() {
        let f = vuln("CVE-2021-44420", &[], "django", "3.2.9", Severity::High);
        assert_eq!(f.fingerprint(), "a9431d1e4e9d1f03e37ea591920d625f");
    }

    #[test]
    fn compare_marks_new_unchanged_updated_and_absent() {
        let baseline = report(vec![
            vuln("CVE-1", &[], "a", "1", Severity::High),
            vuln("CVE-2", &[], "b", "1", Severity::Low),
            vuln("CVE-3", &[], "c", "1", Severity::Medium),
        ]);
        let mut now = report(vec![
            vuln("CVE-1", &[], "a", "2", Severity::High),
            vuln("CVE-2", &[], "b", "1", Severity::Critical),
            vuln("CVE-4", &[], "d", "1", Severity::Low),
        ]);
        let c = now.compare(&baseline).unwrap().clone();
        let states: Vec<_> = now
            .findings
            .iter()
            .map(|f| f.baseline_state.unwrap())
            .collect();
        assert_eq!(
            states,
            [
                BaselineState::Unchanged,
                BaselineState::Updated,
                BaselineState::New
            ]
        );
        assert_eq!((c.new, c.unchanged, c.updated), (1, 1, 1));
        assert_eq!(c.absent.len(), 1);
        assert_eq!(c.absent[0].id, "CVE-3");
        assert_eq!(c.absent[0].baseline_state, Some(BaselineState::Absent));
    }

    #[test]
    fn compare_owned_gives_what_compare_gives() {
        let baseline = report(vec![
            vuln("CVE-1", &[], "a", "1", Severity::High),
            vuln("CVE-3", &[], "c", "1", Severity::Medium),
            vuln("CVE-5", &[], "e", "1", Severity::Low),
        ]);
        let now = report(vec![vuln("CVE-3", &[], "c", "1", Severity::High)]);
        let (mut a, mut b) = (now.clone(), now);
        a.compare(&baseline).unwrap();
        b.compare_owned(baseline).unwrap();
        assert_eq!(a, b);
        let absent: Vec<&str> = a
            .baseline
            .as_ref()
            .unwrap()
            .absent
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(absent, ["CVE-1", "CVE-5"]);
    }

    #[test]
    fn two_findings_with_one_fingerprint_are_matched_one_to_one() {
        let baseline = report(vec![vuln("CVE-1", &[], "a", "1", Severity::High)]);
        let mut now = report(vec![
            vuln("CVE-1", &[], "a", "1", Severity::High),
            vuln("CVE-1", &[], "a", "2", Severity::High),
        ]);
        let c = now.compare(&baseline).unwrap();
        assert_eq!((c.new, c.unchanged, c.absent.len()), (1, 1, 0));
    }

    #[test]
    fn a_policy_scoped_to_new_gates_only_what_is_new() {
        use crate::gate::policy::{Ignore, Policy, Scope};
        let baseline = report(vec![vuln("CVE-1", &[], "a", "1", Severity::Critical)]);
        let mut now = report(vec![
            vuln("CVE-1", &[], "a", "2", Severity::Critical),
            vuln("CVE-2", &[], "b", "1", Severity::High),
            vuln("CVE-3", &[], "c", "1", Severity::High),
        ]);
        now.compare(&baseline).unwrap();
        let mut policy = Policy {
            fail_on: Some(Severity::High),
            ..Policy::default()
        };
        let all = policy.evaluate(&now.findings);
        assert_eq!(all.failures.len(), 3);
        policy.scope = Scope::New;
        policy.ignore.push(Ignore {
            id: "CVE-3".into(),
            package: None,
            reason: "not reachable".into(),
            expires: None,
        });
        let new = policy.evaluate(&now.findings);
        let failed: Vec<&str> = new.failures.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(failed, ["CVE-2"]);
        assert_eq!(new.suppressed.len(), 1);
        assert_eq!(new.scope, Scope::New);
        let parsed = Policy::parse(
            "fail_on = \"high\"\nscope = \"new\"\n",
            crate::gate::policy::PolicyFormat::Toml,
        )
        .unwrap();
        assert_eq!(parsed.scope, Scope::New);
        assert!(
            Policy::parse("scope = \"old\"\n", crate::gate::policy::PolicyFormat::Toml).is_err()
        );
    }

    #[test]
    fn a_baseline_of_another_schema_or_no_report_is_an_error_naming_it() {
        let mut old = report(vec![]);
        old.schema_version = 0;
        let err = report(vec![]).compare(&old).unwrap_err();
        assert!(err.to_string().contains("schema version 0"), "{err}");
        let err = Report::baseline_from_json("last.json", b"{\"schema_version\": 7}").unwrap_err();
        assert!(
            err.to_string().contains("`last.json`") && err.to_string().contains("7"),
            "{err}"
        );
        let err =
            Report::baseline_from_json("trivy.json", br#"{"SchemaVersion": 2, "Results": []}"#)
                .unwrap_err();
        assert!(
            err.to_string().contains("not a Paragon JSON report"),
            "{err}"
        );
        let err = Report::baseline_from_json("junk.json", b"[1, 2").unwrap_err();
        assert!(err.to_string().contains("`junk.json`"), "{err}");
    }
}
