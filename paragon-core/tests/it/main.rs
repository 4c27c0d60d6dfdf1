//! Integration tests of paragon-core's public API.

mod export;
mod gitops;
mod image;
mod merge;
mod pipeline;
#[cfg(feature = "conformance")]
mod scanner;
mod services;

/// A repository name the tests know to be valid.
fn repo(name: &str) -> paragon_core::Repository {
    paragon_core::Repository::new(name).expect("a valid repository name")
}

/// A tag the tests know to be valid.
fn tag(name: &str) -> paragon_core::Tag {
    paragon_core::Tag::new(name).expect("a valid tag")
}
