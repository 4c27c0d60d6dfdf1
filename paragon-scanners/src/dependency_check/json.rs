//! The JSON report (`reportSchema` 1.1).

use std::collections::HashMap;

use paragon_core::{CvssVersion, ScanReport};
use serde::Deserialize;
use serde_json::Value;

use super::parse::{cvss_from_metrics, report, Dependency, Vulnerability};
use crate::error::{Error, Result};
use crate::util::{from_json, nullable};
use crate::Format;

const FORMAT: Format = Format::DependencyCheckJson;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    report_schema: Option<String>,
    #[serde(default)]
    scan_info: Option<ScanInfo>,
    #[serde(default)]
    project_info: Option<ProjectInfo>,
    #[serde(default, deserialize_with = "nullable")]
    dependencies: Option<Vec<JsonDependency>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScanInfo {
    #[serde(default)]
    engine_version: Option<String>,
}

#[derive(Deserialize)]
struct ProjectInfo {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonDependency {
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    packages: Vec<Identifier>,
    #[serde(default, deserialize_with = "nullable")]
    vulnerability_ids: Vec<Identifier>,
    #[serde(default, deserialize_with = "nullable")]
    vulnerabilities: Vec<JsonVulnerability>,
}

#[derive(Deserialize)]
struct Identifier {
    id: String,
}

#[derive(Deserialize)]
struct JsonVulnerability {
    name: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    cvssv2: Option<HashMap<String, Value>>,
    #[serde(default)]
    cvssv3: Option<HashMap<String, Value>>,
    #[serde(default)]
    cvssv4: Option<HashMap<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    cwes: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(default)]
    url: Option<String>,
}

/// The supported `reportSchema` versions.
const SUPPORTED: &str = "reportSchema 1.x";

/// Parses a Dependency-Check JSON report.
///
/// # Errors
///
/// [`Error::Empty`], [`Error::Malformed`] with the position for bad JSON or
/// a document without `reportSchema` and `dependencies`,
/// [`Error::UnsupportedVersion`] for a `reportSchema` other than 1.x.
pub fn parse_json(bytes: &[u8]) -> Result<ScanReport> {
    let doc: Document = from_json(FORMAT, bytes)?;
    let (Some(schema), Some(deps)) = (doc.report_schema, doc.dependencies) else {
        return Err(Error::malformed(
            FORMAT,
            "not a Dependency-Check report: `reportSchema` or `dependencies` is missing",
        ));
    };
    if !schema.starts_with("1.") {
        return Err(Error::UnsupportedVersion {
            format: FORMAT,
            version: schema,
            supported: SUPPORTED,
            file: None,
        });
    }
    let deps = deps.into_iter().map(dependency).collect();
    Ok(report(
        doc.scan_info.and_then(|s| s.engine_version),
        doc.project_info.and_then(|p| p.name),
        deps,
    ))
}

fn dependency(d: JsonDependency) -> Dependency {
    Dependency {
        file_name: d.file_name,
        purl: d
            .packages
            .into_iter()
            .map(|p| p.id)
            .find(|id| id.starts_with("pkg:")),
        maven: None,
        cpe: d
            .vulnerability_ids
            .into_iter()
            .map(|p| p.id)
            .find(|id| id.starts_with("cpe:")),
        vulnerabilities: d.vulnerabilities.into_iter().map(vulnerability).collect(),
    }
}

fn vulnerability(v: JsonVulnerability) -> Vulnerability {
    let mut cvss = Vec::new();
    for (map, hint, score_keys) in [
        (&v.cvssv2, CvssVersion::V2, &["score", "baseScore"][..]),
        (&v.cvssv3, CvssVersion::V3_1, &["baseScore"][..]),
        (&v.cvssv4, CvssVersion::V4_0, &["baseScore"][..]),
    ] {
        if let Some(map) = map {
            let text: HashMap<&str, String> = map
                .iter()
                .filter_map(|(k, v)| value_text(v).map(|t| (k.as_str(), t)))
                .collect();
            let get = |k: &str| text.get(k).map(String::as_str);
            cvss.extend(cvss_from_metrics(hint, get, score_keys));
        }
    }
    Vulnerability {
        name: v.name,
        severity: v.severity,
        cvss,
        cwes: v.cwes,
        description: v.description,
        references: v.references.into_iter().filter_map(|r| r.url).collect(),
    }
}

/// Numbers are written both as JSON numbers and as strings; both are read.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
