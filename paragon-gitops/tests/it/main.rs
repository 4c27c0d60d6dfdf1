//! Integration tests of paragon-gitops against real git (bare remotes in
//! temporary directories) and Argo CD's API answered by a local server.

#[cfg(feature = "argocd")]
mod argocd;
#[cfg(feature = "forges")]
mod forge;
mod git;
mod git_faults;
mod http;
mod semantics;
mod support;
