//! SPDX 2.x JSON.

use paragon_core::ScanReport;
use serde::Deserialize;

use super::parse::{check_version, report, Document, SpdxPackage};
use crate::error::{Error, Result};
use crate::util::{from_json, nullable};
use crate::Format;

const FORMAT: Format = Format::SpdxJson;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonDocument {
    spdx_version: Option<String>,
    #[serde(default, rename = "@context")]
    context: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    creation_info: Option<CreationInfo>,
    #[serde(default, deserialize_with = "nullable")]
    packages: Vec<JsonPackage>,
}

#[derive(Deserialize)]
struct CreationInfo {
    #[serde(default, deserialize_with = "nullable")]
    creators: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonPackage {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    external_refs: Vec<ExternalRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    #[serde(default)]
    reference_category: Option<String>,
    #[serde(default)]
    reference_type: Option<String>,
    #[serde(default)]
    reference_locator: Option<String>,
}

/// Parses an SPDX 2.x JSON document.
///
/// # Errors
///
/// [`Error::Empty`], [`Error::Malformed`] with the position for bad JSON or
/// a document without `spdxVersion`, [`Error::UnsupportedVersion`] for
/// SPDX 3 and any version other than 2.x.
pub fn parse_json(bytes: &[u8]) -> Result<ScanReport> {
    let doc: JsonDocument = from_json(FORMAT, bytes)?;
    if doc.spdx_version.is_none() && doc.context.is_some() {
        return Err(Error::UnsupportedVersion {
            format: FORMAT,
            version: "3 (JSON-LD)".to_owned(),
            supported: super::parse::SUPPORTED,
            file: None,
        });
    }
    check_version(FORMAT, doc.spdx_version.as_deref())?;
    let packages = doc
        .packages
        .into_iter()
        .map(|p| {
            let mut pkg = SpdxPackage {
                name: p.name.unwrap_or_default(),
                version: p.version_info,
                ..SpdxPackage::default()
            };
            for r in p.external_refs {
                let (ty, locator) = (r.reference_type.unwrap_or_default(), r.reference_locator);
                let Some(locator) = locator else { continue };
                if ty == "purl" && pkg.purl.is_none() {
                    pkg.purl = Some(locator);
                } else if matches!(ty.as_str(), "advisory" | "url")
                    && r.reference_category.as_deref() == Some("SECURITY")
                {
                    pkg.advisories.push(locator);
                }
            }
            pkg
        })
        .collect();
    let doc = Document {
        version: doc.spdx_version,
        name: doc.name,
        creators: doc.creation_info.map(|c| c.creators).unwrap_or_default(),
        packages,
    };
    Ok(report(doc, bytes))
}
