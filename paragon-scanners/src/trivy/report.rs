//! Serde model of Trivy's JSON report (only the fields Paragon reads).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::util::nullable;

/// Schema 2 and the Kubernetes forms share one top-level object.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Document {
    pub schema_version: Option<serde_json::Value>,
    pub artifact_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub results: Option<Vec<TrivyResult>>,
    pub trivy: Option<TrivyMeta>,
    // `trivy k8s`
    pub cluster_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub vulnerabilities: Option<Vec<Resource>>,
    #[serde(default, deserialize_with = "nullable")]
    pub misconfigurations: Option<Vec<Resource>>,
    #[serde(default, deserialize_with = "nullable")]
    pub resources: Option<Vec<Resource>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TrivyMeta {
    pub version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Resource {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub results: Vec<TrivyResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TrivyResult {
    pub target: String,
    #[serde(default, rename = "Type")]
    pub ty: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub vulnerabilities: Vec<Vulnerability>,
    #[serde(default, deserialize_with = "nullable")]
    pub misconfigurations: Vec<Misconfiguration>,
    #[serde(default, deserialize_with = "nullable")]
    pub secrets: Vec<Secret>,
    #[serde(default, deserialize_with = "nullable")]
    pub licenses: Vec<License>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Vulnerability {
    /// Missing in some hand-made and very old reports.
    #[serde(default, rename = "VulnerabilityID")]
    pub vulnerability_id: Option<String>,
    #[serde(default, rename = "VendorIDs", deserialize_with = "nullable")]
    pub vendor_ids: Vec<String>,
    pub pkg_name: String,
    #[serde(default)]
    pub pkg_path: Option<String>,
    #[serde(default)]
    pub pkg_identifier: Option<PkgIdentifier>,
    #[serde(default)]
    pub installed_version: Option<String>,
    #[serde(default)]
    pub fixed_version: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default, rename = "PrimaryURL")]
    pub primary_url: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "CweIDs", deserialize_with = "nullable")]
    pub cwe_ids: Vec<String>,
    #[serde(default, rename = "CVSS", deserialize_with = "nullable")]
    pub cvss: BTreeMap<String, CvssEntry>,
    #[serde(default, deserialize_with = "nullable")]
    pub references: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct PkgIdentifier {
    #[serde(default, rename = "PURL")]
    pub purl: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct CvssEntry {
    #[serde(default, rename = "V2Vector")]
    pub v2_vector: Option<String>,
    #[serde(default, rename = "V2Score")]
    pub v2_score: Option<f64>,
    #[serde(default, rename = "V3Vector")]
    pub v3_vector: Option<String>,
    #[serde(default, rename = "V3Score")]
    pub v3_score: Option<f64>,
    #[serde(default, rename = "V40Vector")]
    pub v40_vector: Option<String>,
    #[serde(default, rename = "V40Score")]
    pub v40_score: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Misconfiguration {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(default, rename = "AVDID")]
    pub avd_id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub resolution: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default, rename = "PrimaryURL")]
    pub primary_url: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub references: Vec<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub cause_metadata: Option<CauseMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CauseMetadata {
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub start_line: Option<u32>,
    #[serde(default)]
    pub end_line: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Secret {
    #[serde(rename = "RuleID")]
    pub rule_id: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub start_line: Option<u32>,
    #[serde(default)]
    pub end_line: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct License {
    pub name: String,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub pkg_name: Option<String>,
    #[serde(default)]
    pub file_path: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
}
