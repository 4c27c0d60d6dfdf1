//! CycloneDX (<https://cyclonedx.org>): JSON and XML BOM parsers.
//!
//! Reads CycloneDX JSON 1.2–1.7 and XML 1.0–1.6, including the 1.0
//! vulnerability extension (`v:vulnerability`) that Grype wrote into 1.2 XML
//! before vulnerabilities were part of the spec.
//!
//! - Every entry of `vulnerabilities[]` becomes one vulnerability finding
//!   **per `affects[]` ref**, with the ref resolved to its component
//!   (by `bom-ref`, then by purl) for the package. A vulnerability without
//!   `affects` becomes one finding without a package. `references[].id` become
//!   aliases; the severity is the highest rating's, or, when no rating names
//!   one, the rating of the highest CVSS score.
//! - Components (nested ones included, the BOM's own subject excluded)
//!   become the SBOM inventory; the raw document is kept. Syft's and
//!   Trivy's SBOM output is CycloneDX.
//!
//! # One reader for every version
//!
//! The documents are read by a lenient reader of the fields Paragon uses,
//! which are compatible across versions. The `cyclonedx-bom` crate, which
//! Paragon writes its CycloneDX 1.5 output with, does not read the 1.6 and
//! 1.7 JSON that current Syft and Trivy emit, 1.2 JSON, or any XML; the
//! test suite checks that this reader agrees with it on the versions it
//! does read (1.3–1.5).

mod json;
mod parse;
mod xml;

pub use json::parse_json;
pub use xml::parse_xml;

/// The scanner name used when a BOM does not name the tool that wrote it.
pub const SCANNER: &str = "cyclonedx";
