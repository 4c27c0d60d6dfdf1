//! The JSON report (`reportSchema` 1.1).

use std::borrow::Cow;

use paragon_core::{CvssVersion, ScanReport};
use serde::Deserialize;

use super::parse::{cvss_from_metrics, report, Dependency, Vulnerability};
use crate::error::{Error, Result};
use crate::util::{from_json, nullable};
use crate::Format;

const FORMAT: Format = Format::DependencyCheckJson;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    report_schema: Option<String>,
    #[serde(default)]
    scan_info: Option<ScanInfo>,
    #[serde(default)]
    project_info: Option<ProjectInfo>,
    #[serde(default, deserialize_with = "nullable")]
    #[serde(borrow)]
    dependencies: Option<Vec<JsonDependency<'a>>>,
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
struct JsonDependency<'a> {
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    packages: Vec<Identifier>,
    #[serde(default, deserialize_with = "nullable")]
    vulnerability_ids: Vec<Identifier>,
    #[serde(default, deserialize_with = "nullable")]
    #[serde(borrow)]
    vulnerabilities: Vec<JsonVulnerability<'a>>,
}

#[derive(Deserialize)]
struct Identifier {
    id: String,
}

#[derive(Deserialize)]
struct JsonVulnerability<'a> {
    name: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default, borrow)]
    cvssv2: Option<JsonCvss<'a>>,
    #[serde(default, borrow)]
    cvssv3: Option<JsonCvss<'a>>,
    #[serde(default, borrow)]
    cvssv4: Option<JsonCvss<'a>>,
    #[serde(default, deserialize_with = "nullable")]
    cwes: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    references: Vec<Reference>,
}

/// The CVSS fields Dependency-Check writes (v2, v3 and v4 share one shape
/// here; each version fills its own).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct JsonCvss<'a> {
    #[serde(borrow)]
    score: Option<Text<'a>>,
    #[serde(borrow)]
    base_score: Option<Text<'a>>,
    #[serde(borrow)]
    version: Option<Text<'a>>,
    #[serde(borrow)]
    vector_string: Option<Text<'a>>,
    #[serde(borrow)]
    source: Option<Text<'a>>,
    #[serde(borrow)]
    access_vector: Option<Text<'a>>,
    #[serde(borrow)]
    access_complexity: Option<Text<'a>>,
    #[serde(borrow)]
    authenticationr: Option<Text<'a>>,
    #[serde(borrow)]
    authentication: Option<Text<'a>>,
    #[serde(borrow)]
    confidential_impact: Option<Text<'a>>,
    #[serde(borrow)]
    confidentiality_impact: Option<Text<'a>>,
    #[serde(borrow)]
    integrity_impact: Option<Text<'a>>,
    #[serde(borrow)]
    availability_impact: Option<Text<'a>>,
    #[serde(borrow)]
    attack_vector: Option<Text<'a>>,
    #[serde(borrow)]
    attack_complexity: Option<Text<'a>>,
    #[serde(borrow)]
    privileges_required: Option<Text<'a>>,
    #[serde(borrow)]
    user_interaction: Option<Text<'a>>,
    #[serde(borrow)]
    scope: Option<Text<'a>>,
}

impl JsonCvss<'_> {
    /// A field by the name Dependency-Check gives it.
    fn get(&self, key: &str) -> Option<&str> {
        let field = match key {
            "score" => &self.score,
            "baseScore" => &self.base_score,
            "version" => &self.version,
            "vectorString" => &self.vector_string,
            "source" => &self.source,
            "accessVector" => &self.access_vector,
            "accessComplexity" => &self.access_complexity,
            "authenticationr" => &self.authenticationr,
            "authentication" => &self.authentication,
            "confidentialImpact" => &self.confidential_impact,
            "confidentialityImpact" => &self.confidentiality_impact,
            "integrityImpact" => &self.integrity_impact,
            "availabilityImpact" => &self.availability_impact,
            "attackVector" => &self.attack_vector,
            "attackComplexity" => &self.attack_complexity,
            "privilegesRequired" => &self.privileges_required,
            "userInteraction" => &self.user_interaction,
            "scope" => &self.scope,
            _ => return None,
        };
        field.as_ref().map(|t| t.0.as_ref())
    }
}

/// A string, or a number kept as its text (Dependency-Check writes scores
/// both ways).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
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

fn dependency(d: JsonDependency<'_>) -> Dependency {
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

fn vulnerability(v: JsonVulnerability<'_>) -> Vulnerability {
    let mut cvss = Vec::new();
    for (map, hint, score_keys) in [
        (&v.cvssv2, CvssVersion::V2, &["score", "baseScore"][..]),
        (&v.cvssv3, CvssVersion::V3_1, &["baseScore"][..]),
        (&v.cvssv4, CvssVersion::V4_0, &["baseScore"][..]),
    ] {
        if let Some(fields) = map {
            cvss.extend(cvss_from_metrics(hint, |k| fields.get(k), score_keys));
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
