//! SonarQube JSON → [`ScanReport`].

use paragon_core::{
    is_cve, Cvss, CvssVersion, Finding, FindingKind, Location, Package, ScanReport, ScannerInfo,
    Severity, Source,
};
use serde::Deserialize;
use std::sync::Arc;

use super::SCANNER;
use crate::error::{Error, Result};
use crate::format::trim_start;
use crate::util::{from_json, nullable};
use crate::Format;

const FORMAT: Format = Format::SonarQubeJson;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default, deserialize_with = "nullable")]
    issues: Option<Vec<Issue>>,
    #[serde(default, deserialize_with = "nullable")]
    hotspots: Option<Vec<Hotspot>>,
    /// `sonar-report` exports name the project.
    #[serde(default)]
    project_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Issue {
    rule: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    impacts: Vec<Impact>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    line: Option<u32>,
    #[serde(default)]
    text_range: Option<TextRange>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct Impact {
    #[serde(default)]
    severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TextRange {
    #[serde(default)]
    start_line: Option<u32>,
    #[serde(default)]
    end_line: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hotspot {
    rule_key: String,
    #[serde(default)]
    vulnerability_probability: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    line: Option<u32>,
    #[serde(default)]
    text_range: Option<TextRange>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    security_category: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    resolution: Option<String>,
}

/// Parses SonarQube issues or hotspots JSON (see the module docs for the forms).
///
/// # Errors
///
/// [`Error::Empty`], or [`Error::Malformed`] with the position for bad JSON
/// or a document with neither `issues` nor `hotspots`.
pub fn parse(bytes: &[u8]) -> Result<ScanReport> {
    let (issues, hotspots, project) = if trim_start(bytes).first() == Some(&b'[') {
        (from_json::<Vec<Issue>>(FORMAT, bytes)?, Vec::new(), None)
    } else {
        let doc: Document = from_json(FORMAT, bytes)?;
        if doc.issues.is_none() && doc.hotspots.is_none() {
            return Err(Error::malformed(
                FORMAT,
                "not a SonarQube report: neither `issues` nor `hotspots` is present",
            ));
        }
        (
            doc.issues.unwrap_or_default(),
            doc.hotspots.unwrap_or_default(),
            doc.project_name,
        )
    };
    let project = project.or_else(|| {
        issues
            .iter()
            .find_map(|i| i.project.clone())
            .or_else(|| hotspots.iter().find_map(|h| h.project.clone()))
    });
    let mut out = ScanReport::new(ScannerInfo::new(SCANNER, None::<String>)).with_target(project);
    let target: Option<Arc<str>> = out.target.as_deref().map(Arc::from);
    for issue in issues {
        if matches!(issue.status.as_deref(), Some("RESOLVED" | "CLOSED")) {
            continue;
        }
        let f = issue_finding(issue, &target);
        out.findings.push(f);
    }
    for h in hotspots {
        if h.status.as_deref() == Some("REVIEWED")
            && matches!(h.resolution.as_deref(), Some("SAFE" | "FIXED"))
        {
            continue;
        }
        let f = hotspot_finding(h, &target);
        out.findings.push(f);
    }
    Ok(out)
}

/// Maps both of SonarQube's scales (see the module docs).
pub fn severity(s: &str) -> Severity {
    match s.trim().to_ascii_uppercase().as_str() {
        "BLOCKER" => Severity::Critical,
        "CRITICAL" | "HIGH" => Severity::High,
        "MAJOR" | "MEDIUM" => Severity::Medium,
        "MINOR" | "LOW" => Severity::Low,
        "INFO" => Severity::Info,
        _ => Severity::Unknown,
    }
}

/// `project:src/app.ts` → `src/app.ts`; a component that is the project
/// itself has no path.
fn location(
    component: Option<String>,
    project: Option<&str>,
    line: Option<u32>,
    range: Option<TextRange>,
    target: &Option<Arc<str>>,
) -> Location {
    let path = component.and_then(|c| match project {
        Some(p) if c == p => None,
        Some(p) => Some(
            c.strip_prefix(p)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(str::to_owned)
                .unwrap_or(c),
        ),
        None => Some(match c.split_once(':') {
            Some((_, path)) if !path.is_empty() => path.to_owned(),
            _ => c,
        }),
    });
    let (start, end) = match range {
        Some(r) => (r.start_line.or(line), r.end_line),
        None => (line, line),
    };
    Location::new()
        .with_target(target.clone())
        .with_path(path)
        .with_lines(start, end)
}

fn issue_finding(i: Issue, target: &Option<Arc<str>>) -> Finding {
    let sev = i
        .severity
        .as_deref()
        .map(severity)
        .filter(|s| *s != Severity::Unknown)
        .or_else(|| {
            i.impacts
                .iter()
                .filter_map(|m| m.severity.as_deref().map(severity))
                .max()
        })
        .unwrap_or(Severity::Unknown);
    let mut f = Finding::new(FindingKind::Weakness, i.rule, sev);
    for tag in &i.tags {
        if let Some(n) = tag.strip_prefix("cwe-") {
            f.add_cwe(n);
        }
    }
    if let Some(msg) = &i.message {
        dependency_check_message(&mut f, msg);
    }
    let project = i.project.as_deref().or(target.as_deref());
    f.add_location(location(i.component, project, i.line, i.text_range, target));
    f.title = i.message;
    f.description = i.description;
    f.sources.push(Source::new(SCANNER, sev, target.clone()));
    f
}

fn hotspot_finding(h: Hotspot, target: &Option<Arc<str>>) -> Finding {
    let sev = h
        .vulnerability_probability
        .as_deref()
        .map_or(Severity::Unknown, severity);
    let mut f = Finding::new(FindingKind::Weakness, h.rule_key, sev);
    let project = h.project.as_deref().or(target.as_deref());
    f.add_location(location(h.component, project, h.line, h.text_range, target));
    f.title = h.message;
    f.description = h
        .security_category
        .map(|c| format!("Security hotspot, category `{c}`"));
    f.sources.push(Source::new(SCANNER, sev, target.clone()));
    f
}

/// Reads the fields of a Dependency-Check plugin issue message.
fn dependency_check_message(f: &mut Finding, msg: &str) {
    if !msg.starts_with("Filename:") {
        return;
    }
    for field in msg.split(" | ") {
        let Some((key, value)) = field.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Filename" => {
                // `name:version`, or a file name such as `lib-1.2.jar`.
                f.package = Some(match value.rsplit_once(':') {
                    Some((name, version)) if !name.is_empty() => {
                        Package::new(name).with_version(Some(version))
                    }
                    _ => Package::new(value),
                });
            }
            "Reference" | "References" => {
                for token in value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                    if is_cve(token) || token.starts_with("GHSA-") {
                        f.add_alias(token);
                    }
                }
            }
            "CVSS Score" | "Highest CVSS Score" => {
                if let Ok(score) = value.parse::<f64>() {
                    f.cvss.push(Cvss {
                        version: CvssVersion::V3_1,
                        score: Some(score),
                        vector: None,
                        source: Some("dependency-check".to_owned()),
                    });
                }
            }
            "Category" => f.add_cwe(value),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_scales() {
        assert_eq!(severity("BLOCKER"), Severity::Critical);
        assert_eq!(severity("CRITICAL"), Severity::High);
        assert_eq!(severity("MAJOR"), Severity::Medium);
        assert_eq!(severity("MINOR"), Severity::Low);
        assert_eq!(severity("INFO"), Severity::Info);
        assert_eq!(severity("bogus"), Severity::Unknown);
    }

    #[test]
    fn dependency_check_messages() {
        let mut f = Finding::new(FindingKind::Weakness, "OWASP:X", Severity::Medium);
        dependency_check_message(
            &mut f,
            "Filename: package:1.1.2 | Reference: CVE-2024-2529 | CVSS Score: 6.4 | Category: CWE-120 | Versions…",
        );
        let pkg = f.package.as_ref().unwrap();
        assert_eq!(
            (pkg.name.as_str(), pkg.version.as_deref()),
            ("package", Some("1.1.2"))
        );
        assert_eq!(f.aliases, ["CVE-2024-2529"]);
        assert_eq!(f.cwes, ["CWE-120"]);
        assert_eq!(f.cvss[0].score, Some(6.4));
    }
}
