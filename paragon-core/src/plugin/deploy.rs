//! Deploying through git: the [`GitOpsTarget`] trait, what goes in
//! ([`Release`]) and what comes out ([`Deployment`]), promotion between
//! environments ([`GitOpsTargetExt::promote`]), and an in-memory target
//! ([`MemoryGitOps`]) for engine tests.
//!
//! ```
//! # fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! # block_on(async {
//! use paragon_core::plugin::deploy::{Deployment, GitOpsTarget, GitOpsTargetExt, MemoryGitOps, Release};
//! use paragon_core::CallContext;
//!
//! let target = MemoryGitOps::new(["dev", "prod"]);
//! let ctx = CallContext::new();
//! let release = Release::new("shop", "dev", "registry.example/shop/app", "1.4.0");
//! let Deployment::Changed(change) = target.deploy(&release, &ctx).await? else { unreachable!() };
//! assert_eq!(change.current.tag, "1.4.0");
//! // prod gets exactly what dev runs.
//! target.promote("shop", "dev", "prod", &ctx).await?;
//! assert_eq!(target.current("prod", &ctx).await?.unwrap().tag, "1.4.0");
//! # Ok::<(), paragon_core::Error>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::oci::Digest;
use crate::plugin::context::CallContext;

/// An image to roll out to one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Release {
    /// The application (used in commit messages and branch names).
    pub application: String,
    /// The environment (`dev`, `test`, `stage`, `prod`).
    pub environment: String,
    /// The image repository, with its registry (`harbor.example/shop/app`);
    /// `None` keeps the repository the deployment files name (a tag-only
    /// update).
    pub repository: Option<String>,
    /// The tag (always written so that it loads as a string).
    pub tag: String,
    /// The manifest digest, when the target records it.
    pub digest: Option<Digest>,
    /// The application version, where the target records one (Helm's
    /// `Chart.yaml` `appVersion`); `None` records the tag.
    pub app_version: Option<String>,
}

impl Release {
    /// A release of `repository:tag`, without a digest.
    pub fn new(
        application: impl Into<String>,
        environment: impl Into<String>,
        repository: impl Into<String>,
        tag: impl Into<String>,
    ) -> Release {
        Release {
            application: application.into(),
            environment: environment.into(),
            repository: Some(repository.into()),
            tag: tag.into(),
            digest: None,
            app_version: None,
        }
    }

    /// A release that moves only the tag, keeping the image repository the
    /// deployment files name.
    pub fn tag_only(
        application: impl Into<String>,
        environment: impl Into<String>,
        tag: impl Into<String>,
    ) -> Release {
        Release {
            application: application.into(),
            environment: environment.into(),
            repository: None,
            tag: tag.into(),
            digest: None,
            app_version: None,
        }
    }

    /// Records the digest too.
    #[must_use]
    pub fn with_digest(mut self, digest: Digest) -> Release {
        self.digest = Some(digest);
        self
    }

    /// Records this application version instead of the tag, where the
    /// target records one.
    #[must_use]
    pub fn with_app_version(mut self, version: impl Into<String>) -> Release {
        self.app_version = Some(version.into());
        self
    }

    /// The application version to record: [`app_version`](Release::app_version),
    /// else the tag.
    pub fn app_version(&self) -> &str {
        self.app_version.as_deref().unwrap_or(&self.tag)
    }

    /// What the environment runs once this release is deployed over
    /// `previous` (whose repository a tag-only release keeps).
    pub fn deployed_over(&self, previous: Option<&Deployed>) -> Deployed {
        Deployed {
            repository: self
                .repository
                .clone()
                .or_else(|| previous.and_then(|p| p.repository.clone())),
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        }
    }

    /// What the environment runs once this release is deployed (for a
    /// tag-only release, without the repository it keeps; see
    /// [`deployed_over`](Release::deployed_over)).
    pub fn deployed(&self) -> Deployed {
        self.deployed_over(None)
    }

    /// Checks the names, the tag and the application version.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (component `release`) for an empty
    /// application, environment, repository or application version, or a
    /// tag outside the distribution grammar.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Error::InvalidConfig {
            component: "release".into(),
            message,
        };
        let mut names = vec![
            ("application", &self.application),
            ("environment", &self.environment),
        ];
        names.extend(self.repository.iter().map(|r| ("repository", r)));
        names.extend(self.app_version.iter().map(|v| ("application version", v)));
        for (what, value) in names {
            if value.trim().is_empty() || value.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "the {what} `{value}` is empty or has control characters"
                )));
            }
        }
        match crate::plugin::registry::tag_problem(&self.tag) {
            None => Ok(()),
            Some(problem) => Err(invalid(problem)),
        }
    }
}

/// The image an environment runs, as its deployment files say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The image repository, when the files name one.
    pub repository: Option<String>,
    /// The tag.
    pub tag: String,
    /// The digest, when the files record one.
    pub digest: Option<Digest>,
}

/// One deployment commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployChange {
    /// The target's name.
    pub target: String,
    /// The environment.
    pub environment: String,
    /// The commit id.
    pub commit: String,
    /// The branch it was pushed to (the protected branch, or a change
    /// request's branch).
    pub branch: String,
    /// The files changed, relative to the repository.
    pub files: Vec<String>,
    /// The change as a unified diff (`--- a/FILE`, `+++ b/FILE`, hunks
    /// with context), one file after another: `git apply` takes it.
    pub diff: String,
    /// What the environment ran before.
    pub previous: Option<Deployed>,
    /// What it runs now.
    pub current: Deployed,
    /// The merge request opened for it (its URL), in change-request mode.
    pub change_request: Option<String>,
}

/// What a deploy or rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
// One value per deploy, never stored in bulk: boxing would only cost a
// pattern-matching indirection.
#[allow(clippy::large_enum_variant)]
pub enum Deployment {
    /// A commit was pushed.
    Changed(DeployChange),
    /// The environment already ran the release: nothing was committed.
    Unchanged {
        /// The environment.
        environment: String,
        /// The commit the branch is at.
        commit: String,
    },
}

impl Deployment {
    /// The change, when there was one.
    pub fn change(&self) -> Option<&DeployChange> {
        match self {
            Deployment::Changed(c) => Some(c),
            Deployment::Unchanged { .. } => None,
        }
    }

    /// The commit the environment's branch is at.
    pub fn commit(&self) -> &str {
        match self {
            Deployment::Changed(c) => &c.commit,
            Deployment::Unchanged { commit, .. } => commit,
        }
    }
}

/// Writes releases into the repository a GitOps controller watches.
///
/// # Contract
/// - [`deploy`](GitOpsTarget::deploy) validates the release, changes only
///   what must change, and answers [`Deployment::Unchanged`] (no commit)
///   when the environment already runs it. It never loses an update made
///   concurrently by another writer: a rejected push is retried on the new
///   head, and after the limit the error's
///   [`kind`](Error::kind) is [`ErrorKind::Conflict`](crate::ErrorKind::Conflict).
/// - [`current`](GitOpsTarget::current) reads what an environment runs from
///   the latest state of the repository; `None` when it names no image yet.
/// - [`rollback`](GitOpsTarget::rollback) adds a new commit that reverts a
///   change (history is never rewritten), so the previous image returns
///   through the same path.
/// - An environment the target does not have is
///   [`Error::UnknownEnvironment`]; credentials never appear in errors.
#[async_trait]
pub trait GitOpsTarget: fmt::Debug + Send + Sync + 'static {
    /// The adapter's name (`helm`, `kustomize`, `memory`).
    fn name(&self) -> &str;

    /// Where it writes (a remote URL without credentials, and a branch).
    fn location(&self) -> String;

    /// The environments, in promotion order.
    fn environments(&self) -> Vec<String>;

    /// What `environment` runs now.
    async fn current(&self, environment: &str, ctx: &CallContext) -> Result<Option<Deployed>>;

    /// Rolls `release` out to its environment.
    async fn deploy(&self, release: &Release, ctx: &CallContext) -> Result<Deployment>;

    /// Reverts `change` with a new commit.
    async fn rollback(&self, change: &DeployChange, ctx: &CallContext) -> Result<Deployment>;
}

macro_rules! forward_gitops {
    ($($ty:ty),+) => {$(
        #[async_trait]
        impl<T: GitOpsTarget + ?Sized> GitOpsTarget for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn location(&self) -> String {
                (**self).location()
            }
            fn environments(&self) -> Vec<String> {
                (**self).environments()
            }
            async fn current(
                &self,
                environment: &str,
                ctx: &CallContext,
            ) -> Result<Option<Deployed>> {
                (**self).current(environment, ctx).await
            }
            async fn deploy(&self, release: &Release, ctx: &CallContext) -> Result<Deployment> {
                (**self).deploy(release, ctx).await
            }
            async fn rollback(
                &self,
                change: &DeployChange,
                ctx: &CallContext,
            ) -> Result<Deployment> {
                (**self).rollback(change, ctx).await
            }
        }
    )+};
}
forward_gitops!(Box<T>, Arc<T>, &'static T);

/// Conveniences on every [`GitOpsTarget`].
#[async_trait]
pub trait GitOpsTargetExt: GitOpsTarget {
    /// Deploys to `to` exactly what `from` runs (repository, tag, digest).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `from` runs nothing or names no
    /// repository; otherwise as [`GitOpsTarget::deploy`].
    async fn promote(
        &self,
        application: &str,
        from: &str,
        to: &str,
        ctx: &CallContext,
    ) -> Result<Deployment> {
        let Some(running) = self.current(from, ctx).await? else {
            return Err(Error::InvalidConfig {
                component: self.name().into(),
                message: format!("cannot promote from `{from}` to `{to}`: `{from}` runs no image"),
            });
        };
        let Some(repository) = running.repository else {
            return Err(Error::InvalidConfig {
                component: self.name().into(),
                message: format!(
                    "cannot promote from `{from}` to `{to}`: `{from}` names no image repository"
                ),
            });
        };
        let mut release = Release::new(application, to, repository, running.tag);
        release.digest = running.digest;
        self.deploy(&release, ctx).await
    }
}

impl<T: GitOpsTarget + ?Sized> GitOpsTargetExt for T {}

/// A [`GitOpsTarget`] in memory: every environment keeps its history of
/// commits. For engine tests and examples.
#[derive(Debug, Clone)]
pub struct MemoryGitOps {
    environments: Vec<String>,
    state: Arc<Mutex<MemoryState>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    commits: u64,
    /// Per environment: (commit, what it runs after the commit).
    history: BTreeMap<String, Vec<(String, Option<Deployed>)>>,
}

impl MemoryGitOps {
    /// A target with these environments (in promotion order), all empty.
    pub fn new<I, S>(environments: I) -> MemoryGitOps
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MemoryGitOps {
            environments: environments.into_iter().map(Into::into).collect(),
            state: Arc::default(),
        }
    }

    /// How many commits were made, over all environments.
    pub fn commit_count(&self) -> u64 {
        self.lock().commits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn known(&self, environment: &str) -> Result<()> {
        if self.environments.iter().any(|e| e == environment) {
            Ok(())
        } else {
            Err(Error::UnknownEnvironment {
                target: "memory".into(),
                environment: environment.into(),
                known: self.environments.clone(),
            })
        }
    }

    fn commit(
        state: &mut MemoryState,
        environment: &str,
        previous: Option<Deployed>,
        next: Option<Deployed>,
    ) -> Deployment {
        state.commits += 1;
        let commit = format!("memory-{}", state.commits);
        state
            .history
            .entry(environment.into())
            .or_default()
            .push((commit.clone(), next.clone()));
        match next {
            Some(current) => Deployment::Changed(DeployChange {
                target: "memory".into(),
                environment: environment.into(),
                commit,
                branch: "main".into(),
                files: vec![format!("{environment}.yaml")],
                diff: String::new(),
                previous,
                current,
                change_request: None,
            }),
            None => Deployment::Unchanged {
                environment: environment.into(),
                commit,
            },
        }
    }
}

fn head(state: &MemoryState, environment: &str) -> (String, Option<Deployed>) {
    state
        .history
        .get(environment)
        .and_then(|h| h.last().cloned())
        .unwrap_or_else(|| ("memory-0".into(), None))
}

#[async_trait]
impl GitOpsTarget for MemoryGitOps {
    fn name(&self) -> &str {
        "memory"
    }

    fn location(&self) -> String {
        "memory".into()
    }

    fn environments(&self) -> Vec<String> {
        self.environments.clone()
    }

    async fn current(&self, environment: &str, _ctx: &CallContext) -> Result<Option<Deployed>> {
        self.known(environment)?;
        Ok(head(&self.lock(), environment).1)
    }

    async fn deploy(&self, release: &Release, _ctx: &CallContext) -> Result<Deployment> {
        release.validate()?;
        self.known(&release.environment)?;
        let mut state = self.lock();
        let (commit, previous) = head(&state, &release.environment);
        let next = release.deployed_over(previous.as_ref());
        if previous.as_ref() == Some(&next) {
            return Ok(Deployment::Unchanged {
                environment: release.environment.clone(),
                commit,
            });
        }
        Ok(MemoryGitOps::commit(
            &mut state,
            &release.environment,
            previous,
            Some(next),
        ))
    }

    async fn rollback(&self, change: &DeployChange, _ctx: &CallContext) -> Result<Deployment> {
        self.known(&change.environment)?;
        let mut state = self.lock();
        let (head_commit, running) = head(&state, &change.environment);
        if !state
            .history
            .get(&change.environment)
            .is_some_and(|h| h.iter().any(|(c, _)| *c == change.commit))
        {
            return Err(Error::InvalidConfig {
                component: "memory".into(),
                message: format!(
                    "commit {} is not a deployment of `{}`",
                    change.commit, change.environment
                ),
            });
        }
        if running.as_ref() != Some(&change.current) {
            // A later commit changed the same value: a revert would conflict.
            return Err(Error::Conflict {
                target: "memory".into(),
                message: format!(
                    "cannot revert {}: `{}` has changed since (now at {head_commit})",
                    change.commit, change.environment
                ),
            });
        }
        let restored = change.previous.clone();
        state.commits += 1;
        let commit = format!("memory-{}", state.commits);
        state
            .history
            .entry(change.environment.clone())
            .or_default()
            .push((commit.clone(), restored.clone()));
        Ok(Deployment::Changed(DeployChange {
            target: "memory".into(),
            environment: change.environment.clone(),
            commit,
            branch: change.branch.clone(),
            files: change.files.clone(),
            diff: String::new(),
            previous: Some(change.current.clone()),
            current: restored.unwrap_or_else(|| Deployed {
                repository: None,
                tag: String::new(),
                digest: None,
            }),
            change_request: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn box_and_arc_forward() {
        let ctx = CallContext::new();
        let boxed: Box<dyn GitOpsTarget> = Box::new(MemoryGitOps::new(["dev"]));
        let arc: Arc<dyn GitOpsTarget> = Arc::new(MemoryGitOps::new(["dev"]));
        for t in [&boxed as &dyn GitOpsTarget, &arc as &dyn GitOpsTarget] {
            let r = Release::new("shop", "dev", "r.example/shop", "1.0.0");
            assert!(t.deploy(&r, &ctx).await.unwrap().change().is_some());
            assert_eq!(t.current("dev", &ctx).await.unwrap().unwrap().tag, "1.0.0");
        }
    }

    #[test]
    fn releases_are_validated() {
        assert!(Release::new("shop", "dev", "r/shop", "1.0.0")
            .validate()
            .is_ok());
        assert!(Release::new("shop", "", "r/shop", "1.0.0")
            .validate()
            .is_err());
        assert!(Release::new("shop", "dev", "r/shop", "-bad")
            .validate()
            .is_err());
        assert!(Release::new("shop", "dev", "r/shop", "a\nb")
            .validate()
            .is_err());
        let err = Release::tag_only("shop", "dev", "bad tag")
            .validate()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid release configuration"),
            "{err}"
        );
        assert!(Release::tag_only("shop", "dev", "1.0.0")
            .with_app_version(" ")
            .validate()
            .is_err());
    }

    #[tokio::test]
    async fn a_tag_only_release_keeps_the_repository() {
        let ctx = CallContext::new();
        let t = MemoryGitOps::new(["dev"]);
        t.deploy(
            &Release::new("shop", "dev", "r.example/shop", "1.0.0"),
            &ctx,
        )
        .await
        .unwrap();
        let d = t
            .deploy(&Release::tag_only("shop", "dev", "1.0.1"), &ctx)
            .await
            .unwrap();
        let now = d.change().unwrap().current.clone();
        assert_eq!(now.repository.as_deref(), Some("r.example/shop"));
        assert_eq!(now.tag, "1.0.1");
    }
}
