//! SPDX 2.x tag-value (`Tag: value` lines; `<text>…</text>` spans lines).

use paragon_core::ScanReport;

use super::parse::{check_version, report, Document, SpdxPackage};
use crate::error::{Error, Result};
use crate::format::trim_start;
use crate::{Format, Position};

const FORMAT: Format = Format::SpdxTagValue;

/// Parses an SPDX 2.x tag-value document.
///
/// # Errors
///
/// [`Error::Empty`], [`Error::Malformed`] naming the line for a line that is
/// not `Tag: value` or an unterminated `<text>` block,
/// [`Error::UnsupportedVersion`] for versions other than 2.x.
pub fn parse_tag_value(bytes: &[u8]) -> Result<ScanReport> {
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
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
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
            return Err(Error::Malformed {
                format: FORMAT,
                file: None,
                position: Some(Position {
                    line: line_no,
                    column: 1,
                }),
                reason: "expected a `Tag: value` line".to_owned(),
                source: None,
            });
        };
        let value = value.trim();
        if value.starts_with("<text>") && !value.contains("</text>") {
            in_text = Some(line_no);
            continue;
        }
        match tag.trim() {
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
                let (category, ty, locator) = (parts.next(), parts.next(), parts.next());
                if let (Some(p), Some(locator)) = (doc.packages.last_mut(), locator) {
                    match (category, ty) {
                        (_, Some("purl")) if p.purl.is_none() => p.purl = Some(locator.to_owned()),
                        (Some("SECURITY"), Some("advisory" | "url")) => {
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
        return Err(Error::Malformed {
            format: FORMAT,
            file: None,
            position: Some(Position {
                line: start,
                column: 1,
            }),
            reason: "a `<text>` block is never closed (truncated?)".to_owned(),
            source: None,
        });
    }
    check_version(FORMAT, doc.version.as_deref())?;
    Ok(report(doc, bytes))
}
