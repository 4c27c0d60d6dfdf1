//! The JSON form (1.2–1.7), read leniently.

use paragon_core::ScanReport;
use serde::Deserialize;

use super::parse::{report, Bom, Component, Rating, Vulnerability};
use crate::error::{Error, Result};
use crate::util::{from_json, nullable};
use crate::Format;

const FORMAT: Format = Format::CycloneDxJson;

/// What decides how a document is read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    bom_format: Option<String>,
    spec_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "nullable")]
    components: Vec<JsonComponent>,
    #[serde(default, deserialize_with = "nullable")]
    vulnerabilities: Vec<JsonVulnerability>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    tools: Option<Tools>,
    #[serde(default)]
    component: Option<JsonComponent>,
}

/// 1.2–1.4: a list of tools; 1.5+: `{components: [...], services: [...]}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Tools {
    List(Vec<Tool>),
    Object {
        #[serde(default, deserialize_with = "nullable")]
        components: Vec<Tool>,
    },
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct JsonComponent {
    #[serde(default, rename = "bom-ref")]
    bom_ref: Option<String>,
    #[serde(default, rename = "type")]
    ty: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    components: Vec<JsonComponent>,
}

#[derive(Deserialize)]
struct JsonVulnerability {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    source: Option<VulnSource>,
    #[serde(default, deserialize_with = "nullable")]
    references: Vec<VulnReference>,
    #[serde(default, deserialize_with = "nullable")]
    ratings: Vec<JsonRating>,
    #[serde(default, deserialize_with = "nullable")]
    cwes: Vec<serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    advisories: Vec<Advisory>,
    #[serde(default, deserialize_with = "nullable")]
    affects: Vec<Affects>,
}

#[derive(Deserialize)]
struct VulnSource {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct VulnReference {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct JsonRating {
    #[serde(default)]
    source: Option<VulnSource>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    vector: Option<String>,
}

#[derive(Deserialize)]
struct Advisory {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct Affects {
    #[serde(rename = "ref")]
    reference: String,
}

/// Parses a CycloneDX JSON BOM.
///
/// # Errors
///
/// [`Error::Empty`], [`Error::Malformed`] with the position for bad JSON or
/// a document whose `bomFormat` is not `CycloneDX`,
/// [`Error::UnsupportedVersion`] for a `specVersion` outside 1.x.
pub fn parse_json(bytes: &[u8]) -> Result<ScanReport> {
    // The header first (no allocation beyond two strings), so that each
    // document is read in full once, by one reader.
    let doc: Header = from_json(FORMAT, bytes)?;
    if !doc
        .bom_format
        .as_deref()
        .is_some_and(|f| f.eq_ignore_ascii_case("CycloneDX"))
    {
        return Err(Error::malformed(
            FORMAT,
            "not a CycloneDX BOM: `bomFormat` is not \"CycloneDX\"",
        ));
    }
    let spec = doc.spec_version.unwrap_or_default();
    let supported = ["1.2", "1.3", "1.4", "1.5", "1.6", "1.7"];
    if !supported.contains(&spec.as_str()) {
        return Err(Error::UnsupportedVersion {
            format: FORMAT,
            version: spec,
            supported: "1.2 to 1.7",
            file: None,
        });
    }
    let doc: Document = from_json(FORMAT, bytes)?;
    let mut bom = Bom {
        spec_version: Some(spec),
        ..Bom::default()
    };
    if let Some(meta) = doc.metadata {
        let tools = match meta.tools {
            Some(Tools::List(list)) => list,
            Some(Tools::Object { components }) => components,
            None => Vec::new(),
        };
        bom.tool = tools
            .into_iter()
            .find_map(|t| t.name.map(|n| (n, t.version)));
        bom.subject = meta.component.map(|c| flat(c, &mut Vec::new()));
    }
    for c in doc.components {
        let mut nested = Vec::new();
        let top = flat(c, &mut nested);
        bom.components.push(top);
        bom.components.append(&mut nested);
    }
    bom.vulnerabilities = doc.vulnerabilities.into_iter().map(vulnerability).collect();
    Ok(report(bom, bytes))
}

/// The component, with its nested components appended to `nested` (depth first).
fn flat(c: JsonComponent, nested: &mut Vec<Component>) -> Component {
    for child in c.components {
        let mut deeper = Vec::new();
        let comp = flat(child, &mut deeper);
        nested.push(comp);
        nested.append(&mut deeper);
    }
    Component {
        bom_ref: c.bom_ref,
        name: c.name.unwrap_or_default(),
        group: c.group,
        version: c.version,
        purl: c.purl,
        ty: c.ty,
    }
}

fn vulnerability(v: JsonVulnerability) -> Vulnerability {
    let (source_name, source_url) = v.source.map(|s| (s.name, s.url)).unwrap_or((None, None));
    let id =
        v.id.filter(|id| !id.is_empty())
            .or(source_name)
            .unwrap_or_else(|| "UNKNOWN".to_owned());
    Vulnerability {
        id,
        source_url,
        aliases: v.references.into_iter().filter_map(|r| r.id).collect(),
        ratings: v
            .ratings
            .into_iter()
            .map(|r| Rating {
                source: r.source.and_then(|s| s.name),
                score: r.score,
                severity: r.severity,
                method: r.method,
                vector: r.vector,
            })
            .collect(),
        cwes: v
            .cwes
            .into_iter()
            .filter_map(|c| match c {
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        description: v.description,
        detail: v.detail,
        references: v.advisories.into_iter().filter_map(|a| a.url).collect(),
        affects: v.affects.into_iter().map(|a| a.reference).collect(),
        parent: None,
    }
}
