//! Integration tests of paragon-core's public API.

mod export;
mod gitops;
mod image;
mod merge;
#[cfg(feature = "conformance")]
mod scanner;
