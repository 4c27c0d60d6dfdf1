//! The mapping shared by the JSON and tag-value readers.

use bytes::Bytes;
use paragon_core::{
    is_cve, Finding, FindingKind, Package, Sbom, SbomFormat, ScanReport, ScannerInfo, Severity,
    Source,
};
use std::sync::Arc;

use super::SCANNER;
use crate::error::{Error, Result};
use crate::Format;

#[derive(Default)]
pub(super) struct Document {
    pub version: Option<String>,
    pub name: Option<String>,
    pub creators: Vec<String>,
    pub packages: Vec<SpdxPackage>,
}

#[derive(Default)]
pub(super) struct SpdxPackage {
    pub name: String,
    pub version: Option<String>,
    pub purl: Option<String>,
    pub advisories: Vec<String>,
}

pub(super) const SUPPORTED: &str = "SPDX-2.0 to SPDX-2.3";

pub(super) fn check_version(format: Format, version: Option<&str>) -> Result<()> {
    match version {
        Some(v) if v.starts_with("SPDX-2.") => Ok(()),
        Some(v) => Err(Error::UnsupportedVersion {
            format,
            version: v.to_owned(),
            supported: SUPPORTED,
            file: None,
        }),
        None => Err(Error::malformed(
            format,
            "not an SPDX document: `spdxVersion` is missing",
        )),
    }
}

/// `Tool: syft-1.50.0` → (`syft`, `1.50.0`).
fn tool(creators: &[String]) -> Option<(String, Option<String>)> {
    let t = creators
        .iter()
        .find_map(|c| c.trim().strip_prefix("Tool:"))?
        .trim();
    // The version starts at the first `-` followed by a digit or `v<digit>`.
    let split = t.char_indices().find(|&(i, c)| {
        let rest = &t[i + c.len_utf8()..];
        c == '-'
            && (rest.starts_with(|d: char| d.is_ascii_digit())
                || (rest.starts_with('v') && rest[1..].starts_with(|d: char| d.is_ascii_digit())))
    });
    Some(match split {
        Some((i, _)) => (t[..i].to_ascii_lowercase(), Some(t[i + 1..].to_owned())),
        None => (t.to_ascii_lowercase(), None),
    })
}

/// The CVE or GHSA id an advisory URL names, upper-cased.
pub(super) fn advisory_id(url: &str) -> Option<String> {
    url.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|t| !t.is_empty())
        .find(|t| is_cve(t) || is_ghsa(t))
        .map(str::to_ascii_uppercase)
}

fn is_ghsa(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 4
        && parts[0].eq_ignore_ascii_case("GHSA")
        && parts[1..]
            .iter()
            .all(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub(super) fn report(doc: Document, raw: &[u8]) -> ScanReport {
    let (name, version) = tool(&doc.creators).unwrap_or_else(|| (SCANNER.to_owned(), None));
    let mut out = ScanReport::new(ScannerInfo::new(name.clone(), version)).with_target(doc.name);
    let mut sbom = Sbom::new(SbomFormat::Spdx, doc.version, Bytes::copy_from_slice(raw));
    let scanner: Arc<str> = name.as_str().into();
    let target: Option<Arc<str>> = out.target.as_deref().map(Arc::from);
    for p in doc.packages {
        let mut seen: Vec<String> = Vec::new();
        for url in &p.advisories {
            let Some(id) = advisory_id(url) else { continue };
            if seen.contains(&id) {
                continue;
            }
            seen.push(id.clone());
            let mut f = Finding::new(FindingKind::Vulnerability, id, Severity::Unknown);
            f.package = Some(
                Package::new(p.name.clone())
                    .with_version(p.version.clone())
                    .with_purl_str(p.purl.as_deref()),
            );
            f.add_reference(url.clone());
            f.sources.push(Source::new(
                scanner.clone(),
                Severity::Unknown,
                target.clone(),
            ));
            out.findings.push(f);
        }
        sbom.push_component(p.name, p.version, p.purl.as_deref(), None);
    }
    out.sbom = Some(sbom);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisory_ids() {
        assert_eq!(
            advisory_id("https://example.com/advisories/CVE-2024-10001").as_deref(),
            Some("CVE-2024-10001")
        );
        assert_eq!(
            advisory_id("https://github.com/advisories/GHSA-jfh8-c2jp-5v3q").as_deref(),
            Some("GHSA-JFH8-C2JP-5V3Q")
        );
        assert_eq!(
            advisory_id("https://example.com/advisories/no-identifier-here"),
            None
        );
        assert_eq!(
            tool(&["Tool: syft-1.50.0".to_owned()]),
            Some(("syft".to_owned(), Some("1.50.0".to_owned())))
        );
        assert_eq!(
            tool(&[
                "Organization: Anchore".to_owned(),
                "Tool: syft-v0.42.0-bogus".to_owned()
            ]),
            Some(("syft".to_owned(), Some("v0.42.0-bogus".to_owned())))
        );
        assert_eq!(
            tool(&["Tool: my-tool".to_owned()]),
            Some(("my-tool".to_owned(), None))
        );
    }
}
