//! Integration tests of paragon-registry, against real parts: the CNCF
//! distribution registry (`docker-registry`), skopeo, buildah; Harbor's
//! REST API against a local server answering as its swagger documents.

mod auth;
mod builders;
#[cfg(feature = "cosign")]
mod cosign;
mod distribution;
mod faults;
mod harbor;
mod harbor_fake;
mod layout;
mod referrers;
mod support;
