//! Syft (<https://github.com/anchore/syft>): the native JSON SBOM parser,
//! and [`Syft`], the scanner that runs it (writing CycloneDX, so the `syft`
//! feature enables `cyclonedx`).
//!
//! `syft … -o json` lists `artifacts`; each becomes an SBOM component (name,
//! version, purl, type). A Syft SBOM holds no findings. (Syft's CycloneDX
//! and SPDX outputs are read by [`crate::cyclonedx`] and [`crate::spdx`].)

mod run;

pub use run::{Syft, SyftBuilder};

use bytes::Bytes;
use paragon_core::{Sbom, SbomFormat, ScanReport, ScannerInfo};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::util::{from_json, nullable};
use crate::Format;

const FORMAT: Format = Format::SyftJson;

/// The scanner name Syft's reports carry.
pub const SCANNER: &str = "syft";

#[derive(Deserialize)]
struct Document {
    #[serde(default, deserialize_with = "nullable")]
    artifacts: Option<Vec<Artifact>>,
    #[serde(default)]
    descriptor: Option<Descriptor>,
    #[serde(default)]
    source: Option<Source>,
    #[serde(default)]
    schema: Option<Schema>,
}

#[derive(Deserialize)]
struct Artifact {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default, rename = "type")]
    ty: Option<String>,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct Source {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    target: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Schema {
    #[serde(default)]
    version: Option<String>,
}

/// Parses a Syft JSON SBOM.
///
/// # Errors
///
/// [`Error::Empty`], or [`Error::Malformed`] with the position for bad JSON
/// or a document without `artifacts`.
pub fn parse(bytes: &[u8]) -> Result<ScanReport> {
    let doc: Document = from_json(FORMAT, bytes)?;
    let Some(artifacts) = doc.artifacts else {
        return Err(Error::malformed(
            FORMAT,
            "not a Syft report: the `artifacts` list is missing",
        ));
    };
    let target = doc.source.and_then(|s| {
        s.name.filter(|n| !n.is_empty()).or_else(|| match s.target {
            Some(serde_json::Value::String(t)) => Some(t),
            Some(serde_json::Value::Object(o)) => o
                .get("userInput")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            _ => None,
        })
    });
    let mut out = ScanReport::new(ScannerInfo::new(
        SCANNER,
        doc.descriptor.and_then(|d| d.version),
    ))
    .with_target(target);
    let mut sbom = Sbom::new(
        SbomFormat::SyftJson,
        doc.schema.and_then(|s| s.version),
        Bytes::copy_from_slice(bytes),
    );
    for a in artifacts {
        sbom.push_component(a.name, a.version, a.purl.as_deref(), a.ty);
    }
    out.sbom = Some(sbom);
    Ok(out)
}
