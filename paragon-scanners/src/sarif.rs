//! SARIF 2.1.0 (<https://docs.oasis-open.org/sarif/sarif/v2.1.0/>): the
//! static-analysis interchange format, read with `serde-sarif`.
//!
//! Every result of every run becomes a `weakness` finding: the id is the
//! rule id, the scanner is the run's `tool.driver.name` (lower-cased, spaces as
//! `-`: `Semgrep OSS` → `semgrep-oss`), the
//! locations are the results' physical locations (artifact URI and line
//! range). Results with `kind` `pass`, `notApplicable` or `informational`,
//! and results with suppressions, are not findings.
//!
//! Severity: a rule's `security-severity` property (a CVSS-like score, the
//! convention of GitHub code scanning, CodeQL and Semgrep) when present;
//! otherwise the result's `level`, or the rule's default level:
//! `error` → high, `warning` → medium, `note` → low, `none` → info.
//! CWEs come from rule tags (`external/cwe/cwe-79`, `CWE-79`).

use paragon_core::{Finding, FindingKind, Location, ScanReport, ScannerInfo, Severity, Source};
use serde_sarif::sarif::{
    ReportingDescriptor, Result as SarifResult, ResultKind, ResultLevel, Sarif,
};

use crate::error::{Error, Result};
use crate::util::from_json;
use crate::Format;

const FORMAT: Format = Format::Sarif;

/// Parses a SARIF 2.1.0 log.
///
/// # Errors
///
/// [`Error::Empty`], [`Error::Malformed`] with the position for bad JSON or
/// a log that does not fit the SARIF schema, [`Error::UnsupportedVersion`]
/// for a `version` other than 2.1.0.
pub fn parse(bytes: &[u8]) -> Result<ScanReport> {
    let log: Sarif = from_json(FORMAT, bytes)?;
    let version = log.version.as_str().unwrap_or_default();
    if version != "2.1.0" {
        return Err(Error::UnsupportedVersion {
            format: FORMAT,
            version: log.version.to_string(),
            supported: "2.1.0",
            file: None,
        });
    }
    let mut out: Option<ScanReport> = None;
    for run in log.runs {
        let driver = run.tool.driver;
        let scanner = driver
            .name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-")
            .to_ascii_lowercase();
        let report = out.get_or_insert_with(|| {
            ScanReport::new(ScannerInfo::new(
                scanner.clone(),
                driver.version.clone().or(driver.semantic_version.clone()),
            ))
        });
        let rules = driver.rules.unwrap_or_default();
        for result in run.results.unwrap_or_default() {
            if let Some(f) = finding(&result, &rules, &scanner) {
                report.findings.push(f);
            }
        }
    }
    Ok(out.unwrap_or_else(|| ScanReport::new(ScannerInfo::new("sarif", None::<String>))))
}

fn finding(r: &SarifResult, rules: &[ReportingDescriptor], scanner: &str) -> Option<Finding> {
    if matches!(
        r.kind,
        Some(ResultKind::Pass | ResultKind::NotApplicable | ResultKind::Informational)
    ) || r.suppressions.as_ref().is_some_and(|s| !s.is_empty())
    {
        return None;
    }
    let rule_id = r
        .rule_id
        .clone()
        .or_else(|| r.rule.as_ref().and_then(|x| x.id.clone()));
    let rule = r
        .rule_index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| rules.get(i))
        .or_else(|| {
            let id = rule_id.as_deref()?;
            rules.iter().find(|d| d.id == id)
        });
    let id = rule_id
        .or_else(|| rule.map(|d| d.id.clone()))
        .unwrap_or_else(|| format!("{scanner}-result"));
    let sev = severity(r, rule);
    let mut f = Finding::new(FindingKind::Weakness, id, sev);
    if let Some(rule) = rule {
        f.title = rule
            .short_description
            .as_ref()
            .map(|m| m.text.clone())
            .or_else(|| rule.name.clone());
        if let Some(uri) = &rule.help_uri {
            f.add_reference(uri.clone());
        }
        let tags = rule.properties.as_ref().and_then(|p| p.tags.as_ref());
        for tag in tags.into_iter().flatten() {
            let t = tag.rsplit('/').next().unwrap_or(tag);
            if t.len() > 4 && t[..4].eq_ignore_ascii_case("cwe-") {
                f.add_cwe(t);
            }
        }
    }
    f.description = r
        .message
        .text
        .clone()
        .or_else(|| r.message.markdown.clone());
    if f.title.is_none() {
        f.title = f.description.clone();
    }
    for loc in r.locations.iter().flatten() {
        let Some(phys) = &loc.physical_location else {
            continue;
        };
        let path = phys.artifact_location.as_ref().and_then(|a| a.uri.clone());
        let line = |v: Option<i64>| v.and_then(|l| u32::try_from(l).ok());
        let region = phys.region.as_ref();
        f.add_location(Location::new().with_path(path).with_lines(
            line(region.and_then(|r| r.start_line)),
            line(region.and_then(|r| r.end_line)),
        ));
    }
    f.sources.push(Source::new(scanner, sev, None));
    Some(f)
}

fn severity(r: &SarifResult, rule: Option<&ReportingDescriptor>) -> Severity {
    let security = rule
        .and_then(|d| d.properties.as_ref())
        .and_then(|p| p.additional_properties.get("security-severity"))
        .and_then(|v| match v {
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            serde_json::Value::Number(n) => n.as_f64(),
            _ => None,
        });
    if let Some(score) = security {
        return Severity::from_cvss_score(score);
    }
    let level = r.level.map(|l| match l {
        ResultLevel::Error => "error",
        ResultLevel::Warning => "warning",
        ResultLevel::Note => "note",
        ResultLevel::None => "none",
    });
    let default = rule
        .and_then(|d| d.default_configuration.as_ref())
        .and_then(|c| c.level.as_ref())
        .and_then(|v| v.as_str());
    match level.or(default).unwrap_or("warning") {
        "error" => Severity::High,
        "warning" => Severity::Medium,
        "note" => Severity::Low,
        "none" => Severity::Info,
        _ => Severity::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semgrep_like_log() {
        let log = br#"{"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
          "runs": [{"tool": {"driver": {"name": "Semgrep OSS", "semanticVersion": "1.50.0",
             "rules": [{"id": "python.flask.debug", "shortDescription": {"text": "Flask debug mode"},
                        "helpUri": "https://semgrep.dev/r/python.flask.debug",
                        "defaultConfiguration": {"level": "warning"},
                        "properties": {"tags": ["CWE-489: Active Debug Code"], "security-severity": "7.5"}},
                       {"id": "style.rule"}]}},
            "results": [
              {"ruleId": "python.flask.debug", "ruleIndex": 0, "message": {"text": "debug=True"},
               "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app.py"},
                              "region": {"startLine": 12, "endLine": 12}}}]},
              {"ruleId": "style.rule", "level": "note", "message": {"text": "style"}},
              {"ruleId": "style.rule", "kind": "pass", "message": {"text": "ok"}}]}]}"#;
        let r = parse(log).unwrap();
        assert_eq!(r.scanner.name, "semgrep-oss");
        assert_eq!(r.scanner.version.as_deref(), Some("1.50.0"));
        assert_eq!(r.findings.len(), 2);
        let f = &r.findings[0];
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.cwes, ["CWE-489"]);
        assert_eq!(f.locations[0].path.as_deref(), Some("app.py"));
        assert_eq!(f.locations[0].start_line, Some(12));
        assert_eq!(r.findings[1].severity, Severity::Low);
        let err = parse(br#"{"version": "2.0.0", "runs": []}"#).unwrap_err();
        assert!(matches!(err, Error::UnsupportedVersion { .. }));
    }
}
