//! The plugin contracts: one trait per tool a pipeline composes, each
//! with an in-memory implementation for tests.
//!
//! | concern | trait | in memory | adapters |
//! |---|---|---|---|
//! | [`scan`] | [`Scanner`](scan::Scanner) | [`CannedScanner`](scan::CannedScanner) | `paragon-scanners` |
//! | [`build`] | [`Builder`](build::Builder) | [`MinimalBuilder`](build::testing::MinimalBuilder) | `paragon-registry` |
//! | [`registry`] | [`Registry`](registry::Registry) | [`MemoryRegistry`](registry::MemoryRegistry) | `paragon-registry` |
//! | [`deploy`] | [`GitOpsTarget`](deploy::GitOpsTarget) | [`MemoryGitOps`](deploy::MemoryGitOps) | `paragon-gitops` |
//! | [`check`] | [`Check`](check::Check) | — | [`CommandCheck`](check::CommandCheck), `paragon-gitops` |
//! | [`notify`] | [`Notifier`](notify::Notifier) | — | `SlackWebhook` (feature `slack`) |
//! | [`secrets`] | [`SecretSource`](secrets::SecretSource) | [`EnvSecrets`](secrets::EnvSecrets) | `VaultKv2` (feature `vault`) |
//! | [`sign`] | [`Signer`](sign::Signer), [`Verifier`](sign::Verifier) | — | `paragon_registry::cosign` (feature `cosign`) |
//!
//! Every async method takes a [`CallContext`](context::CallContext): the
//! cancellation token and deadline of the call.

pub mod build;
pub mod check;
pub mod context;
pub mod deploy;
pub mod notify;
pub mod registry;
pub mod scan;
pub mod secrets;
pub mod sign;
