//! SonarQube (<https://www.sonarsource.com/products/sonarqube/>): issue and
//! hotspot JSON parsers (feature `sonarqube-report`), and [`SonarQube`],
//! the scanner that reads an analysis' results from SonarQube's web API
//! (feature `sonarqube`, which includes the parsers and brings the HTTP
//! client).
//!
//! Reads what SonarQube's web API answers and what is exported from it:
//!
//! - a page of `GET api/issues/search` (`{"issues": [...], "paging": {...}}`),
//! - a page of `GET api/hotspots/search` (`{"hotspots": [...]}`),
//! - a bare JSON list of issues,
//! - the `sonar-report` export (`{"projectName": …, "rules": {…}, "issues": [...]}`).
//!
//! Every open issue and hotspot becomes a `weakness` finding whose id is the
//! rule key (`typescript:S1854`), with the file and line range. Issues with
//! status `RESOLVED` or `CLOSED` (false positives, won't fix, fixed) and
//! hotspots reviewed as `SAFE` or `FIXED` are not findings.
//!
//! Severity: SonarQube's legacy scale maps `BLOCKER` → critical,
//! `CRITICAL` → high, `MAJOR` → medium, `MINOR` → low, `INFO` → info; the
//! software-quality impacts (`HIGH`, `MEDIUM`, `LOW`) and hotspot
//! `vulnerabilityProbability` map to the same-named severities.
//!
//! CWEs come from `cwe-<n>` tags. Issues raised by the Dependency-Check
//! plugin (`Filename: pkg:1.2 | Reference: CVE-… | CVSS Score: 6.4 |
//! Category: CWE-120`) also yield the package, the CVE or GHSA as an alias,
//! the CWE and the score (which that plugin reports as CVSS v3).

mod parse;
#[cfg(feature = "sonarqube")]
mod run;

pub use parse::{parse, severity};
#[cfg(feature = "sonarqube")]
pub use run::{SonarQube, SonarQubeBuilder};

/// The scanner name SonarQube's findings carry.
pub const SCANNER: &str = "sonarqube";
