//! Report formats, and detecting them from content.

use std::borrow::Cow;
use std::fmt;

use paragon_core::ScanReport;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Result};

/// A report format Paragon reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// Trivy JSON: schema 2 (`SchemaVersion: 2`), the legacy list form, and
    /// the Kubernetes (`trivy k8s`) forms.
    TrivyJson,
    /// Grype JSON (`grype -o json`).
    GrypeJson,
    /// OWASP Dependency-Check XML report.
    DependencyCheckXml,
    /// OWASP Dependency-Check JSON report (`reportSchema` 1.1).
    DependencyCheckJson,
    /// CycloneDX JSON (1.2–1.7).
    CycloneDxJson,
    /// CycloneDX XML (1.0–1.6, with the 1.0 vulnerability extension).
    CycloneDxXml,
    /// SPDX 2.x JSON.
    SpdxJson,
    /// SPDX 2.x tag-value.
    SpdxTagValue,
    /// Syft's native JSON.
    SyftJson,
    /// SonarQube: `api/issues/search` and `api/hotspots/search` pages, a
    /// bare list of issues, and the `sonar-report` JSON export.
    SonarQubeJson,
    /// SARIF 2.1.0.
    Sarif,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 11] = [
        Format::TrivyJson,
        Format::GrypeJson,
        Format::DependencyCheckXml,
        Format::DependencyCheckJson,
        Format::CycloneDxJson,
        Format::CycloneDxXml,
        Format::SpdxJson,
        Format::SpdxTagValue,
        Format::SyftJson,
        Format::SonarQubeJson,
        Format::Sarif,
    ];

    /// A human-readable name (`Trivy JSON`, `CycloneDX XML`…).
    pub fn name(self) -> &'static str {
        match self {
            Format::TrivyJson => "Trivy JSON",
            Format::GrypeJson => "Grype JSON",
            Format::DependencyCheckXml => "Dependency-Check XML",
            Format::DependencyCheckJson => "Dependency-Check JSON",
            Format::CycloneDxJson => "CycloneDX JSON",
            Format::CycloneDxXml => "CycloneDX XML",
            Format::SpdxJson => "SPDX JSON",
            Format::SpdxTagValue => "SPDX tag-value",
            Format::SyftJson => "Syft JSON",
            Format::SonarQubeJson => "SonarQube JSON",
            Format::Sarif => "SARIF",
        }
    }

    /// The cargo feature of `paragon-scanners` that provides the parser.
    pub fn feature(self) -> &'static str {
        match self {
            Format::TrivyJson => "trivy",
            Format::GrypeJson => "grype",
            Format::DependencyCheckXml | Format::DependencyCheckJson => "dependency-check",
            Format::CycloneDxJson | Format::CycloneDxXml => "cyclonedx",
            Format::SpdxJson | Format::SpdxTagValue => "spdx",
            Format::SyftJson => "syft",
            Format::SonarQubeJson => "sonarqube-report",
            Format::Sarif => "sarif",
        }
    }

    /// Parses `bytes` as a report of this format.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`], [`Error::Malformed`] (with the position),
    /// [`Error::UnsupportedVersion`], [`Error::WrongFormat`] when the input is
    /// recognisably another format, or [`Error::FeatureDisabled`].
    pub fn parse(self, bytes: &[u8]) -> Result<ScanReport> {
        // A byte-order mark is allowed before any format; the parsers
        // never see it.
        let bytes = strip_bom(bytes);
        if trim_start(bytes).is_empty() {
            return Err(Error::Empty {
                format: Some(self),
                file: None,
            });
        }
        let result = self.dispatch(bytes);
        match result {
            Err(Error::Malformed { .. }) => match detect(bytes) {
                // A well-formed document of another format: say so rather
                // than report the first field that did not fit.
                Some(found) if found != self && !same_family(found, self) => {
                    Err(Error::WrongFormat {
                        expected: self,
                        found,
                        file: None,
                    })
                }
                _ => result,
            },
            other => other,
        }
    }

    // With every parser feature off, `bytes` is not used.
    #[cfg_attr(
        not(any(
            feature = "trivy",
            feature = "grype",
            feature = "dependency-check",
            feature = "cyclonedx",
            feature = "spdx",
            feature = "syft",
            feature = "sonarqube-report",
            feature = "sarif"
        )),
        allow(unused_variables)
    )]
    fn dispatch(self, bytes: &[u8]) -> Result<ScanReport> {
        let disabled = || Error::FeatureDisabled {
            format: self,
            feature: self.feature(),
            file: None,
        };
        match self {
            #[cfg(feature = "trivy")]
            Format::TrivyJson => crate::trivy::parse(bytes),
            #[cfg(feature = "grype")]
            Format::GrypeJson => crate::grype::parse(bytes),
            #[cfg(feature = "dependency-check")]
            Format::DependencyCheckXml => crate::dependency_check::parse_xml(bytes),
            #[cfg(feature = "dependency-check")]
            Format::DependencyCheckJson => crate::dependency_check::parse_json(bytes),
            #[cfg(feature = "cyclonedx")]
            Format::CycloneDxJson => crate::cyclonedx::parse_json(bytes),
            #[cfg(feature = "cyclonedx")]
            Format::CycloneDxXml => crate::cyclonedx::parse_xml(bytes),
            #[cfg(feature = "spdx")]
            Format::SpdxJson => crate::spdx::parse_json(bytes),
            #[cfg(feature = "spdx")]
            Format::SpdxTagValue => crate::spdx::parse_tag_value(bytes),
            #[cfg(feature = "syft")]
            Format::SyftJson => crate::syft::parse(bytes),
            #[cfg(feature = "sonarqube-report")]
            Format::SonarQubeJson => crate::sonarqube::parse(bytes),
            #[cfg(feature = "sarif")]
            Format::Sarif => crate::sarif::parse(bytes),
            #[allow(unreachable_patterns)]
            _ => Err(disabled()),
        }
    }
}

fn same_family(a: Format, b: Format) -> bool {
    a.feature() == b.feature()
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many bytes of a JSON document detection reads before it decides
/// from the keys seen so far; only when those are inconclusive does it read
/// the whole document.
const DETECT_WINDOW: usize = 64 * 1024;

/// Detects the format of a report from its content.
///
/// JSON formats are told apart by their top-level keys (read from the first
/// 64 KiB, or the whole document when that is not enough), XML formats by
/// their root element, SPDX tag-value by its `SPDXVersion:` tag. Returns
/// `None` when nothing matches. Detection never fails on bad input; it
/// recognises a format, and the parser then reports what is wrong.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let text = trim_start(bytes);
    match text.first()? {
        b'{' | b'[' => detect_json(text),
        b'n' if trim_end(text) == b"null" => Some(Format::TrivyJson),
        b'<' => detect_xml(text),
        _ => detect_tag_value(text),
    }
}

/// `bytes` without a leading UTF-8 byte-order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

pub(crate) fn trim_start(bytes: &[u8]) -> &[u8] {
    let bytes = strip_bom(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

fn detect_tag_value(text: &[u8]) -> Option<Format> {
    let head = &text[..text.len().min(4096)];
    let head = String::from_utf8_lossy(head);
    head.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take(5)
        .any(|l| l.starts_with("SPDXVersion:"))
        .then_some(Format::SpdxTagValue)
}

fn detect_xml(text: &[u8]) -> Option<Format> {
    let head = String::from_utf8_lossy(&text[..text.len().min(DETECT_WINDOW)]);
    let mut rest: &str = &head;
    // Skip the declaration, comments, processing instructions and doctype.
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = r.split_once("?>")?.1;
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->")?.1;
        } else if let Some(r) = rest.strip_prefix("<!") {
            // A doctype's internal subset (`[ … ]`) holds `>`s of its own:
            // skip past its closing `]` first.
            let r = match (r.find('['), r.find('>')) {
                (Some(open), Some(close)) if open < close => &r[r[open..].find(']')? + open..],
                _ => r,
            };
            rest = r.split_once('>')?.1;
        } else {
            break;
        }
    }
    let tag = rest.strip_prefix('<')?;
    let end = tag.find('>').unwrap_or(tag.len());
    let tag = &tag[..end];
    let name = tag
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or("");
    let local = name.rsplit(':').next().unwrap_or(name);
    match local {
        "bom" if tag.contains("cyclonedx.org") || !tag.contains("xmlns") => {
            Some(Format::CycloneDxXml)
        }
        "analysis" if tag.contains("dependency-check") || tag.contains("DependencyCheck") => {
            Some(Format::DependencyCheckXml)
        }
        _ => None,
    }
}

/// What detection learned about a JSON document's top level.
#[derive(Default, Debug)]
struct JsonShape {
    array: bool,
    keys: Vec<String>,
    /// Values of a few string-valued keys that decide between formats.
    values: Vec<(String, String)>,
}

impl JsonShape {
    fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn decide(&self) -> Option<Format> {
        if self.array {
            // Trivy's legacy list of results, or a bare list of SonarQube issues.
            if self.has("Target") || self.has("Vulnerabilities") {
                return Some(Format::TrivyJson);
            }
            if self.has("rule") && (self.has("component") || self.has("key")) {
                return Some(Format::SonarQubeJson);
            }
            return None;
        }
        if self.has("SchemaVersion")
            || self.has("ClusterName")
            || (self.has("ArtifactName") && self.has("Results"))
        {
            return Some(Format::TrivyJson);
        }
        if self
            .value("bomFormat")
            .is_some_and(|v| v.eq_ignore_ascii_case("CycloneDX"))
            || self
                .value("$schema")
                .is_some_and(|v| v.contains("cyclonedx"))
        {
            return Some(Format::CycloneDxJson);
        }
        if self.has("spdxVersion")
            || self
                .value("@context")
                .is_some_and(|v| v.contains("spdx.org"))
        {
            return Some(Format::SpdxJson);
        }
        if self.has("matches") {
            return Some(Format::GrypeJson);
        }
        if self.has("reportSchema") || (self.has("scanInfo") && self.has("dependencies")) {
            return Some(Format::DependencyCheckJson);
        }
        if self.has("runs")
            && (self.value("version").is_some_and(|v| v.starts_with("2."))
                || self.value("$schema").is_some_and(|v| v.contains("sarif")))
        {
            return Some(Format::Sarif);
        }
        if self.has("artifacts")
            && (self.has("artifactRelationships") || self.has("descriptor") || self.has("source"))
        {
            return Some(Format::SyftJson);
        }
        if self.has("hotspots") || (self.has("issues") && !self.has("findings")) {
            return Some(Format::SonarQubeJson);
        }
        None
    }
}

fn detect_json(text: &[u8]) -> Option<Format> {
    let window = &text[..text.len().min(DETECT_WINDOW)];
    let shape = scan_json(window);
    match shape.decide() {
        Some(f) => Some(f),
        None if window.len() < text.len() => scan_json(text).decide(),
        None => None,
    }
}

const DECIDING_VALUES: [&str; 4] = ["bomFormat", "$schema", "version", "@context"];

/// Reads the top-level keys (of an object, or of an array's first element)
/// until the input ends or breaks; what was read before stays recorded.
fn scan_json(bytes: &[u8]) -> JsonShape {
    let mut shape = JsonShape::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = (&mut de).deserialize_any(ShapeVisitor { shape: &mut shape });
    shape
}

struct ShapeVisitor<'s> {
    shape: &'s mut JsonShape,
}

impl<'de> Visitor<'de> for ShapeVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            // Record the key before reading its value, which may be cut off.
            self.shape.keys.push(key.to_string());
            if DECIDING_VALUES.contains(&key.as_ref()) {
                if let Some(v) = map.next_value::<MaybeString>()?.0 {
                    self.shape.values.push((key.into_owned(), v));
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.shape.array = true;
        seq.next_element_seed(FirstElement { shape: self.shape })?;
        Ok(())
    }
}

struct FirstElement<'s> {
    shape: &'s mut JsonShape,
}

impl<'de> DeserializeSeed<'de> for FirstElement<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(ElementVisitor { shape: self.shape })
    }
}

struct ElementVisitor<'s> {
    shape: &'s mut JsonShape,
}

impl<'de> Visitor<'de> for ElementVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            self.shape.keys.push(key.into_owned());
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// A string value, or `None` for any other JSON value.
struct MaybeString(Option<String>);

impl<'de> de::Deserialize<'de> for MaybeString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeString, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeString, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeString(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_content() {
        assert_eq!(
            detect(br#"{"SchemaVersion": 2, "Results": []}"#),
            Some(Format::TrivyJson)
        );
        assert_eq!(detect(b" null \n"), Some(Format::TrivyJson));
        assert_eq!(
            detect(br#"[{"Target": "x", "Vulnerabilities": null}]"#),
            Some(Format::TrivyJson)
        );
        assert_eq!(detect(br#"{"matches": []}"#), Some(Format::GrypeJson));
        assert_eq!(
            detect(br#"{"bomFormat": "CycloneDX", "specVersion": "1.6"}"#),
            Some(Format::CycloneDxJson)
        );
        assert_eq!(
            detect(br#"{"version": "2.1.0", "runs": []}"#),
            Some(Format::Sarif)
        );
        assert_eq!(
            detect(b"<?xml version=\"1.0\"?>\n<!-- c -->\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\">"),
            Some(Format::CycloneDxXml)
        );
        assert_eq!(
            detect(b"<analysis xmlns=\"https://jeremylong.github.io/DependencyCheck/dependency-check.2.5.xsd\">"),
            Some(Format::DependencyCheckXml)
        );
        assert_eq!(
            detect(b"SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n"),
            Some(Format::SpdxTagValue)
        );
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"hello"), None);
        assert_eq!(detect(br#"{"a": 1}"#), None);
        assert_eq!(detect(br#"{"matches": [1, 2"#), Some(Format::GrypeJson));
    }

    #[test]
    fn late_keys_are_found_past_the_window() {
        let mut doc = String::from("{\"padding\": \"");
        doc.push_str(&"x".repeat(DETECT_WINDOW));
        doc.push_str("\", \"matches\": []}");
        assert_eq!(detect(doc.as_bytes()), Some(Format::GrypeJson));
    }
}
