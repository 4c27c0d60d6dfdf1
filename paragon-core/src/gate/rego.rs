//! Policies as code in Rego (feature `rego`), evaluated by `regorus`.
//!
//! A [`Policy`](crate::Policy) names Rego files (`rego = ["policies/ignore.rego"]`,
//! relative to the policy file); each is one of two kinds, by its package:
//!
//! - **Trivy's ignore policies**, unchanged: a module with `package trivy`
//!   and `ignore` rules, as given to `trivy --ignore-policy`. `ignore` is
//!   evaluated once per finding with Trivy's input shape for that finding
//!   (see [`trivy_input`]), so a finding from any scanner, merged or not, is
//!   suppressed when `data.trivy.ignore` is `true`. Rego v0 (Trivy's
//!   syntax) and v1 are both read; `import data.lib.trivy` gives Trivy's
//!   helper `parse_cvss_vector_v3`.
//! - **Report rules in the conftest style**: any other package with `deny`
//!   and `warn` rules (`deny contains msg if { … }`, or v0's
//!   `deny[msg] { … }`) over Paragon's JSON report as `input`. Each `deny`
//!   message fails the gate, each `warn` message is a warning in the
//!   verdict.
//!
//! A file that does not parse, or names neither `package trivy` nor a
//! `deny`/`warn` rule, is a policy error naming the file and the line. An
//! evaluation error (a builtin's, a conflict between rules) fails the gate
//! with a message naming the file: never a silent pass.
//!
//! ```
//! use paragon_core::gate::rego::RegoPolicy;
//! use paragon_core::{Finding, FindingKind, Package, Severity};
//!
//! let policy = RegoPolicy::from_sources([(
//!     "ignore.rego".into(),
//!     r#"package trivy
//!        default ignore = false
//!        ignore { input.PkgName == "bash" }"#
//!         .to_string(),
//! )])?;
//! let mut finding = Finding::new(FindingKind::Vulnerability, "CVE-2019-18276", Severity::Low);
//! finding.package = Some(Package::new("bash").with_version(Some("5.0-4")));
//! assert_eq!(policy.ignored_by(&finding)?.as_deref(), Some("ignore.rego"));
//! # Ok::<(), paragon_core::Error>(())
//! ```

use std::path::{Path, PathBuf};

use regorus::{Engine, Value};
use serde_json::{json, Map, Value as Json};

use crate::error::{Error, Result};
use crate::model::finding::{CvssVersion, Finding, FindingKind};

/// Trivy's `lib.trivy` helpers, for policies that `import data.lib.trivy`:
/// `parse_cvss_vector_v3(vector)` gives the named metrics of a CVSS v3
/// vector (`AttackVector` `Network`, `Adjacent`, `Local`, `Physical`; and
/// so on, per the CVSS v3.1 specification's metric names).
const LIB_TRIVY: &str = r#"package lib.trivy

parse_cvss_vector_v3(vector) = metrics {
	parts := split(vector, "/")
	metrics := {
		"AttackVector": metric_names[parts[1]],
		"AttackComplexity": metric_names[parts[2]],
		"PrivilegesRequired": metric_names[parts[3]],
		"UserInteraction": metric_names[parts[4]],
		"Scope": metric_names[parts[5]],
		"Confidentiality": metric_names[parts[6]],
		"Integrity": metric_names[parts[7]],
		"Availability": metric_names[parts[8]],
	}
}

metric_names := {
	"AV:N": "Network", "AV:A": "Adjacent", "AV:L": "Local", "AV:P": "Physical",
	"AC:L": "Low", "AC:H": "High",
	"PR:N": "None", "PR:L": "Low", "PR:H": "High",
	"UI:N": "None", "UI:R": "Required",
	"S:U": "Unchanged", "S:C": "Changed",
	"C:N": "None", "C:L": "Low", "C:H": "High",
	"I:N": "None", "I:L": "Low", "I:H": "High",
	"A:N": "None", "A:L": "Low", "A:H": "High",
}
"#;

/// What one Rego file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `package trivy` with `ignore` rules.
    TrivyIgnore,
    /// Another package with `deny` and/or `warn` rules.
    ReportRules,
}

/// One loaded Rego file, in an engine of its own.
#[derive(Clone)]
struct Module {
    file: PathBuf,
    kind: Kind,
    /// The rules' package (`data.main`).
    package: String,
    engine: Engine,
}

/// The Rego files of a policy, parsed and ready to evaluate.
#[derive(Clone, Default)]
pub struct RegoPolicy {
    modules: Vec<Module>,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.modules.iter().map(|m| (&m.file, m.kind)))
            .finish()
    }
}

impl PartialEq for RegoPolicy {
    fn eq(&self, other: &RegoPolicy) -> bool {
        self.files().eq(other.files())
    }
}

/// The outcome of the report rules: each `deny` and `warn` message with
/// the file that gave it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleMessages {
    /// `(file, message)` of each `deny`.
    pub deny: Vec<(String, String)>,
    /// `(file, message)` of each `warn`.
    pub warn: Vec<(String, String)>,
}

/// A policy error about `file`, with the line of a parser's message when
/// it names one (`file:LINE:COL: error: …`).
fn file_error(file: &Path, message: String) -> Error {
    let shown = file.display().to_string();
    let line = message
        .split_once(&format!("{shown}:"))
        .and_then(|(_, rest)| rest.split(':').next())
        .and_then(|l| l.trim().parse().ok());
    Error::Policy {
        file: Some(file.to_owned()),
        field: None,
        line,
        column: None,
        message,
    }
}

/// Parses `text` as Rego v0 (Trivy's syntax), then v1; the error of the
/// syntax the text looks written in when neither reads it.
fn parse(file: &Path, text: &str) -> Result<(Engine, String)> {
    let name = file.display().to_string();
    let attempt = |v0: bool| -> std::result::Result<(Engine, String), String> {
        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(true);
        engine.set_rego_v0(true);
        engine
            .add_policy("lib.trivy.rego".into(), LIB_TRIVY.into())
            .map_err(|e| format!("{e:#}"))?;
        engine.set_rego_v0(v0);
        let package = engine
            .add_policy(name.clone(), text.to_owned())
            .map_err(|e| format!("{e:#}"))?;
        Ok((engine, package))
    };
    match attempt(true) {
        Ok(parsed) => Ok(parsed),
        Err(v0) => attempt(false).map_err(|v1| {
            let looks_v1 = text.contains("import rego.v1")
                || text.contains(" if ")
                || text.contains(" if{")
                || text.contains(" contains ");
            file_error(file, if looks_v1 { v1 } else { v0 })
        }),
    }
}

/// Whether the engine's policies declare a rule named `rule` in `package`.
fn declares(engine: &Engine, file: &Path, rule: &str) -> bool {
    engine
        .has_declared_rule_rooted_at(&file.display().to_string(), rule)
        .unwrap_or(false)
}

impl RegoPolicy {
    /// Reads and parses each file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] for a file that cannot be read; [`Error::Policy`]
    /// naming the file (and the line, for a syntax error) for one that is
    /// not Rego, or has neither `package trivy` with `ignore` nor `deny` or
    /// `warn` rules.
    pub fn from_files(files: &[PathBuf]) -> Result<RegoPolicy> {
        let mut sources = Vec::with_capacity(files.len());
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
                path: file.clone(),
                source,
            })?;
            sources.push((file.clone(), text));
        }
        RegoPolicy::from_sources(sources)
    }

    /// Parses Rego modules given as `(file name, text)`.
    ///
    /// # Errors
    ///
    /// As [`RegoPolicy::from_files`], but for reading.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (PathBuf, String)>,
    ) -> Result<RegoPolicy> {
        let mut modules = Vec::new();
        for (file, text) in sources {
            let (engine, package) = parse(&file, &text)?;
            let kind = if package == "data.trivy" {
                if !declares(&engine, &file, "ignore") {
                    return Err(file_error(
                        &file,
                        "`package trivy` has no `ignore` rule".into(),
                    ));
                }
                Kind::TrivyIgnore
            } else if declares(&engine, &file, "deny") || declares(&engine, &file, "warn") {
                Kind::ReportRules
            } else {
                return Err(file_error(
                    &file,
                    format!(
                        "{package} has neither `deny` nor `warn` rules, and is not `package trivy` with `ignore`"
                    ),
                ));
            };
            modules.push(Module {
                file,
                kind,
                package,
                engine,
            });
        }
        Ok(RegoPolicy { modules })
    }

    /// The files, in order.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.modules.iter().map(|m| m.file.as_path())
    }

    /// True when no file was given.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The first ignore policy whose `data.trivy.ignore` is true for
    /// `finding` (given [`trivy_input`]), named by its file; `None` when
    /// none ignores it.
    ///
    /// # Errors
    ///
    /// [`Error::Policy`] naming the file when the evaluation fails, or
    /// `ignore` is not a boolean.
    pub fn ignored_by(&self, finding: &Finding) -> Result<Option<String>> {
        self.ignored_all(std::slice::from_ref(finding))
            .pop()
            .unwrap_or(Ok(None))
    }

    /// [`ignored_by`](RegoPolicy::ignored_by) for each of `findings`, in
    /// order: each policy's engine is prepared once for them all.
    pub fn ignored_all(&self, findings: &[Finding]) -> Vec<Result<Option<String>>> {
        let mut out: Vec<Result<Option<String>>> = findings.iter().map(|_| Ok(None)).collect();
        for m in self.modules.iter().filter(|m| m.kind == Kind::TrivyIgnore) {
            let mut engine = m.engine.clone();
            for (f, slot) in findings.iter().zip(out.iter_mut()) {
                if !matches!(slot, Ok(None)) {
                    continue;
                }
                engine.set_input(Value::from(trivy_input(f)));
                *slot = match engine.eval_rule("data.trivy.ignore".into()) {
                    Ok(Value::Bool(true)) => Ok(Some(m.file.display().to_string())),
                    Ok(Value::Bool(false) | Value::Undefined) => Ok(None),
                    Ok(other) => Err(file_error(
                        &m.file,
                        format!("`ignore` must be a boolean, not {other}"),
                    )),
                    Err(e) => Err(file_error(&m.file, format!("evaluating `ignore`: {e:#}"))),
                };
            }
        }
        out
    }

    /// Evaluates every report-rules file's `deny` and `warn` over `report`
    /// (Paragon's JSON report).
    ///
    /// # Errors
    ///
    /// [`Error::Policy`] naming the file when the evaluation fails, or a
    /// rule is not a set of messages.
    pub fn report_messages(&self, report: &Json) -> Result<RuleMessages> {
        let mut out = RuleMessages::default();
        let rules = self.modules.iter().filter(|m| m.kind == Kind::ReportRules);
        let mut input = None;
        for m in rules {
            let input = input.get_or_insert_with(|| Value::from(report.clone()));
            let mut engine = m.engine.clone();
            engine.set_input(input.clone());
            let file = m.file.display().to_string();
            for (rule, sink) in [("deny", &mut out.deny), ("warn", &mut out.warn)] {
                if !declares(&m.engine, &m.file, rule) {
                    continue;
                }
                let value = engine
                    .eval_rule(format!("{}.{rule}", m.package))
                    .map_err(|e| file_error(&m.file, format!("evaluating `{rule}`: {e:#}")))?;
                for message in messages(&value)
                    .map_err(|what| file_error(&m.file, format!("`{rule}` {what}")))?
                {
                    sink.push((file.clone(), message));
                }
            }
        }
        Ok(out)
    }
}

/// The messages of a `deny` or `warn` rule's value: a set (or array) of
/// strings, or of objects with a `msg` string (conftest's structured form).
fn messages(value: &Value) -> std::result::Result<Vec<String>, String> {
    let items: Vec<&Value> = match value {
        Value::Undefined => return Ok(Vec::new()),
        Value::Set(s) => s.iter().collect(),
        Value::Array(a) => a.iter().collect(),
        other => return Err(format!("must be a set of messages, not {other}")),
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.to_string()),
            Value::Object(o) => match o.get(&Value::from("msg")) {
                Some(Value::String(s)) => Ok(s.to_string()),
                _ => Err(format!("holds an object without a `msg` string: {item}")),
            },
            other => Err(format!("holds {other}, not a message")),
        })
        .collect()
}

/// Trivy's input for one finding, as `trivy --ignore-policy` gives it to
/// `data.trivy.ignore`, plus `Type` (`vulnerability`, `misconfiguration`,
/// `secret`, `license`, and `weakness` for SAST findings, which Trivy does
/// not report):
///
/// | kind | fields |
/// |---|---|
/// | vulnerability | `VulnerabilityID`, `VendorIDs`, `PkgName`, `PkgPath`, `PkgIdentifier.PURL`, `InstalledVersion`, `FixedVersion` (comma-separated), `Severity` (upper case), `CVSS` (`{source: {V2Score, V2Vector, V3Score, V3Vector, V40Score, V40Vector}}`), `CweIDs`, `Title`, `Description`, `PrimaryURL`, `References` |
/// | misconfiguration | `ID`, `AVDID`, `Title`, `Description`, `Severity`, `Status` (`FAIL`), `CauseMetadata` (`Resource`, `StartLine`, `EndLine`) |
/// | secret | `RuleID`, `Title`, `Severity`, `StartLine`, `EndLine` |
/// | license | `Name`, `PkgName`, `FilePath`, `Severity` |
/// | weakness | `RuleID`, `Title`, `Severity`, `FilePath`, `StartLine`, `EndLine`, `CweIDs` |
///
/// A field Paragon's model does not hold for a finding is left out, as
/// Trivy leaves out empty ones.
pub fn trivy_input(f: &Finding) -> Json {
    let mut o = Map::new();
    let mut put = |key: &str, value: Json| {
        let empty = match &value {
            Json::Null => true,
            Json::String(s) => s.is_empty(),
            Json::Array(a) => a.is_empty(),
            Json::Object(m) => m.is_empty(),
            _ => false,
        };
        if !empty {
            o.insert(key.to_owned(), value);
        }
    };
    let loc = f.locations.iter().min();
    let start = loc.and_then(|l| l.start_line).map(Json::from);
    let end = loc.and_then(|l| l.end_line).map(Json::from);
    let path = loc.and_then(|l| l.path.as_deref().or(l.target.as_deref()));
    let severity = f.severity.as_str().to_ascii_uppercase();
    let pkg = f.package.as_ref();
    put("Type", json!(f.kind.as_str()));
    match f.kind {
        FindingKind::Vulnerability => {
            put("VulnerabilityID", json!(f.id));
            put("VendorIDs", json!(f.aliases));
            put("PkgName", json!(pkg.map(|p| &p.name)));
            put("PkgPath", json!(loc.and_then(|l| l.path.as_deref())));
            put(
                "PkgIdentifier",
                json!(pkg
                    .and_then(|p| p.purl.as_ref())
                    .map(|p| json!({"PURL": p.as_str()}))),
            );
            put(
                "InstalledVersion",
                json!(pkg.and_then(|p| p.version.as_deref())),
            );
            put("FixedVersion", json!(f.fixed_versions.join(", ")));
            put("Severity", json!(severity));
            put("CVSS", cvss(f));
            put("CweIDs", json!(f.cwes));
            put("Title", json!(f.title));
            put("Description", json!(f.description));
            put("PrimaryURL", json!(f.references.first()));
            put("References", json!(f.references));
        }
        FindingKind::Misconfiguration => {
            put("ID", json!(f.id));
            put(
                "AVDID",
                json!(f.aliases.iter().find(|a| a.starts_with("AVD-"))),
            );
            put("Title", json!(f.title));
            put("Description", json!(f.description));
            put("Severity", json!(severity));
            put("Status", json!("FAIL"));
            let mut cause = Map::new();
            if let Some(r) = loc.and_then(|l| l.resource.as_deref()) {
                cause.insert("Resource".into(), json!(r));
            }
            if let Some(s) = start {
                cause.insert("StartLine".into(), s);
            }
            if let Some(e) = end {
                cause.insert("EndLine".into(), e);
            }
            put("CauseMetadata", Json::Object(cause));
        }
        FindingKind::Secret => {
            put("RuleID", json!(f.id));
            put("Title", json!(f.title));
            put("Severity", json!(severity));
            put("StartLine", json!(start));
            put("EndLine", json!(end));
        }
        FindingKind::License => {
            put("Name", json!(f.id));
            put("PkgName", json!(pkg.map(|p| &p.name)));
            put("FilePath", json!(loc.and_then(|l| l.path.as_deref())));
            put("Severity", json!(severity));
        }
        FindingKind::Weakness => {
            put("RuleID", json!(f.id));
            put("Title", json!(f.title));
            put("Severity", json!(severity));
            put("FilePath", json!(path));
            put("StartLine", json!(start));
            put("EndLine", json!(end));
            put("CweIDs", json!(f.cwes));
        }
    }
    Json::Object(o)
}

/// Trivy's `CVSS` map: per source, each version's score and vector.
fn cvss(f: &Finding) -> Json {
    let mut by_source = Map::new();
    for c in &f.cvss {
        let source = c.source.clone().unwrap_or_default();
        let entry = by_source
            .entry(source)
            .or_insert_with(|| Json::Object(Map::new()));
        let prefix = match c.version {
            CvssVersion::V2 => "V2",
            CvssVersion::V4_0 => "V40",
            _ => "V3",
        };
        if let Json::Object(e) = entry {
            if let Some(v) = &c.vector {
                e.insert(format!("{prefix}Vector"), json!(v));
            }
            if let Some(s) = c.score {
                e.insert(format!("{prefix}Score"), json!(s));
            }
        }
    }
    Json::Object(by_source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::finding::{Cvss, Location, Package, Severity};

    fn rego(name: &str, text: &str) -> Result<RegoPolicy> {
        RegoPolicy::from_sources([(PathBuf::from(name), text.to_owned())])
    }

    fn vuln() -> Finding {
        let mut f = Finding::new(
            FindingKind::Vulnerability,
            "CVE-2021-3711",
            Severity::Critical,
        );
        f.package = Some(
            Package::new("openssl")
                .with_version(Some("1.1.1k"))
                .with_purl_str(Some("pkg:deb/debian/openssl@1.1.1k")),
        );
        f.add_fixed_version("1.1.1l");
        f.add_fixed_version("3.0.1");
        f.add_cwe("120");
        f.cvss.push(Cvss {
            version: CvssVersion::V3_1,
            score: Some(9.8),
            vector: Some("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
            source: Some("nvd".into()),
        });
        f.add_location(Location::new().with_path(Some("usr/lib/libssl.so")));
        f
    }

    #[test]
    fn the_input_has_trivys_shape() {
        let input = trivy_input(&vuln());
        assert_eq!(input["Type"], "vulnerability");
        assert_eq!(input["VulnerabilityID"], "CVE-2021-3711");
        assert_eq!(input["PkgName"], "openssl");
        assert_eq!(input["PkgPath"], "usr/lib/libssl.so");
        assert_eq!(
            input["PkgIdentifier"]["PURL"],
            "pkg:deb/debian/openssl@1.1.1k"
        );
        assert_eq!(input["InstalledVersion"], "1.1.1k");
        assert_eq!(input["FixedVersion"], "1.1.1l, 3.0.1");
        assert_eq!(input["Severity"], "CRITICAL");
        assert_eq!(input["CweIDs"][0], "CWE-120");
        assert_eq!(input["CVSS"]["nvd"]["V3Score"], 9.8);
        assert!(input.get("Title").is_none(), "empty fields are left out");
    }

    #[test]
    fn v0_and_v1_ignore_policies_with_trivys_helpers() {
        let v0 = rego(
            "v0.rego",
            r#"package trivy
import data.lib.trivy
default ignore = false
ignore {
    v := trivy.parse_cvss_vector_v3(input.CVSS.nvd.V3Vector)
    v.AttackVector == "Local"
}"#,
        )
        .unwrap();
        assert_eq!(v0.ignored_by(&vuln()).unwrap().as_deref(), Some("v0.rego"));
        let v1 = rego(
            "v1.rego",
            "package trivy\nimport rego.v1\ndefault ignore := false\nignore if input.Severity == \"LOW\"\n",
        )
        .unwrap();
        assert_eq!(v1.ignored_by(&vuln()).unwrap(), None);
    }

    #[test]
    fn bad_files_are_errors_naming_file_and_line() {
        let err = rego(
            "broken.rego",
            "package trivy\n\nignore {\n  input.X ==\n}\n",
        )
        .unwrap_err();
        let Error::Policy { file, line, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(file.as_deref(), Some(Path::new("broken.rego")));
        assert!(line.is_some_and(|l| (3..=5).contains(&l)), "{err}");
        let err = rego("empty.rego", "package trivy\ndefault allow = true\n").unwrap_err();
        assert!(err.to_string().contains("no `ignore` rule"), "{err}");
        let err = rego("other.rego", "package main\nallow = true\n").unwrap_err();
        assert!(
            err.to_string().contains("neither `deny` nor `warn`"),
            "{err}"
        );
        let err = RegoPolicy::from_files(&[PathBuf::from("/nonexistent/p.rego")]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/p.rego"), "{err}");
    }

    #[test]
    fn an_ignore_that_is_not_a_boolean_or_fails_is_an_error() {
        let p = rego("set.rego", "package trivy\nignore = {1}\n").unwrap();
        let err = p.ignored_by(&vuln()).unwrap_err();
        assert!(
            err.to_string().contains("set.rego") && err.to_string().contains("boolean"),
            "{err}"
        );
        let p = rego(
            "conflict.rego",
            "package trivy\nignore = true { input.PkgName }\nignore = false { input.PkgName }\n",
        )
        .unwrap();
        let err = p.ignored_by(&vuln()).unwrap_err();
        assert!(err.to_string().contains("conflict.rego"), "{err}");
    }

    #[test]
    fn report_rules_deny_and_warn_in_both_syntaxes() {
        let p = RegoPolicy::from_sources([
            (
                PathBuf::from("v1.rego"),
                r#"package main
import rego.v1
deny contains msg if {
    input.summary.by_severity.critical > 0
    msg := sprintf("%d critical finding(s)", [input.summary.by_severity.critical])
}
warn contains {"msg": "no SBOM was read"} if input.summary.sbom.documents == 0
"#
                .to_owned(),
            ),
            (
                PathBuf::from("v0.rego"),
                "package gate\ndeny[msg] { count(input.findings) > 100; msg := \"too many\" }\n"
                    .to_owned(),
            ),
        ])
        .unwrap();
        let report = json!({
            "summary": {"by_severity": {"critical": 2}, "sbom": {"documents": 0}},
            "findings": []
        });
        let m = p.report_messages(&report).unwrap();
        assert_eq!(
            m.deny,
            [("v1.rego".to_owned(), "2 critical finding(s)".to_owned())]
        );
        assert_eq!(
            m.warn,
            [("v1.rego".to_owned(), "no SBOM was read".to_owned())]
        );
        let bad = rego("num.rego", "package main\ndeny = 3\n").unwrap();
        let err = bad.report_messages(&report).unwrap_err();
        assert!(err.to_string().contains("num.rego"), "{err}");
    }
}
