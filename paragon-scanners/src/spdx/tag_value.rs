//! SPDX 2.x tag-value (`Tag: value` lines; `<text>…</text>` spans lines).

use paragon_core::ScanReport;

use super::parse::{check_version, report, Document, SpdxPackage};
use crate::error::{Error, Result};
use crate::format::trim_start;
use crate::{Format, Position};

const FORMAT: Format = Format::SpdxTagValue;

/// The document creation fields SPDX 2.x requires, in the order a tool
/// writes them: a document cut short in its header lacks some.
const REQUIRED_DOCUMENT_TAGS: [&str; 7] = [
    "SPDXVersion",
    "DataLicense",
    "SPDXID",
    "DocumentName",
    "DocumentNamespace",
    "Creator",
    "Created",
];

/// The package fields SPDX 2.x requires besides `PackageName`.
const REQUIRED_PACKAGE_TAGS: [&str; 2] = ["SPDXID", "PackageDownloadLocation"];

fn malformed(line: usize, reason: impl Into<String>) -> Error {
    Error::Malformed {
        format: FORMAT,
        file: None,
        position: Some(Position { line, column: 1 }),
        reason: reason.into(),
        source: None,
    }
}

/// Parses an SPDX 2.x tag-value document.
///
/// The format has no end marker, so a document cut short is recognised by
/// what it lacks: a last line without its newline, a document creation
/// field or a package field the specification requires, an `ExternalRef`
/// without its category, type and locator, an unterminated `<text>` block.
/// A document cut exactly at the end of a line between two packages is a
/// valid, smaller document that no reader can tell from a whole one; the
/// JSON form has no such blind spot.
///
/// # Errors
///
/// [`Error::Empty`], [`Error::Malformed`] naming the line for a line that is
/// not `Tag: value`, an incomplete field, a missing required field or a
/// document that does not end with a newline, [`Error::UnsupportedVersion`]
/// for versions other than 2.x.
pub fn parse_tag_value(bytes: &[u8]) -> Result<ScanReport> {
    let bytes = crate::format::strip_bom(bytes);
    if trim_start(bytes).is_empty() {
        return Err(Error::Empty {
            format: Some(FORMAT),
            file: None,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Malformed {
        format: FORMAT,
        file: None,
        position: Some(Position::of_offset(bytes, e.valid_up_to())),
        reason: "not UTF-8 text".to_owned(),
        source: Some(Box::new(e)),
    })?;
    let mut doc = Document::default();
    let mut in_text: Option<usize> = None;
    let mut header: Vec<&str> = Vec::new();
    // The current package's required fields seen so far, and its line.
    let mut package: Option<(usize, Vec<&str>)> = None;
    let finish_package = |package: Option<(usize, Vec<&str>)>| -> Result<()> {
        let Some((line, seen)) = package else {
            return Ok(());
        };
        match REQUIRED_PACKAGE_TAGS.iter().find(|t| !seen.contains(t)) {
            Some(missing) => Err(malformed(
                line,
                format!("the package has no `{missing}` (truncated?)"),
            )),
            None => Ok(()),
        }
    };
    let mut lines = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        lines = line_no;
        if let Some(_start) = in_text {
            if line.contains("</text>") {
                in_text = None;
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((tag, value)) = trimmed.split_once(':') else {
            return Err(malformed(line_no, "expected a `Tag: value` line"));
        };
        let (tag, value) = (tag.trim(), value.trim());
        if value.starts_with("<text>") && !value.contains("</text>") {
            in_text = Some(line_no);
            continue;
        }
        match (tag, &mut package) {
            ("PackageName", _) => {
                finish_package(package.take())?;
                package = Some((line_no, Vec::new()));
            }
            (t, Some((_, seen))) if REQUIRED_PACKAGE_TAGS.contains(&t) => seen.push(t),
            (t, None) if REQUIRED_DOCUMENT_TAGS.contains(&t) => header.push(t),
            _ => {}
        }
        match tag {
            "SPDXVersion" => doc.version = Some(value.to_owned()),
            "DocumentName" => doc.name = Some(value.to_owned()),
            "Creator" => doc.creators.push(value.to_owned()),
            "PackageName" => doc.packages.push(SpdxPackage {
                name: value.to_owned(),
                ..SpdxPackage::default()
            }),
            "PackageVersion" => {
                if let Some(p) = doc.packages.last_mut() {
                    p.version = Some(value.to_owned());
                }
            }
            "ExternalRef" => {
                let mut parts = value.split_whitespace();
                let (Some(category), Some(ty), Some(locator)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(malformed(
                        line_no,
                        format!("`ExternalRef: {value}` lacks its category, type or locator"),
                    ));
                };
                if let Some(p) = doc.packages.last_mut() {
                    match (category, ty) {
                        (_, "purl") if p.purl.is_none() => p.purl = Some(locator.to_owned()),
                        ("SECURITY", "advisory" | "url") => {
                            p.advisories.push(locator.to_owned());
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(start) = in_text {
        return Err(malformed(
            start,
            "a `<text>` block is never closed (truncated?)",
        ));
    }
    if !text.ends_with('\n') {
        return Err(malformed(
            lines,
            "the document ends in the middle of a line (truncated?)",
        ));
    }
    check_version(FORMAT, doc.version.as_deref())?;
    if let Some(missing) = REQUIRED_DOCUMENT_TAGS.iter().find(|t| !header.contains(t)) {
        return Err(malformed(
            lines,
            format!("the document has no `{missing}` before its first package (truncated?)"),
        ));
    }
    finish_package(package)?;
    Ok(report(doc, bytes))
}
