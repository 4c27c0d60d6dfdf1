//! Scanner report parsers for Paragon.
//!
//! Every supported tool's report is turned into a [`paragon_core::ScanReport`]
//! of normalized [`paragon_core::Finding`]s by a pure function from bytes.
//! [`detect`] recognises a format from content, [`parse_any`] detects and
//! parses, [`parse_file`] reads a file and names it in any error.
//!
//! | format | module | cargo feature | what becomes findings |
//! |---|---|---|---|
//! | Trivy JSON (schema 2, legacy list, `trivy k8s`) | [`trivy`] | `trivy` | vulnerabilities, failed misconfigurations, secrets, licences |
//! | Grype JSON | [`grype`] | `grype` | every match (related CVEs as aliases) |
//! | Dependency-Check XML and JSON (`reportSchema` 1.1) | [`dependency_check`] | `dependency-check` | every non-suppressed vulnerability |
//! | CycloneDX JSON 1.2–1.7, XML 1.0–1.6 | [`cyclonedx`] | `cyclonedx` | one per `vulnerabilities[].affects[]`; components → SBOM |
//! | SPDX 2.x JSON and tag-value | [`spdx`] | `spdx` | `SECURITY advisory` refs; packages → SBOM |
//! | Syft JSON | [`syft`] | `syft` | none; artifacts → SBOM |
//! | SonarQube issues/hotspots API pages, `sonar-report` | [`sonarqube`] | `sonarqube-report` (in `sonarqube`) | weaknesses |
//! | SARIF 2.1.0 | [`sarif`] | `sarif` | every result, as a weakness |
//!
//! The format features are on by default. A detected format whose feature
//! is off gives [`Error::FeatureDisabled`]. The `defectdojo` feature (off)
//! adds `defectdojo`: reports imported into DefectDojo, and a pipeline sink
//! that sends each run's report there; `dependency-track` (off) adds
//! `dependency_track`: SBOMs and the policy's VEX decisions uploaded to
//! Dependency-Track.
//!
//! # Scanners that run the tools
//!
//! Besides the parsers, adapters implement [`paragon_core::Scanner`] by
//! running the real tool on a target (a directory, an OCI layout, an SBOM)
//! through [`paragon_core::tool`] — timeouts and cancellation kill the
//! tool, output is bounded, credentials are redacted — and parsing the
//! report it writes to a scratch directory:
//!
//! | scanner | targets | tool |
//! |---|---|---|
//! | [`trivy::Trivy`] | directory (`fs`, or `config`), OCI layout (`image --input`), SBOM (`sbom`) | `trivy` |
//! | [`syft::Syft`] | directory (`dir:`), OCI layout (`oci-dir:`) | `syft`, CycloneDX JSON out |
//! | [`grype::Grype`] | directory, OCI layout, SBOM | `grype -o json` |
//! | [`dependency_check::DependencyCheck`] | directory | `dependency-check.sh --format JSON` |
//! | [`sonarqube::SonarQube`] | directory | optionally `sonar-scanner`, then SonarQube's web API (compute-engine task, paged issues and hotspots, quality gate) |
//! | [`command::CommandScanner`] | configurable | any command writing a supported report (Semgrep's SARIF…) |
//!
//! Each passes `paragon_core::conformance::scanner` in this crate's tests:
//! Trivy, Syft and the command scanner against the real tools, Grype and
//! Dependency-Check through stand-in executables that write real reports,
//! SonarQube against a local server answering as its web API documents.
//!
//! # Bad input
//!
//! No parser panics. Empty, truncated, garbage, wrong-tool and
//! wrong-version input give a typed [`Error`] naming the format, the file
//! (when known) and the position (when the parser knows it); a document
//! that is not of the expected format is never returned as an empty report.
//!
//! # Example
//!
//! ```
//! use paragon_scanners::{detect, parse_any, Format};
//!
//! let grype = br#"{"matches": [{
//!     "vulnerability": {"id": "GHSA-v6rh-hp5x-86rv", "severity": "High",
//!                       "fix": {"versions": ["3.2.10"]}},
//!     "relatedVulnerabilities": [{"id": "CVE-2021-44420"}],
//!     "artifact": {"name": "Django", "version": "3.2.9", "purl": "pkg:pypi/django@3.2.9"}}],
//!   "descriptor": {"name": "grype", "version": "0.74.0"}}"#;
//! assert_eq!(detect(grype), Some(Format::GrypeJson));
//! let report = parse_any(grype)?;
//! assert_eq!(report.findings[0].cve(), Some("CVE-2021-44420"));
//!
//! let err = parse_any(b"{\"matches\": [").unwrap_err();
//! assert!(err.to_string().contains("malformed Grype JSON"));
//! # Ok::<(), paragon_scanners::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod command;
#[cfg(feature = "defectdojo")]
pub mod defectdojo;
#[cfg(feature = "dependency-track")]
pub mod dependency_track;
mod error;
mod format;
#[cfg(any(
    feature = "sonarqube",
    feature = "defectdojo",
    feature = "dependency-track"
))]
mod http;
mod read;
mod runner;
mod util;
#[cfg(any(feature = "dependency-check", feature = "cyclonedx"))]
mod xml;

#[cfg(feature = "cyclonedx")]
pub mod cyclonedx;
#[cfg(feature = "dependency-check")]
pub mod dependency_check;
#[cfg(feature = "grype")]
pub mod grype;
#[cfg(feature = "sarif")]
pub mod sarif;
#[cfg(feature = "sonarqube-report")]
pub mod sonarqube;
#[cfg(feature = "spdx")]
pub mod spdx;
#[cfg(feature = "syft")]
pub mod syft;
#[cfg(feature = "trivy")]
pub mod trivy;

use std::path::Path;

pub use error::{Error, Position, Result};
pub use format::{detect, Format};
use paragon_core::ScanReport;
pub use read::ReadLimits;

/// Detects the format of `bytes` and parses them.
///
/// # Errors
///
/// [`Error::Empty`] for blank input, [`Error::UnknownFormat`] when no format
/// matches, otherwise what [`Format::parse`] returns.
pub fn parse_any(bytes: &[u8]) -> Result<ScanReport> {
    match detect(bytes) {
        Some(format) => format.parse(bytes),
        None if format::trim_start(bytes).is_empty() => Err(Error::Empty {
            format: None,
            file: None,
        }),
        None => Err(Error::UnknownFormat {
            file: None,
            start: util::snippet(bytes, 40),
        }),
    }
}

/// Reads a report file within the default [`ReadLimits`], detects its
/// format and parses it; errors name the file.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::TooLarge`] over
/// the size limit, [`Error::NotAFile`] for a device, a socket or a
/// directory, [`Error::NoData`] for a pipe that gives nothing, otherwise
/// what [`parse_any`] returns, with the file set.
pub fn parse_file(path: impl AsRef<Path>) -> Result<ScanReport> {
    parse_file_with(path, &mut Vec::new())
}

/// Like [`parse_file`], reading into `buf` (cleared first): a caller that
/// parses many files reuses one buffer instead of allocating one per file.
///
/// # Errors
///
/// As [`parse_file`].
pub fn parse_file_with(path: impl AsRef<Path>, buf: &mut Vec<u8>) -> Result<ScanReport> {
    parse_file_within(path, buf, &ReadLimits::default())
}

/// Like [`parse_file_with`], within `limits`.
///
/// # Errors
///
/// As [`parse_file`].
pub fn parse_file_within(
    path: impl AsRef<Path>,
    buf: &mut Vec<u8>,
    limits: &ReadLimits,
) -> Result<ScanReport> {
    let path = path.as_ref();
    read::read_into(path, buf, limits)?;
    parse_any(buf).map_err(|e| e.with_file(path))
}

/// Reads a report file as a given format, within the default
/// [`ReadLimits`]; errors name the file.
///
/// # Errors
///
/// As [`parse_file`], but what [`Format::parse`] returns for the content.
pub fn parse_file_as(format: Format, path: impl AsRef<Path>) -> Result<ScanReport> {
    let path = path.as_ref();
    let mut buf = Vec::new();
    read::read_into(path, &mut buf, &ReadLimits::default())?;
    format.parse(&buf).map_err(|e| e.with_file(path))
}
