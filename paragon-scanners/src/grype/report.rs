//! Serde model of Grype's JSON report (only the fields Paragon reads).

use std::borrow::Cow;

use serde::Deserialize;

use crate::util::nullable;

#[derive(Deserialize)]
pub(super) struct Document<'a> {
    #[serde(borrow)]
    pub matches: Option<Vec<Match<'a>>>,
    #[serde(default)]
    pub source: Option<GrypeSource>,
    #[serde(default)]
    pub descriptor: Option<Descriptor>,
}

#[derive(Deserialize)]
pub(super) struct Descriptor {
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GrypeSource {
    #[serde(default)]
    pub target: Option<Target>,
}

/// An image target is an object; directory and file targets are strings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Target {
    Path(String),
    Image {
        #[serde(default, rename = "userInput")]
        user_input: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Match<'a> {
    #[serde(borrow)]
    pub vulnerability: Vulnerability<'a>,
    #[serde(default, deserialize_with = "nullable")]
    pub related_vulnerabilities: Vec<Related>,
    #[serde(borrow)]
    pub artifact: Artifact<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Vulnerability<'a> {
    pub id: String,
    #[serde(default, borrow)]
    pub severity: Option<Cow<'a, str>>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub data_source: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub urls: Vec<String>,
    /// Grype before 0.20 called `urls` `links`.
    #[serde(default, deserialize_with = "nullable")]
    pub links: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub cvss: Vec<Cvss>,
    /// Grype before 0.20.
    #[serde(default, rename = "cvssV2")]
    pub cvss_v2: Option<LegacyCvss>,
    /// Grype before 0.20.
    #[serde(default, rename = "cvssV3")]
    pub cvss_v3: Option<LegacyCvss>,
    #[serde(default)]
    pub fix: Option<Fix>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Related {
    pub id: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub urls: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub cvss: Vec<Cvss>,
}

#[derive(Deserialize)]
pub(super) struct Cvss {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub vector: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub metrics: Option<Metrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Metrics {
    #[serde(default)]
    pub base_score: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LegacyCvss {
    #[serde(default)]
    pub base_score: Option<f64>,
    #[serde(default)]
    pub vector: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Fix {
    #[serde(default, deserialize_with = "nullable")]
    pub versions: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct Artifact<'a> {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "nullable")]
    pub locations: Vec<ArtifactLocation>,
    #[serde(default, borrow)]
    pub purl: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct ArtifactLocation {
    #[serde(default)]
    pub path: Option<String>,
}
