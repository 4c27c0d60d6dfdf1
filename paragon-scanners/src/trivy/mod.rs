//! Trivy (<https://trivy.dev>): the JSON report parser, and [`Trivy`], the
//! scanner that runs it.
//!
//! Reads `trivy … --format json` output in every shape Trivy has written:
//!
//! - schema 2 (`{"SchemaVersion": 2, "ArtifactName": …, "Results": […]}`),
//! - the legacy list form (a top-level array of results, or `null` for none),
//! - the Kubernetes forms of `trivy k8s` (`ClusterName` with per-resource
//!   `Vulnerabilities`/`Misconfigurations` lists, or with `Resources`).
//!
//! Each result's `Vulnerabilities` become vulnerability findings,
//! `Misconfigurations` with status `FAIL` become misconfiguration findings
//! (passes and exceptions are not findings), `Secrets` become secret
//! findings (the masked `Match` text is never copied), and `Licenses`
//! become licence findings. A vulnerability entry without a
//! `VulnerabilityID` is kept with the id [`UNIDENTIFIED`].

mod parse;
mod report;
mod run;

pub use parse::{parse, UNIDENTIFIED};
pub use run::{Trivy, TrivyBuilder};

/// The scanner name Trivy's findings carry.
pub const SCANNER: &str = "trivy";
