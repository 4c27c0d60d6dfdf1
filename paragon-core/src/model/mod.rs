//! The model every scanner's output is mapped into.
//!
//! - [`finding`]: one problem a scanner reported, its package, locations
//!   and the scanners that reported it;
//! - [`scan_report`]: everything one scanner run produced, SBOM inventory
//!   included;
//! - [`report`]: the versioned JSON document over many scan reports, with
//!   its summary;
//! - [`baseline`]: the stable fingerprint of a finding and the comparison
//!   of a report with an earlier one;
//! - [`package_identity`]: the canonical identity of a package across
//!   ecosystems and purl spellings, by which findings are merged;
//! - [`oci`]: digests, descriptors, manifests and the OCI image layout the
//!   build and registry plugins exchange.

pub mod baseline;
pub mod finding;
pub mod oci;
pub mod package_identity;
pub mod report;
pub mod scan_report;
