//! Integration tests of paragon-registry, against real parts: the CNCF
//! distribution registry (`docker-registry`), skopeo, buildah; Harbor's
//! REST API against a local server answering as its swagger documents.
//! `oci_client_gaps` puts `oci-client` before the same local faults, to
//! check what it does differently (`DECISIONS.md`, the first record).

mod auth;
mod builders;
#[cfg(feature = "cosign")]
mod cosign;
mod distribution;
mod faults;
mod harbor;
mod harbor_fake;
mod layout;
mod oci_client_gaps;
mod referrers;
mod support;
