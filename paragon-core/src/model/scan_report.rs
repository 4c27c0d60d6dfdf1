//! What one scanner run produced: a [`ScanReport`].

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::model::finding::{Finding, Purl};
use crate::SCHEMA_VERSION;

/// The scanner that produced a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScannerInfo {
    /// Its name, lower-case (`trivy`, `grype`, `dependency-check`, `syft`…).
    pub name: String,
    /// Its version, when the report says.
    #[serde(default)]
    pub version: Option<String>,
}

impl ScannerInfo {
    /// A scanner name and optional version (an empty version is treated as none).
    pub fn new(name: impl Into<String>, version: Option<impl Into<String>>) -> ScannerInfo {
        ScannerInfo {
            name: name.into(),
            version: version.map(Into::into).filter(|v: &String| !v.is_empty()),
        }
    }
}

/// The kind of SBOM document a report carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SbomFormat {
    /// CycloneDX (JSON or XML).
    CycloneDx,
    /// SPDX 2.x (JSON or tag-value).
    Spdx,
    /// Syft's own JSON.
    SyftJson,
}

/// One component (package) listed by an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Component {
    /// Its name (with the group or namespace prefixed where the format separates them).
    pub name: String,
    /// Its version.
    #[serde(default)]
    pub version: Option<String>,
    /// Its package URL, when the document gave a valid one.
    #[serde(default)]
    pub purl: Option<Purl>,
    /// Its type as the document states it (`library`, `operating-system`, `python`…).
    #[serde(default)]
    pub kind: Option<String>,
}

impl Component {
    /// A component with a name and optional version.
    pub fn new(name: impl Into<String>, version: Option<String>) -> Component {
        Component {
            name: name.into(),
            version: version.filter(|v| !v.is_empty()),
            purl: None,
            kind: None,
        }
    }
}

/// An SBOM document: its component inventory and the raw bytes.
///
/// The raw document is kept so that it can be stored or attached as it
/// came; it is not part of the serde form (only the inventory is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sbom {
    /// The document format.
    pub format: SbomFormat,
    /// The format's spec version (`1.6`, `SPDX-2.3`, a Syft schema version).
    #[serde(default)]
    pub spec_version: Option<String>,
    /// Every component listed, nested components included, in document order.
    pub components: Vec<Component>,
    /// Components whose purl was present but invalid (kept out of `components[].purl`).
    #[serde(default)]
    pub invalid_purls: usize,
    /// The document exactly as read.
    #[serde(skip)]
    pub document: Bytes,
}

impl Sbom {
    /// An SBOM inventory over a raw document.
    pub fn new(format: SbomFormat, spec_version: Option<String>, document: Bytes) -> Sbom {
        Sbom {
            format,
            spec_version,
            components: Vec::new(),
            invalid_purls: 0,
            document,
        }
    }

    /// Adds a component, parsing its purl; an invalid purl is counted in
    /// [`Sbom::invalid_purls`] and left out.
    pub fn push_component(
        &mut self,
        name: impl Into<String>,
        version: Option<String>,
        purl: Option<&str>,
        kind: Option<String>,
    ) {
        let mut c = Component::new(name, version);
        c.kind = kind.filter(|k| !k.is_empty());
        if let Some(p) = purl.filter(|p| !p.is_empty()) {
            match Purl::parse(p) {
                Ok(p) => c.purl = Some(p),
                Err(_) => self.invalid_purls += 1,
            }
        }
        self.components.push(c);
    }

    /// The numbers a report summary shows.
    pub fn summary(&self) -> SbomSummary {
        SbomSummary {
            format: self.format,
            spec_version: self.spec_version.clone(),
            components: self.components.len(),
            components_with_purl: self.components.iter().filter(|c| c.purl.is_some()).count(),
            invalid_purls: self.invalid_purls,
        }
    }
}

/// Component counts of one SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SbomSummary {
    /// The document format.
    pub format: SbomFormat,
    /// The format's spec version.
    pub spec_version: Option<String>,
    /// How many components it lists.
    pub components: usize,
    /// How many of them carry a valid purl.
    pub components_with_purl: usize,
    /// How many carried an invalid purl.
    pub invalid_purls: usize,
}

/// The normalized result of one scanner on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScanReport {
    /// The version of this JSON form ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The scanner.
    pub scanner: ScannerInfo,
    /// What was scanned (image, directory, project), when the report says.
    #[serde(default)]
    pub target: Option<String>,
    /// The findings, in the order of the tool's report.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// For SBOM inputs: the component inventory and the raw document.
    #[serde(default)]
    pub sbom: Option<Sbom>,
    /// For scanners with a quality gate of their own (SonarQube): its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_gate: Option<QualityGate>,
}

/// A scanner's own quality gate result (SonarQube's `project_status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QualityGate {
    /// The status as the scanner gives it (`OK`, `WARN`, `ERROR`, `NONE`).
    pub status: String,
    /// The conditions that did not pass, in words.
    pub failed_conditions: Vec<String>,
}

impl QualityGate {
    /// A gate result.
    pub fn new(status: impl Into<String>, failed_conditions: Vec<String>) -> QualityGate {
        QualityGate {
            status: status.into(),
            failed_conditions,
        }
    }

    /// True when the scanner's gate passed (`OK`, or no gate configured).
    pub fn passed(&self) -> bool {
        matches!(self.status.as_str(), "OK" | "NONE")
    }
}

impl ScanReport {
    /// An empty report of a scanner.
    pub fn new(scanner: ScannerInfo) -> ScanReport {
        ScanReport {
            schema_version: SCHEMA_VERSION,
            scanner,
            target: None,
            findings: Vec::new(),
            sbom: None,
            quality_gate: None,
        }
    }

    /// Sets the target (an empty string is treated as none).
    #[must_use]
    pub fn with_target(mut self, target: Option<impl Into<String>>) -> ScanReport {
        self.target = target.map(Into::into).filter(|t: &String| !t.is_empty());
        self
    }
}
