//! The XML report (schemas 1.x and 2.x).

use paragon_core::{CvssVersion, ScanReport};
use roxmltree::Node;

use super::parse::{cvss_from_metrics, report, Dependency, Vulnerability};
use crate::error::Result;
use crate::xml::{self, child, child_text, children, text};
use crate::Format;

const FORMAT: Format = Format::DependencyCheckXml;

/// Parses a Dependency-Check XML report.
///
/// # Errors
///
/// [`Error::Empty`](crate::Error::Empty), [`Error::Malformed`](crate::Error::Malformed) with line and column for bad XML
/// or a document whose root is not `analysis`.
pub fn parse_xml(bytes: &[u8]) -> Result<ScanReport> {
    let text = xml::text_of(FORMAT, bytes)?;
    let doc = xml::parse(FORMAT, text, "analysis", "a Dependency-Check report")?;
    let root = doc.root_element();
    let version = child(root, "scanInfo").and_then(|s| child_text(s, "engineVersion"));
    let project = child(root, "projectInfo").and_then(|p| child_text(p, "name"));
    let deps = child(root, "dependencies")
        .into_iter()
        .flat_map(|d| children(d, "dependency"))
        .map(dependency)
        .collect();
    Ok(report(version, project, deps))
}

/// Descendants of the dependency's own identifier sections (not of its
/// related dependencies, evidence or vulnerabilities).
fn identifier_nodes<'a, 'i>(dep: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    dep.children()
        .filter(|n| {
            n.is_element()
                && matches!(
                    n.tag_name().name(),
                    "identifiers" | "packages" | "vulnerabilityIds"
                )
        })
        .flat_map(|n| n.descendants())
        .filter(Node::is_element)
}

fn dependency(dep: Node<'_, '_>) -> Dependency {
    let mut out = Dependency {
        file_name: child_text(dep, "fileName"),
        ..Dependency::default()
    };
    for n in identifier_nodes(dep) {
        match (n.tag_name().name(), n.attribute("type")) {
            ("package", _) if out.purl.is_none() => {
                out.purl = child_text(n, "id").filter(|id| id.starts_with("pkg:"));
            }
            ("vulnerabilityIds", _) if out.cpe.is_none() => {
                out.cpe = child_text(n, "id").filter(|id| id.starts_with("cpe:"));
            }
            ("identifier", Some("maven")) if out.maven.is_none() => {
                out.maven = child_text(n, "name").map(|s| s.trim_matches(['(', ')']).to_owned());
            }
            ("identifier", Some("cpe")) if out.cpe.is_none() => {
                out.cpe = child_text(n, "name");
            }
            _ => {}
        }
    }
    out.vulnerabilities = child(dep, "vulnerabilities")
        .into_iter()
        .flat_map(|v| children(v, "vulnerability"))
        .filter_map(vulnerability)
        .collect();
    out
}

fn vulnerability(v: Node<'_, '_>) -> Option<Vulnerability> {
    let name = child_text(v, "name")?;
    let mut cvss = Vec::new();
    for (tag, hint, score_keys) in [
        ("cvssV2", CvssVersion::V2, &["score", "baseScore"][..]),
        ("cvssV3", CvssVersion::V3_1, &["baseScore"][..]),
        ("cvssV4", CvssVersion::V4_0, &["baseScore"][..]),
    ] {
        if let Some(node) = child(v, tag) {
            let get = |k: &str| {
                node.children()
                    .find(|n| n.is_element() && n.tag_name().name() == k)
                    .and_then(|n| n.text())
                    .map(str::trim)
            };
            cvss.extend(cvss_from_metrics(hint, get, score_keys));
        }
    }
    if cvss.is_empty() {
        // Schema 1.x: flat `cvssScore`, `cvssAccessVector`, … elements (v2).
        let get = |k: &str| {
            let wanted = match k {
                "score" => "cvssScore".to_owned(),
                "version" | "vectorString" | "source" => return None,
                other => {
                    let mut name = String::from("cvss");
                    let mut chars = other.chars();
                    if let Some(c) = chars.next() {
                        name.push(c.to_ascii_uppercase());
                    }
                    name.extend(chars);
                    name
                }
            };
            v.children()
                .find(|n| n.is_element() && n.tag_name().name() == wanted)
                .and_then(|n| n.text())
                .map(str::trim)
        };
        cvss.extend(cvss_from_metrics(CvssVersion::V2, get, &["score"]));
    }
    let mut cwes: Vec<String> = child(v, "cwes")
        .into_iter()
        .flat_map(|c| children(c, "cwe"))
        .filter_map(text)
        .collect();
    cwes.extend(child_text(v, "cwe"));
    Some(Vulnerability {
        name,
        severity: child_text(v, "severity"),
        cvss,
        cwes,
        description: child_text(v, "description"),
        references: child(v, "references")
            .into_iter()
            .flat_map(|r| children(r, "reference"))
            .filter_map(|r| child_text(r, "url"))
            .collect(),
    })
}
