//! The XML form (1.0–1.6, with the 1.0 vulnerability extension).

use std::collections::HashMap;

use paragon_core::ScanReport;
use roxmltree::{Node, NodeId};

use super::parse::{report, Bom, Component, Rating, Vulnerability};
use crate::error::{Error, Result};
use crate::xml::{self, child, child_text, children, is, texts};
use crate::Format;

const FORMAT: Format = Format::CycloneDxXml;
const BOM_NS: &str = "http://cyclonedx.org/schema/bom/";
const VULN_EXT_NS: &str = "http://cyclonedx.org/schema/ext/vulnerability/";

/// Parses a CycloneDX XML BOM.
///
/// # Errors
///
/// [`Error::Empty`], [`Error::Malformed`] with line and column for bad XML
/// or a root element other than `bom`, [`Error::UnsupportedVersion`] for a
/// namespace version outside 1.x.
pub fn parse_xml(bytes: &[u8]) -> Result<ScanReport> {
    let text = xml::text_of(FORMAT, bytes)?;
    let doc = xml::parse(FORMAT, text, "bom", "a CycloneDX BOM")?;
    let root = doc.root_element();
    let spec = root
        .tag_name()
        .namespace()
        .and_then(|ns| ns.strip_prefix(BOM_NS))
        .map(str::to_owned);
    if let Some(v) = &spec {
        if !v.starts_with("1.") {
            return Err(Error::UnsupportedVersion {
                format: FORMAT,
                version: v.clone(),
                supported: "1.0 to 1.6",
                file: None,
            });
        }
    }
    let mut bom = Bom {
        spec_version: spec,
        ..Bom::default()
    };
    if let Some(meta) = child(root, "metadata") {
        if let Some(tools) = child(meta, "tools") {
            let tool = children(tools, "tool")
                .chain(
                    child(tools, "components")
                        .into_iter()
                        .flat_map(|c| children(c, "component")),
                )
                .find_map(|t| child_text(t, "name").map(|n| (n, child_text(t, "version"))));
            bom.tool = tool;
        }
        bom.subject = child(meta, "component").map(component);
    }
    let mut index: HashMap<NodeId, usize> = HashMap::new();
    if let Some(list) = child(root, "components") {
        for c in list.descendants().filter(|n| is(n, "component")) {
            index.insert(c.id(), bom.components.len());
            bom.components.push(component(c));
        }
    }
    for v in root.descendants().filter(|n| n.is_element()) {
        let ns = v.tag_name().namespace().unwrap_or("");
        if v.tag_name().name() != "vulnerability" {
            continue;
        }
        if ns.starts_with(VULN_EXT_NS) {
            bom.vulnerabilities.push(extension_vulnerability(v, &index));
        } else if v.parent().is_some_and(|p| is(&p, "vulnerabilities")) {
            bom.vulnerabilities.push(native_vulnerability(v));
        }
    }
    Ok(report(bom, bytes))
}

fn component(c: Node<'_, '_>) -> Component {
    Component {
        bom_ref: c.attribute("bom-ref").map(str::to_owned),
        name: child_text(c, "name").unwrap_or_default(),
        group: child_text(c, "group"),
        version: child_text(c, "version"),
        purl: child_text(c, "purl"),
        ty: c.attribute("type").map(str::to_owned),
    }
}

fn native_vulnerability(v: Node<'_, '_>) -> Vulnerability {
    let source = child(v, "source");
    Vulnerability {
        id: child_text(v, "id")
            .or_else(|| source.and_then(|s| child_text(s, "name")))
            .unwrap_or_else(|| "UNKNOWN".to_owned()),
        source_url: source.and_then(|s| child_text(s, "url")),
        aliases: child(v, "references")
            .into_iter()
            .flat_map(|r| children(r, "reference"))
            .filter_map(|r| child_text(r, "id"))
            .collect(),
        ratings: child(v, "ratings")
            .into_iter()
            .flat_map(|r| children(r, "rating"))
            .map(|r| Rating {
                source: child(r, "source").and_then(|s| child_text(s, "name")),
                score: child_text(r, "score").and_then(|s| s.parse().ok()),
                severity: child_text(r, "severity"),
                method: child_text(r, "method"),
                vector: child_text(r, "vector"),
            })
            .collect(),
        cwes: texts(child(v, "cwes"), "cwe"),
        description: child_text(v, "description"),
        detail: child_text(v, "detail"),
        references: texts(child(v, "advisories"), "advisory")
            .into_iter()
            .chain(
                child(v, "advisories")
                    .into_iter()
                    .flat_map(|a| children(a, "advisory"))
                    .filter_map(|a| child_text(a, "url")),
            )
            .collect(),
        affects: child(v, "affects")
            .into_iter()
            .flat_map(|a| children(a, "target"))
            .filter_map(|t| child_text(t, "ref"))
            .collect(),
        parent: None,
    }
}

fn extension_vulnerability(v: Node<'_, '_>, index: &HashMap<NodeId, usize>) -> Vulnerability {
    let parent = v
        .ancestors()
        .find(|a| is(a, "component"))
        .and_then(|c| index.get(&c.id()).copied());
    let source = child(v, "source");
    let reference = v.attribute("ref").map(str::to_owned);
    Vulnerability {
        id: child_text(v, "id").unwrap_or_else(|| "UNKNOWN".to_owned()),
        source_url: source.and_then(|s| child_text(s, "url")),
        aliases: Vec::new(),
        ratings: child(v, "ratings")
            .into_iter()
            .flat_map(|r| children(r, "rating"))
            .map(|r| Rating {
                source: source.and_then(|s| s.attribute("name")).map(str::to_owned),
                score: child(r, "score")
                    .and_then(|s| child_text(s, "base"))
                    .and_then(|s| s.parse().ok()),
                severity: child_text(r, "severity"),
                method: child_text(r, "method"),
                vector: child_text(r, "vector"),
            })
            .collect(),
        cwes: texts(child(v, "cwes"), "cwe"),
        description: child_text(v, "description"),
        detail: None,
        references: texts(child(v, "advisories"), "advisory"),
        // Nested in a component: that component; at the top level: the ref.
        affects: if parent.is_some() {
            Vec::new()
        } else {
            reference.into_iter().collect()
        },
        parent,
    }
}
