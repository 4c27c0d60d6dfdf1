//! Paragon's core: the normalized finding model and the report documents.
//!
//! Paragon composes DevSecOps delivery pipelines in code: scanners before and
//! after an OCI image build, a policy gate, a push of clean images, and a
//! GitOps update. Every scanner's output is mapped into one model, defined
//! here, so that findings from different tools can be counted, merged and
//! gated together.
//!
//! - [`Finding`]: one problem a scanner reported — its [`FindingKind`],
//!   id and aliases, [`Severity`], [`Cvss`] scores, [`Package`] (with a
//!   parsed [`Purl`]), fixed versions, [`Location`]s, CWEs, references, and
//!   the [`Source`]s (scanners) that reported it.
//! - [`ScanReport`]: everything one scanner run produced, including an
//!   [`Sbom`] inventory for SBOM inputs.
//! - [`Report`]: the versioned JSON document over many scan reports
//!   (see [`document`] for the format and its versioning rules).
//!
//! The engine lives here too:
//!
//! - the four plugin traits: [`Scanner`], [`Builder`], [`Registry`],
//!   [`GitOpsTarget`], each with an in-memory implementation
//!   ([`CannedScanner`], [`MinimalBuilder`](image::testing::MinimalBuilder),
//!   [`MemoryRegistry`], [`MemoryGitOps`]) and a conformance suite
//!   (feature `conformance`) that every adapter's tests run;
//! - the [`Merger`] and the [`Policy`] gate;
//! - the [`pipeline::Pipeline`] that runs them in order (scans, build,
//!   scans, gate, push, deploy and checks per environment), with
//!   [`pipeline::Check`], [`pipeline::Notifier`] (Slack with feature
//!   `slack`), [`pipeline::SecretSource`] (Vault with feature `vault`),
//!   [`pipeline::RunRecord`] and [`pipeline::Metrics`];
//! - [`net::require_https_beyond_loopback`], the rule by which every
//!   adapter that sends credentials speaks plain http only to this
//!   machine ([`net::is_loopback`]) unless its caller allows it
//!   ([`net::clear_text_refusal`] gives the reason alone, for an address
//!   a server named rather than the caller).
//!
//! Parsers for each tool's report live in the `paragon-scanners` crate;
//! builders and registries in `paragon-registry`; GitOps targets in
//! `paragon-gitops`. `paragon-core` depends on no adapter crate.
//!
//! # Example
//!
//! ```
//! use paragon_core::{Finding, FindingKind, Package, Report, ScanReport, ScannerInfo, Severity, Source};
//!
//! let mut finding = Finding::new(FindingKind::Vulnerability, "GHSA-v6rh-hp5x-86rv", Severity::High);
//! finding.add_alias("CVE-2021-44420");
//! finding.package = Some(
//!     Package::new("django")
//!         .with_version(Some("3.2.9"))
//!         .with_purl_str(Some("pkg:pypi/django@3.2.9")),
//! );
//! finding.add_fixed_version("3.2.10");
//! finding.sources.push(Source::new("grype", Severity::High, None));
//!
//! let mut scan = ScanReport::new(ScannerInfo::new("grype", Some("0.74.0")));
//! scan.findings.push(finding);
//!
//! let report = Report::concat([scan]);
//! assert_eq!(report.summary.by_severity.high, 1);
//! assert_eq!(report.findings[0].cve(), Some("CVE-2021-44420"));
//! let json = report.to_json_pretty()?;
//! assert!(json.contains("\"schema_version\": 1"));
//! # Ok::<(), paragon_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod context;
pub mod document;
mod error;
pub mod export;
pub mod finding;
pub mod gitops;
pub mod identity;
pub mod image;
pub mod markdown;
pub mod merge;
pub mod net;
pub mod oci;
pub mod pipeline;
pub mod policy;
pub mod process;
pub mod report;
pub mod scanner;
mod secret;
pub mod vex;

pub use context::CallContext;
pub use document::{Report, Summary};
pub use error::{Error, Result};
pub use finding::{
    is_cve, normalize_cwe, Cvss, CvssVersion, Finding, FindingKind, Location, Package, Purl,
    Severity, Source,
};
pub use gitops::{
    DeployChange, Deployed, Deployment, GitOpsTarget, GitOpsTargetExt, MemoryGitOps, Release,
};
pub use image::{BuildSpec, Builder, BuiltImage, MemoryRegistry, Pushed, Registry};
pub use merge::Merger;
pub use oci::{Digest, OciLayout, Platform};
pub use policy::{Policy, Verdict};
pub use report::{Component, QualityGate, Sbom, SbomFormat, SbomSummary, ScanReport, ScannerInfo};
pub use scanner::{CannedScanner, ScanTarget, Scanner, TargetKind};
pub use secret::Secret;
pub use vex::VexDocument;

/// The version of Paragon's JSON forms ([`Report`] and [`ScanReport`]).
pub const SCHEMA_VERSION: u32 = 1;

/// Re-exported so that adapters implement the traits with the same macro.
pub use async_trait::async_trait;

#[cfg(feature = "conformance")]
pub mod conformance;
