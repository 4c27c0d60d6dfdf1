//! GitOps adapters for Paragon.
//!
//! This crate will hold the `GitOpsTarget` adapters (format-preserving Helm
//! values and Kustomize edits with git write-back, Argo CD status). It
//! currently exports nothing: the GitOps stage is not part of this release,
//! and nothing here should be taken as implemented.
#![forbid(unsafe_code)]
