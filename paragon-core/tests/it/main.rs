//! Integration tests of paragon-core's public API.

mod export;
mod gitops;
mod image;
mod merge;
mod pipeline;
#[cfg(feature = "conformance")]
mod scanner;
mod services;
