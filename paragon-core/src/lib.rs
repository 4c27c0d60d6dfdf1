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
//!   (see [`model::report`] for the format and its versioning rules).
//!
//! # Where each concern lives
//!
//! | module | holds |
//! |---|---|
//! | [`model`] | findings, scan reports, the report document, package identity, OCI types |
//! | [`merge`] | the [`Merger`]: many scan reports into one deduplicated [`Report`] |
//! | [`gate`] | the [`Policy`] that passes or fails a report, and [`VexDocument`]s |
//! | [`export`] | SARIF, JUnit XML, CycloneDX and Markdown forms of a report (feature `export`, on by default) |
//! | [`plugin`] | the plugin traits — [`Scanner`], [`Builder`], [`Registry`], [`GitOpsTarget`], [`Check`](plugin::check::Check), [`Notifier`](plugin::notify::Notifier), [`SecretSource`](plugin::secrets::SecretSource) — their in-memory implementations and the [`CallContext`] every call takes |
//! | [`pipeline`] | the [`Pipeline`](pipeline::Pipeline) that runs them in order, its [`RunRecord`](pipeline::RunRecord) and [`Metrics`](pipeline::Metrics) |
//! | [`retry`] | the one [`RetryPolicy`](retry::RetryPolicy) of every remote call |
//! | [`tool`] | running a scanner's or builder's process: output caps, timeouts, cancellation, credentials by name |
//! | [`transport`] | the rule by which adapters that send credentials speak plain http only to this machine |
//! | [`Error`], [`ErrorKind`] | core's errors; an adapter crate's own error carried typed as [`Error::Adapter`]; the kinds a pipeline acts on |
//! | `conformance` | the suites every adapter's tests run (feature `conformance`) |
//!
//! `cargo build -p paragon-core --no-default-features` builds the model,
//! the merge, the gate, the plugin traits and the pipeline without the
//! report exports; the Slack notifier (feature `slack`) and the Vault
//! secret source (feature `vault`) are off by default.
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

mod error;
#[cfg(feature = "export")]
pub mod export;
pub mod gate;
pub mod merge;
pub mod model;
pub mod pipeline;
pub mod plugin;
pub mod retry;
mod secret;
pub mod tool;
pub mod transport;

pub use error::{Error, ErrorKind, Result};
pub use gate::policy::{Policy, Verdict};
pub use gate::vex::VexDocument;
pub use merge::Merger;
pub use model::baseline::{BaselineState, Comparison};
pub use model::finding::{
    is_cve, normalize_cwe, Cvss, CvssVersion, Finding, FindingKind, Location, Package, Purl,
    Severity, Source,
};
pub use model::oci::{Digest, OciLayout, Platform};
pub use model::report::{Report, Summary};
pub use model::scan_report::{
    Component, QualityGate, Sbom, SbomFormat, SbomSummary, ScanReport, ScannerInfo,
};
pub use plugin::build::{BuildSpec, Builder, BuiltImage};
pub use plugin::context::CallContext;
pub use plugin::deploy::{
    DeployChange, Deployed, Deployment, GitOpsTarget, GitOpsTargetExt, MemoryGitOps, Release,
};
pub use plugin::registry::{MemoryRegistry, Pushed, Registry, Repository, Tag};
pub use plugin::scan::{CannedScanner, ScanTarget, Scanner, TargetKind};
pub use secret::Secret;

/// The version of Paragon's JSON forms ([`Report`] and [`ScanReport`]).
pub const SCHEMA_VERSION: u32 = 1;

/// Re-exported so that adapters implement the traits with the same macro.
pub use async_trait::async_trait;

#[cfg(feature = "conformance")]
pub mod conformance;
