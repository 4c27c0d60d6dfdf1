//! GitOps adapters for Paragon: after a push, write the new image into the
//! repository a GitOps controller (Argo CD, Flux) watches.
//!
//! - [`yaml`]: format-preserving YAML edits. A value is spliced into the
//!   original bytes, so comments, blank lines, key order, quoting, anchors,
//!   block scalars, other documents and CRLF endings stay as they were;
//!   values always load as strings (`"1.20"` is quoted, `1.29.3` stays
//!   plain over a plain value), and a key path through a scalar is an
//!   error, not a missing value.
//! - [`GitOps`]: the [`GitOpsTarget`](paragon_core::GitOpsTarget) over a git
//!   remote, editing [`HelmValues`] (values file per environment, optional
//!   `Chart.yaml` `appVersion` and version bump) or a [`Kustomize`] overlay's
//!   `images:` entry. Fetch, edit on the remote head, commit, push; a
//!   rejected push is redone on the new head with backoff; no empty
//!   commits; rollback by a revert commit; change-request branches
//!   ([`WriteMode::ChangeRequest`], [`ChangeRequests`]). Each change
//!   comes with a unified diff that `git apply` takes. The `gitops`
//!   example runs it from the command line on any chart.
//! - [`argocd`] (feature `argocd`, on by default): an application's sync
//!   and health status, triggering a sync, waiting until Synced and Healthy.
//! - [`forge`] (feature `forges`, on by default): [`ChangeRequests`] on
//!   GitHub, Gitea and Forgejo (pull requests) and GitLab (merge requests).
//!
//! Credentials ([`GitCredentials`]) reach git through the environment of
//! each git process; they are never written into the repository, its
//! config, commits, logs or errors.
//!
//! ```no_run
//! # async fn demo() -> paragon_core::Result<()> {
//! use paragon_core::plugin::deploy::{GitOpsTarget, GitOpsTargetExt, Release};
//! use paragon_core::CallContext;
//! use paragon_gitops::{GitOps, HelmValues};
//!
//! let target = GitOps::new("/srv/git/deploy.git", HelmValues::new("charts/shop"));
//! let ctx = CallContext::new();
//! let dev = Release::new("shop", "dev", "harbor.example/shop/app", "1.4.0");
//! target.deploy(&dev, &ctx).await?;
//! // Later: test gets exactly what dev runs.
//! target.promote("shop", "dev", "test", &ctx).await?;
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Functions return [`paragon_core::Result`]. What only this crate knows —
//! invalid YAML, a path that cannot be read or set, a failed git command,
//! a push that kept losing the race — is an [`Error`], carried as
//! [`paragon_core::Error::Adapter`]: ask its
//! [`kind`](paragon_core::Error::kind), or get it back with
//! [`downcast_ref::<paragon_gitops::Error>()`](paragon_core::Error::downcast_ref).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "argocd")]
pub mod argocd;
mod error;
#[cfg(feature = "forges")]
pub mod forge;
pub mod git;
#[cfg(any(feature = "argocd", feature = "forges"))]
mod http;
pub mod manifests;
pub mod target;
pub mod yaml;

pub use error::Error;
pub use git::GitCredentials;
pub use manifests::{ChartBump, HelmValues, Kustomize, Manifests};
pub use paragon_core::retry::RetryPolicy;
pub use target::{
    default_push_retry, ChangeRequest, ChangeRequests, GitOps, WriteMode, DEFAULT_MESSAGE,
};
