//! SPDX 2.x (<https://spdx.dev>): JSON and tag-value document parsers.
//!
//! Packages become the SBOM inventory (the `purl` external reference gives
//! each its package URL). SPDX 2 has no vulnerability section; some tools
//! link advisories as `SECURITY advisory` external references, and each
//! such reference whose URL names a CVE or GHSA id becomes a vulnerability
//! finding on that package, with severity `unknown` (the document does not
//! give one). `cpe23Type` references are never findings.
//!
//! SPDX 3 (JSON-LD with `@context`/`@graph`) and any other `spdxVersion`
//! than `SPDX-2.x` are rejected with [`crate::Error::UnsupportedVersion`].

mod json;
mod parse;
mod tag_value;

pub use json::parse_json;
pub use tag_value::parse_tag_value;

/// The scanner name used when a document does not name the tool that wrote it.
pub const SCANNER: &str = "spdx";
