//! OCI image builders and registries for Paragon.
//!
//! This crate will hold the `Builder` and `Registry` adapters (a native
//! daemonless builder, buildah, docker; OCI distribution, Harbor and an
//! on-disk OCI layout). It currently exports nothing: the image stage is not
//! part of this release, and nothing here should be taken as implemented.
#![forbid(unsafe_code)]
