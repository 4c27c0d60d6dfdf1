//! The gate: a [`Policy`] decides whether a merged report passes.
//!
//! A policy is read from TOML, YAML or JSON (same fields in each):
//!
//! ```toml
//! # Vulnerabilities: fail on any high or critical one…
//! fail_on = "high"
//! # …count only those with a fixed version…
//! only_fixable = true
//! # …and allow at most 10 medium ones.
//! max = { medium = 10 }
//!
//! [secrets]
//! fail_on = "unknown"      # any secret fails
//!
//! [misconfigurations]
//! fail_on = "critical"
//! max = { high = 3 }
//!
//! [weaknesses]
//! fail_on = "critical"
//!
//! [[ignore]]
//! id = "CVE-2021-44228"
//! package = "log4j-core"   # optional: a name or a purl
//! reason = "JNDI lookups disabled by LOG4J_FORMAT_MSG_NO_LOOKUPS"
//! expires = 2026-12-31     # after this date the rule no longer suppresses
//!
//! vex = ["vex/openvex.json", "vex/app.cdx.json"]   # relative to the policy file
//!
//! scope = "new"   # gate only findings new against the baseline (default "all")
//! ```
//!
//! Evaluation, per finding: an ignore rule naming one of its ids (and its
//! package, when the rule names one) suppresses it unless the rule has
//! expired (the verdict then lists the expired rule); otherwise a matching
//! [VEX](crate::gate::vex) statement suppresses it. Each remaining finding fails
//! when its severity is at or above its kind's `fail_on`; when a kind has
//! more findings of one severity than its `max` allows, all of them fail.
//! With `only_fixable`, findings without a fixed version are not counted.
//! With `scope = "new"`, findings the report's
//! [comparison with a baseline](crate::Report::compare) marked `unchanged`
//! or `updated` are not counted either: only new ones (and findings of a
//! report never compared) can fail it; ignore rules and VEX apply the same.
//! Licences have a section of their own (`[licenses]`). A policy with no
//! thresholds passes everything; [`Policy::recommended`] is a sensible start.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;

use crate::error::{Error, Result};
use crate::gate::vex::VexDocument;
use crate::model::baseline::BaselineState;
use crate::model::finding::{Finding, FindingKind, Package, Purl, Severity};

/// Maximum counts per severity (absent means no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Limits {
    pub critical: Option<usize>,
    pub high: Option<usize>,
    pub medium: Option<usize>,
    pub low: Option<usize>,
    pub info: Option<usize>,
    pub unknown: Option<usize>,
}

impl Limits {
    /// The limit for one severity.
    pub fn get(&self, severity: Severity) -> Option<usize> {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
            Severity::Unknown => self.unknown,
        }
    }
}

/// The thresholds of one kind of finding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rule {
    /// Fail on any finding at or above this severity (`unknown` = any finding).
    pub fail_on: Option<Severity>,
    /// Fail when there are more findings of a severity than this.
    pub max: Limits,
    /// Count only findings with a fixed version.
    pub only_fixable: bool,
}

/// An ignore rule: suppresses findings by id (and package), with a reason
/// and an optional expiry date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    /// A vulnerability or rule id; matches the finding's id or any alias.
    pub id: String,
    /// Limits the rule to a package: its name, or a purl (with or without version).
    #[serde(default)]
    pub package: Option<String>,
    /// Why the finding is accepted (required: it is shown in the verdict).
    pub reason: String,
    /// The last day the rule suppresses (`YYYY-MM-DD`).
    #[serde(default, with = "date_opt", skip_serializing_if = "Option::is_none")]
    pub expires: Option<Date>,
}

/// A gate policy. See the [module docs](self) for the file format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Vulnerabilities: fail on any at or above this severity.
    pub fail_on: Option<Severity>,
    /// Vulnerabilities: maximum counts per severity.
    pub max: Limits,
    /// Vulnerabilities: count only those with a fixed version.
    pub only_fixable: bool,
    /// Thresholds for misconfigurations.
    pub misconfigurations: Rule,
    /// Thresholds for secrets.
    pub secrets: Rule,
    /// Thresholds for weaknesses (SAST).
    pub weaknesses: Rule,
    /// Thresholds for licence findings.
    pub licenses: Rule,
    /// Ignore rules.
    pub ignore: Vec<Ignore>,
    /// VEX documents to load (paths relative to the policy file).
    pub vex: Vec<PathBuf>,
    /// Rego files to load (paths relative to the policy file): Trivy's
    /// ignore policies and report rules (see [`crate::gate::rego`]; needs
    /// the feature `rego`).
    pub rego: Vec<PathBuf>,
    /// Which findings the thresholds count: all, or only those new
    /// against a baseline.
    pub scope: Scope,
    /// The loaded VEX documents (from `vex`, and any added in code).
    #[serde(skip)]
    pub vex_documents: Vec<VexDocument>,
    /// The loaded Rego files (from `rego`, or set in code).
    #[cfg(feature = "rego")]
    #[serde(skip)]
    pub rego_policy: crate::gate::rego::RegoPolicy,
}

/// Which findings a policy's thresholds count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every finding of the report.
    #[default]
    All,
    /// Only findings new against the baseline the report was
    /// [compared](crate::Report::compare) with; a finding that was never
    /// compared counts as new.
    New,
}

/// The file format of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyFormat {
    /// TOML.
    Toml,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

impl PolicyFormat {
    /// The format a file extension names (`.toml`, `.yaml`/`.yml`, `.json`).
    pub fn from_path(path: &Path) -> Option<PolicyFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(PolicyFormat::Toml),
            "yaml" | "yml" => Some(PolicyFormat::Yaml),
            "json" => Some(PolicyFormat::Json),
            _ => None,
        }
    }
}

impl Policy {
    /// A sensible default: fail on critical vulnerabilities, on any secret,
    /// on critical misconfigurations and on critical (blocker) weaknesses.
    pub fn recommended() -> Policy {
        Policy {
            fail_on: Some(Severity::Critical),
            secrets: Rule {
                fail_on: Some(Severity::Unknown),
                ..Rule::default()
            },
            misconfigurations: Rule {
                fail_on: Some(Severity::Critical),
                ..Rule::default()
            },
            weaknesses: Rule {
                fail_on: Some(Severity::Critical),
                ..Rule::default()
            },
            ..Policy::default()
        }
    }

    /// Parses a policy from text. VEX paths are not loaded (see [`Policy::from_path`]).
    ///
    /// # Errors
    ///
    /// [`Error::Policy`] with the offending field and the line.
    pub fn parse(text: &str, format: PolicyFormat) -> Result<Policy> {
        let policy = match format {
            PolicyFormat::Toml => {
                let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, e, None))?;
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let field = Some(e.path().to_string());
                    toml_error(text, e.into_inner(), field)
                })?
            }
            PolicyFormat::Yaml => {
                let de = serde_norway::Deserializer::from_str(text);
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let field = Some(e.path().to_string()).filter(|p| p != ".");
                    let inner = e.into_inner();
                    let loc = inner.location();
                    Error::Policy {
                        file: None,
                        field,
                        line: loc.as_ref().map(|l| l.line()),
                        column: loc.as_ref().map(|l| l.column()),
                        message: inner.to_string(),
                    }
                })?
            }
            PolicyFormat::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let field = Some(e.path().to_string()).filter(|p| p != ".");
                    let inner = e.into_inner();
                    Error::Policy {
                        file: None,
                        field,
                        line: Some(inner.line()),
                        column: Some(inner.column()),
                        message: inner.to_string(),
                    }
                })?
            }
        };
        Ok(policy)
    }

    /// Reads a policy file (format from the extension) and loads the VEX
    /// documents it names, relative to the file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] for an unreadable file, [`Error::Policy`] naming the
    /// file, field and line, [`Error::Vex`] for a bad VEX document.
    pub fn from_path(path: &Path) -> Result<Policy> {
        let format = PolicyFormat::from_path(path).ok_or_else(|| Error::Policy {
            file: Some(path.to_owned()),
            field: None,
            line: None,
            column: None,
            message: "unknown policy format (use a .toml, .yaml, .yml or .json file)".to_owned(),
        })?;
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut policy = Policy::parse(&text, format).map_err(|e| match e {
            Error::Policy {
                field,
                line,
                column,
                message,
                ..
            } => Error::Policy {
                file: Some(path.to_owned()),
                field,
                line,
                column,
                message,
            },
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for vex in &policy.vex {
            policy
                .vex_documents
                .push(VexDocument::from_path(&base.join(vex))?);
        }
        policy.load_rego(base, path)?;
        Ok(policy)
    }

    /// Loads the `rego` files, relative to `base`.
    #[cfg(feature = "rego")]
    fn load_rego(&mut self, base: &Path, _policy_file: &Path) -> Result<()> {
        let files: Vec<PathBuf> = self.rego.iter().map(|r| base.join(r)).collect();
        self.rego_policy = crate::gate::rego::RegoPolicy::from_files(&files)?;
        Ok(())
    }

    /// Refuses `rego` files: this build cannot evaluate them.
    #[cfg(not(feature = "rego"))]
    fn load_rego(&mut self, _base: &Path, policy_file: &Path) -> Result<()> {
        if self.rego.is_empty() {
            return Ok(());
        }
        Err(Error::Policy {
            file: Some(policy_file.to_owned()),
            field: Some("rego".into()),
            line: None,
            column: None,
            message: "names Rego files, and paragon-core was built without its `rego` feature"
                .into(),
        })
    }

    /// Adds a VEX document.
    #[must_use]
    pub fn with_vex(mut self, doc: VexDocument) -> Policy {
        self.vex_documents.push(doc);
        self
    }

    /// The thresholds of one kind.
    pub fn rule(&self, kind: FindingKind) -> Rule {
        match kind {
            FindingKind::Vulnerability => Rule {
                fail_on: self.fail_on,
                max: self.max,
                only_fixable: self.only_fixable,
            },
            FindingKind::Misconfiguration => self.misconfigurations,
            FindingKind::Secret => self.secrets,
            FindingKind::Weakness => self.weaknesses,
            FindingKind::License => self.licenses,
        }
    }

    /// Evaluates the policy on findings as of today (UTC).
    pub fn evaluate(&self, findings: &[Finding]) -> Verdict {
        self.evaluate_at(findings, time::OffsetDateTime::now_utc().date())
    }

    /// Evaluates the policy on findings as of a given day.
    pub fn evaluate_at(&self, findings: &[Finding], today: Date) -> Verdict {
        let mut verdict = Verdict {
            passed: true,
            scope: self.scope,
            evaluated_on: today,
            failures: Vec::new(),
            suppressed: Vec::new(),
            expired_ignores: Vec::new(),
            denied: Vec::new(),
            warnings: Vec::new(),
        };
        let mut counted: Vec<usize> = Vec::new();
        // The Rego ignore policies' answers, for every finding at once.
        #[cfg(feature = "rego")]
        let mut rego = if self.rego_policy.is_empty() {
            Vec::new()
        } else {
            self.rego_policy.ignored_all(findings)
        };
        'findings: for (i, f) in findings.iter().enumerate() {
            let mut expired: Option<&Ignore> = None;
            for rule in self.ignore.iter().filter(|r| r.matches(f)) {
                match rule.expires {
                    Some(day) if day < today => expired = expired.or(Some(rule)),
                    _ => {
                        verdict.suppressed.push(Suppression::new(
                            i,
                            f,
                            SuppressedBy::Ignore { rule: rule.clone() },
                        ));
                        continue 'findings;
                    }
                }
            }
            if let Some(rule) = expired {
                verdict.expired_ignores.push(ExpiredIgnore {
                    finding: i,
                    id: f.id.clone(),
                    rule: rule.clone(),
                });
            }
            #[cfg(feature = "rego")]
            match rego
                .get_mut(i)
                .map_or(Ok(None), |r| std::mem::replace(r, Ok(None)))
            {
                Ok(Some(file)) => {
                    verdict
                        .suppressed
                        .push(Suppression::new(i, f, SuppressedBy::Rego { file }));
                    continue 'findings;
                }
                Ok(None) => {}
                // An ignore policy that cannot be evaluated fails the
                // finding: a broken exception never lets it through.
                Err(e) => {
                    verdict.failures.push(Failure::new(i, f, e.to_string()));
                    continue 'findings;
                }
            }
            for doc in &self.vex_documents {
                if let Some(s) = doc.matching(f) {
                    verdict.suppressed.push(Suppression::new(
                        i,
                        f,
                        SuppressedBy::Vex {
                            document: doc.name.clone(),
                            status: s.status.clone(),
                            justification: s.justification.clone(),
                        },
                    ));
                    continue 'findings;
                }
            }
            let rule = self.rule(f.kind);
            if rule.only_fixable && !f.is_fixable() {
                continue;
            }
            if self.scope == Scope::New
                && matches!(
                    f.baseline_state,
                    Some(BaselineState::Unchanged | BaselineState::Updated)
                )
            {
                continue;
            }
            counted.push(i);
            if let Some(threshold) = rule.fail_on {
                if f.severity >= threshold {
                    verdict.failures.push(Failure::new(
                        i,
                        f,
                        format!("{} at or above `{threshold}`", plural(f.kind)),
                    ));
                }
            }
        }
        // Count limits, per kind and severity.
        for kind in FindingKind::ALL {
            let rule = self.rule(kind);
            for severity in Severity::DESCENDING {
                let Some(limit) = rule.max.get(severity) else {
                    continue;
                };
                let over: Vec<usize> = counted
                    .iter()
                    .copied()
                    .filter(|&i| findings[i].kind == kind && findings[i].severity == severity)
                    .collect();
                if over.len() > limit {
                    for i in over.iter().copied() {
                        if !verdict.failures.iter().any(|x| x.finding == i) {
                            verdict.failures.push(Failure::new(
                                i,
                                &findings[i],
                                format!(
                                    "{} {severity} {} found, at most {limit} allowed",
                                    over.len(),
                                    plural(kind)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        verdict.failures.sort_by_key(|f| f.finding);
        verdict.passed = verdict.failures.is_empty();
        verdict
    }
}

fn plural(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Vulnerability => "vulnerabilities",
        FindingKind::Misconfiguration => "misconfigurations",
        FindingKind::Secret => "secrets",
        FindingKind::Weakness => "weaknesses",
        FindingKind::License => "licenses",
    }
}

impl Ignore {
    /// Whether the rule names the finding (by id or alias, and package).
    pub fn matches(&self, f: &Finding) -> bool {
        if !f.ids().any(|id| id.eq_ignore_ascii_case(&self.id)) {
            return false;
        }
        let Some(want) = &self.package else {
            return true;
        };
        let Some(pkg) = &f.package else {
            return false;
        };
        if want.starts_with("pkg:") {
            let Ok(purl) = Purl::parse(want) else {
                return false;
            };
            let product = Package::new(purl.name()).with_purl_str(Some(purl.as_str()));
            product.identity() == pkg.identity()
                && purl
                    .version()
                    .is_none_or(|v| pkg.version.as_deref() == Some(v))
        } else {
            pkg.name.eq_ignore_ascii_case(want)
                || pkg
                    .purl
                    .as_ref()
                    .is_some_and(|p| p.name().eq_ignore_ascii_case(want))
        }
    }
}

/// The gate's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Verdict {
    /// True when no finding failed.
    pub passed: bool,
    /// Which findings the thresholds counted.
    #[serde(default)]
    pub scope: Scope,
    /// The day the policy was evaluated on (for expiry dates).
    #[serde(with = "date")]
    pub evaluated_on: Date,
    /// Each failing finding and the rule that failed it.
    pub failures: Vec<Failure>,
    /// Each suppressed finding and what suppressed it.
    pub suppressed: Vec<Suppression>,
    /// Ignore rules that matched a finding but had expired.
    pub expired_ignores: Vec<ExpiredIgnore>,
    /// The `deny` messages of the policy's report rules (Rego), each a
    /// failure of the gate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<RuleMessage>,
    /// The `warn` messages of the policy's report rules: shown, never
    /// failing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<RuleMessage>,
}

/// A message of a report rule (a Rego `deny` or `warn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMessage {
    /// The Rego file that gave it.
    pub file: String,
    /// The message.
    pub message: String,
}

/// A failing finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Failure {
    /// The finding's index in the evaluated list.
    pub finding: usize,
    /// Its kind.
    pub kind: FindingKind,
    /// Its id.
    pub id: String,
    /// Its package (`name version`), when it has one.
    pub package: Option<String>,
    /// Its severity.
    pub severity: Severity,
    /// The rule that failed it.
    pub rule: String,
}

impl Failure {
    fn new(i: usize, f: &Finding, rule: String) -> Failure {
        Failure {
            finding: i,
            kind: f.kind,
            id: f.id.clone(),
            package: package_label(f),
            severity: f.severity,
            rule,
        }
    }
}

fn package_label(f: &Finding) -> Option<String> {
    f.package.as_ref().map(|p| match &p.version {
        Some(v) => format!("{} {v}", p.name),
        None => p.name.clone(),
    })
}

/// A suppressed finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Suppression {
    /// The finding's index in the evaluated list.
    pub finding: usize,
    /// Its id.
    pub id: String,
    /// Its package (`name version`), when it has one.
    pub package: Option<String>,
    /// What suppressed it.
    pub by: SuppressedBy,
}

impl Suppression {
    fn new(i: usize, f: &Finding, by: SuppressedBy) -> Suppression {
        Suppression {
            finding: i,
            id: f.id.clone(),
            package: package_label(f),
            by,
        }
    }
}

/// What suppressed a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SuppressedBy {
    /// An ignore rule of the policy.
    Ignore {
        /// The rule.
        rule: Ignore,
    },
    /// A Trivy ignore policy in Rego (its `data.trivy.ignore` was true).
    Rego {
        /// The Rego file.
        file: String,
    },
    /// A VEX statement.
    Vex {
        /// The VEX document.
        document: String,
        /// The statement's status.
        status: String,
        /// Its justification, when given.
        justification: Option<String>,
    },
}

impl fmt::Display for SuppressedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuppressedBy::Ignore { rule } => {
                write!(f, "ignore rule `{}`: {}", rule.id, rule.reason)?;
                if let Some(d) = rule.expires {
                    write!(f, " (until {})", format_date(d))?;
                }
                Ok(())
            }
            SuppressedBy::Rego { file } => write!(f, "Rego ignore policy `{file}`"),
            SuppressedBy::Vex {
                document,
                status,
                justification,
            } => {
                write!(f, "VEX `{document}`: {status}")?;
                if let Some(j) = justification {
                    write!(f, " ({j})")?;
                }
                Ok(())
            }
        }
    }
}

/// An ignore rule that would have suppressed a finding but has expired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExpiredIgnore {
    /// The finding's index in the evaluated list.
    pub finding: usize,
    /// Its id.
    pub id: String,
    /// The expired rule.
    pub rule: Ignore,
}

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn format_date(d: Date) -> String {
    d.format(DATE_FORMAT).unwrap_or_else(|_| d.to_string())
}

fn parse_date<E: serde::de::Error>(s: &str) -> Result<Date, E> {
    // TOML local dates arrive as text as well; drop any time part.
    let day = s.split(['T', ' ']).next().unwrap_or(s);
    Date::parse(day, DATE_FORMAT)
        .map_err(|e| E::custom(format!("invalid date `{s}` (expected YYYY-MM-DD): {e}")))
}

mod date {
    use super::*;

    pub(super) fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_date(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        d.deserialize_any(DateVisitor)
    }

    pub(super) struct DateVisitor;

    impl<'de> serde::de::Visitor<'de> for DateVisitor {
        type Value = Date;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a date as YYYY-MM-DD")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Date, E> {
            parse_date(v)
        }

        /// TOML's native dates arrive as a one-entry map holding their text.
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Date, A::Error> {
            let Some((_, text)) = map.next_entry::<String, String>()? else {
                return Err(serde::de::Error::custom("empty date"));
            };
            parse_date(&text)
        }
    }
}

mod date_opt {
    use super::*;

    pub(super) fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_date(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        d.deserialize_any(date::DateVisitor).map(Some)
    }
}

fn toml_error(text: &str, e: toml::de::Error, field: Option<String>) -> Error {
    let (line, column) = match e.span() {
        Some(span) => {
            let head = &text.as_bytes()[..span.start.min(text.len())];
            let line = head.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = head.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    Error::Policy {
        file: None,
        field: field.filter(|p| p != "."),
        line,
        column,
        message: e.message().trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::Source;
    use time::macros::date;

    fn finding(kind: FindingKind, id: &str, sev: Severity, fixed: bool) -> Finding {
        let mut f = Finding::new(kind, id, sev);
        f.package = Some(
            Package::new("lodash")
                .with_version(Some("4.17.20"))
                .with_purl_str(Some("pkg:npm/lodash@4.17.20")),
        );
        if fixed {
            f.add_fixed_version("4.17.21");
        }
        f.sources.push(Source::new("trivy", sev, None));
        f
    }

    const TOML: &str = r#"
fail_on = "high"
only_fixable = true
max = { medium = 1 }

[secrets]
fail_on = "unknown"

[[ignore]]
id = "CVE-2021-23337"
package = "lodash"
reason = "template() not used"
expires = 2030-01-01

[[ignore]]
id = "CVE-2020-8203"
reason = "old exception"
expires = "2020-01-01"
"#;

    #[test]
    fn the_same_policy_in_three_formats() {
        let toml = Policy::parse(TOML, PolicyFormat::Toml).unwrap();
        let yaml = Policy::parse(
            r#"
fail_on: high
only_fixable: true
max: {medium: 1}
secrets: {fail_on: unknown}
ignore:
  - {id: CVE-2021-23337, package: lodash, reason: template() not used, expires: "2030-01-01"}
  - {id: CVE-2020-8203, reason: old exception, expires: "2020-01-01"}
"#,
            PolicyFormat::Yaml,
        )
        .unwrap();
        let json =
            Policy::parse(&serde_json::to_string(&toml).unwrap(), PolicyFormat::Json).unwrap();
        assert_eq!(toml, yaml);
        assert_eq!(toml, json);
        assert_eq!(toml.ignore[0].expires, Some(date!(2030 - 01 - 01)));
    }

    #[test]
    fn gate_fails_suppresses_and_reports_expired_rules() {
        let policy = Policy::parse(TOML, PolicyFormat::Toml).unwrap();
        let findings = vec![
            finding(
                FindingKind::Vulnerability,
                "CVE-2021-23337",
                Severity::High,
                true,
            ),
            finding(
                FindingKind::Vulnerability,
                "CVE-2020-8203",
                Severity::High,
                true,
            ),
            finding(
                FindingKind::Vulnerability,
                "CVE-2020-28500",
                Severity::Medium,
                true,
            ),
            finding(
                FindingKind::Vulnerability,
                "CVE-2019-1",
                Severity::Medium,
                true,
            ),
            finding(
                FindingKind::Vulnerability,
                "CVE-2019-2",
                Severity::Critical,
                false,
            ),
            finding(FindingKind::Secret, "github-pat", Severity::Low, false),
        ];
        let v = policy.evaluate_at(&findings, date!(2026 - 11 - 27));
        assert!(!v.passed);
        assert_eq!(v.suppressed.len(), 1);
        assert_eq!(v.suppressed[0].id, "CVE-2021-23337");
        assert!(v.suppressed[0]
            .by
            .to_string()
            .contains("template() not used"));
        assert_eq!(v.expired_ignores.len(), 1);
        assert_eq!(v.expired_ignores[0].id, "CVE-2020-8203");
        let failed: Vec<(&str, &str)> = v
            .failures
            .iter()
            .map(|f| (f.id.as_str(), f.rule.as_str()))
            .collect();
        assert_eq!(
            failed,
            [
                ("CVE-2020-8203", "vulnerabilities at or above `high`"),
                (
                    "CVE-2020-28500",
                    "2 medium vulnerabilities found, at most 1 allowed"
                ),
                (
                    "CVE-2019-1",
                    "2 medium vulnerabilities found, at most 1 allowed"
                ),
                ("github-pat", "secrets at or above `unknown`"),
            ],
            "the critical one has no fix and only fixable ones count"
        );
        // After the first rule expires too, it fails as well.
        let later = policy.evaluate_at(&findings, date!(2030 - 01 - 02));
        assert!(later.suppressed.is_empty());
        assert_eq!(later.expired_ignores.len(), 2);
    }

    #[test]
    fn empty_policy_passes_and_recommended_catches_secrets() {
        let f = vec![finding(
            FindingKind::Secret,
            "aws-access-key-id",
            Severity::Info,
            false,
        )];
        assert!(Policy::default().evaluate(&f).passed);
        assert!(!Policy::recommended().evaluate(&f).passed);
    }

    #[test]
    fn invalid_policies_name_field_and_line() {
        let err = Policy::parse(
            "fail_on = \"high\"\n\n[secrets]\nfail_on = \"severe\"\n",
            PolicyFormat::Toml,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("secrets.fail_on") && msg.contains("line 4"),
            "{msg}"
        );
        let err = Policy::parse(
            "fail_on: high\nignore:\n  - id: X\n    reason: r\n    expires: 31.12.2026\n",
            PolicyFormat::Yaml,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("ignore[0].expires") && msg.contains("line 5"),
            "{msg}"
        );
        let err = Policy::parse(
            "{\n  \"fail_on\": \"high\",\n  \"maxx\": {}\n}",
            PolicyFormat::Json,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("maxx") && msg.contains("line 3"), "{msg}");
        let err = Policy::parse("[[ignore]]\nid = \"X\"\n", PolicyFormat::Toml).unwrap_err();
        assert!(err.to_string().contains("reason"), "{err}");
    }

    #[test]
    fn policy_files_load_vex_relative_to_themselves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("vex")).unwrap();
        std::fs::write(
            dir.path().join("vex/openvex.json"),
            r#"{"statements": [{"vulnerability": {"name": "CVE-2021-23337"},
                "products": [{"@id": "pkg:npm/lodash@4.17.20"}], "status": "not_affected",
                "justification": "vulnerable_code_not_present"}]}"#,
        )
        .unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, "fail_on: high\nvex: [vex/openvex.json]\n").unwrap();
        let policy = Policy::from_path(&path).unwrap();
        let f = vec![finding(
            FindingKind::Vulnerability,
            "CVE-2021-23337",
            Severity::High,
            true,
        )];
        let v = policy.evaluate(&f);
        assert!(v.passed);
        assert!(
            matches!(&v.suppressed[0].by, SuppressedBy::Vex { status, .. } if status == "not_affected")
        );

        std::fs::write(&path, "fail_on: high\nvex: [vex/missing.json]\n").unwrap();
        let err = Policy::from_path(&path).unwrap_err();
        assert!(err.to_string().contains("missing.json"), "{err}");
        let bad = dir.path().join("policy.ini");
        std::fs::write(&bad, "x").unwrap();
        assert!(Policy::from_path(&bad)
            .unwrap_err()
            .to_string()
            .contains("policy.ini"));
    }
}
