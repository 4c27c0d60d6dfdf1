//! Integration tests of paragon-scanners: real tool reports from the
//! fixtures, bad input, and reports generated at test time by the real tools.

mod adapters;
mod bad_input;
#[cfg(feature = "defectdojo")]
mod defectdojo;
#[cfg(feature = "dependency-track")]
mod dependency_track;
mod fixtures;
mod gitlab;
mod merge;
mod real_tools;
mod rego;
mod sonarqube_api;
mod support;
