//! OWASP Dependency-Check (<https://owasp.org/www-project-dependency-check/>):
//! XML and JSON report parsers.
//!
//! Both the XML report (schemas 1.x–2.x, including the old flat
//! `cvssScore`/`cvssAccessVector` elements) and the JSON report
//! (`reportSchema` 1.1) are read. Each `vulnerabilities` entry of a
//! dependency becomes one vulnerability finding; `suppressedVulnerabilities`
//! are **not** findings (they were suppressed on purpose). Names that are not
//! CVEs — npm advisory numbers, OSS Index `CWE-502: …` titles — are kept as
//! the id. The package comes from the dependency's purl, then its Maven
//! identifier, then its CPE, then its file name. CVSS vectors, which
//! Dependency-Check reports as separate metrics, are rebuilt
//! (`CVSS:3.1/AV:N/AC:L/…`).

mod json;
mod parse;
mod run;
mod xml;

pub use json::parse_json;
pub use run::{DependencyCheck, DependencyCheckBuilder};
pub use xml::parse_xml;

/// The scanner name Dependency-Check's findings carry.
pub const SCANNER: &str = "dependency-check";
