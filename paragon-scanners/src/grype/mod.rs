//! Grype (<https://github.com/anchore/grype>): the JSON report parser, and
//! [`Grype`], the scanner that runs it.
//!
//! Reads `grype … -o json`, from the 0.7 era (`cvssV2`/`cvssV3`, `links`)
//! to current releases (`cvss[]`, `urls`, `fix.versions`, EPSS). Each
//! match becomes one vulnerability finding: `relatedVulnerabilities` ids
//! become aliases (a GHSA match names its CVE there), `fix.versions` the
//! fixed versions, `artifact.purl` the package URL, every
//! `artifact.locations[].path` a location.

mod parse;
mod report;
mod run;

pub use parse::parse;
pub use run::{Grype, GrypeBuilder};

/// The scanner name Grype's findings carry.
pub const SCANNER: &str = "grype";
