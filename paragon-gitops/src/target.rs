//! [`GitOps`]: the [`GitOpsTarget`] that edits Helm values or a Kustomize
//! overlay in a git repository and pushes the commit.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use paragon_core::plugin::deploy::{DeployChange, Deployed, Deployment, GitOpsTarget, Release};
use paragon_core::retry::RetryPolicy;
use paragon_core::transport::require_https_beyond_loopback;
use paragon_core::{CallContext, Error, Result};

use crate::git::{split_remote, GitCredentials, Pushed, WorkTree};
use crate::manifests::Manifests;

/// The default commit message; see [`GitOps::with_message`].
pub const DEFAULT_MESSAGE: &str =
    "deploy {app} {tag} to {env}\n\n{env}: {old_tag} -> {tag}\nimage: {repository}\ndigest: {digest}\n";

/// Where commits go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// Straight to the branch.
    Direct,
    /// To a branch `paragon/<env>/<app>-<tag>` made from the branch's head,
    /// for a merge request (opened by a [`ChangeRequests`] when one is set).
    ChangeRequest,
}

/// A merge request to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    /// The branch with the change.
    pub source_branch: String,
    /// The protected branch it goes into.
    pub target_branch: String,
    /// The title (the commit message's first line).
    pub title: String,
    /// The description (the rest of the message, and the diff).
    pub description: String,
}

/// Opens merge requests on a forge. An adapter calls the forge's API: on
/// GitHub `POST /repos/{owner}/{repo}/pulls` with `head`, `base`, `title`,
/// `body`; on GitLab `POST /projects/{id}/merge_requests` with
/// `source_branch`, `target_branch`, `title`, `description`; on Gitea and
/// Forgejo `POST /repos/{owner}/{repo}/pulls`. It answers the request's web
/// URL, and treats "a request for this branch already exists" as success.
#[async_trait]
pub trait ChangeRequests: fmt::Debug + Send + Sync + 'static {
    /// Opens (or finds) the request; its URL.
    async fn open(&self, request: &ChangeRequest, ctx: &CallContext) -> Result<String>;
}

/// The default retry policy of git pushes: 12 pushes in all, waits of up
/// to 50 ms doubling to up to 1 s, each anywhere from zero to that
/// ([`Jitter::Full`](paragon_core::retry::Jitter::Full)): a rejected push
/// lost to one that landed, so the loser often does best to try again at
/// once, and writers that collided spread out. A dozen writers released
/// at once all land.
pub fn default_push_retry() -> RetryPolicy {
    RetryPolicy::new(12, Duration::from_millis(50), Duration::from_secs(1)).with_full_jitter()
}

/// A GitOps repository: one branch, one set of manifests, environments in
/// promotion order.
///
/// Every deploy fetches the branch, edits the environment's file(s) on the
/// remote head (changing only the lines that must change), commits, and
/// pushes; a rejected push (someone pushed first) is redone on the new
/// head after a backoff, up to [`RetryPolicy::attempts`], so no update is
/// lost. A release the environment already runs makes no commit.
///
/// ```no_run
/// # async fn demo() -> paragon_core::Result<()> {
/// use paragon_core::plugin::deploy::{GitOpsTarget, Release};
/// use paragon_core::{CallContext, Secret};
/// use paragon_gitops::{GitCredentials, GitOps, HelmValues};
///
/// let target = GitOps::new(
///     "https://git.example/shop/deploy.git",
///     HelmValues::new("charts/shop").with_digest_key("image.digest"),
/// )
/// .with_credentials(GitCredentials::token("ci-bot", Secret::new("…")))
/// .with_environments(["dev", "test", "stage", "prod"]);
/// let release = Release::new("shop", "dev", "harbor.example/shop/app", "1.4.0");
/// let outcome = target.deploy(&release, &CallContext::new()).await?;
/// println!("{}", outcome.commit());
/// # Ok(()) }
/// ```
pub struct GitOps {
    remote: String,
    branch: String,
    manifests: Manifests,
    environments: Vec<String>,
    credentials: GitCredentials,
    workdir: Option<PathBuf>,
    temp: std::sync::Mutex<Option<Arc<tempfile::TempDir>>>,
    program: PathBuf,
    author: (String, String),
    message: String,
    mode: WriteMode,
    change_requests: Option<Arc<dyn ChangeRequests>>,
    retry: RetryPolicy,
    allow_http: bool,
    verification: Option<Verification>,
    lock: tokio::sync::Mutex<()>,
}

/// Where and against what a release's image is verified before a write.
struct Verification {
    registry: Arc<dyn paragon_core::Registry>,
    repository: paragon_core::Repository,
    verifier: Arc<dyn paragon_core::plugin::sign::Verifier>,
}

impl fmt::Debug for GitOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitOps")
            .field("remote", &self.remote)
            .field("branch", &self.branch)
            .field("manifests", &self.manifests)
            .field("environments", &self.environments)
            .field("credentials", &self.credentials)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl GitOps {
    /// A target writing `manifests` on branch `main` of `remote` (a URL or
    /// a path). Defaults: environments dev, test, stage, prod; no
    /// credentials; author `Paragon <paragon@localhost>`; direct pushes;
    /// [`DEFAULT_MESSAGE`]; a temporary work dir; `git` from `PATH`.
    ///
    /// A user name and password in an `https://` URL are moved out of it
    /// into [`GitCredentials::Token`], so git never stores them.
    pub fn new(remote: impl AsRef<str>, manifests: impl Into<Manifests>) -> GitOps {
        let (remote, creds) = split_remote(remote.as_ref());
        GitOps {
            remote,
            branch: "main".into(),
            manifests: manifests.into(),
            environments: ["dev", "test", "stage", "prod"].map(String::from).to_vec(),
            credentials: creds
                .map(|(u, t)| GitCredentials::token(u, t))
                .unwrap_or_default(),
            workdir: None,
            temp: std::sync::Mutex::new(None),
            program: PathBuf::from("git"),
            author: ("Paragon".into(), "paragon@localhost".into()),
            message: DEFAULT_MESSAGE.into(),
            mode: WriteMode::Direct,
            change_requests: None,
            retry: default_push_retry(),
            verification: None,
            allow_http: false,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The branch to write (default `main`).
    #[must_use]
    pub fn with_branch(mut self, branch: impl Into<String>) -> GitOps {
        self.branch = branch.into();
        self
    }

    /// The environments, in promotion order (default dev, test, stage, prod).
    #[must_use]
    pub fn with_environments<I, S>(mut self, environments: I) -> GitOps
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.environments = environments.into_iter().map(Into::into).collect();
        self
    }

    /// How git authenticates (default none). A token goes to an `http://`
    /// remote only on this machine unless [`allow_http`](Self::allow_http):
    /// otherwise each operation fails with [`Error::InvalidConfig`] before
    /// git runs.
    #[must_use]
    pub fn with_credentials(mut self, credentials: GitCredentials) -> GitOps {
        self.credentials = credentials;
        self
    }

    /// Lets a token go to a plain `http://` remote whose host is not this
    /// machine (a git server inside a network the caller trusts). Default:
    /// no, the token would cross the network in clear.
    #[must_use]
    pub fn allow_http(mut self, yes: bool) -> GitOps {
        self.allow_http = yes;
        self
    }

    /// A work dir kept between runs (cloned once, then fetched); default a
    /// temporary directory for the target's life.
    #[must_use]
    pub fn with_workdir(mut self, dir: impl Into<PathBuf>) -> GitOps {
        self.workdir = Some(dir.into());
        self
    }

    /// The `git` program (default `git` on `PATH`).
    #[must_use]
    pub fn with_git(mut self, program: impl Into<PathBuf>) -> GitOps {
        self.program = program.into();
        self
    }

    /// The commit author (default `Paragon <paragon@localhost>`).
    #[must_use]
    pub fn with_author(mut self, name: impl Into<String>, email: impl Into<String>) -> GitOps {
        self.author = (name.into(), email.into());
        self
    }

    /// The commit message template; `{app}`, `{env}`, `{tag}`,
    /// `{old_tag}`, `{repository}`, `{digest}` are replaced (default
    /// [`DEFAULT_MESSAGE`]).
    #[must_use]
    pub fn with_message(mut self, template: impl Into<String>) -> GitOps {
        self.message = template.into();
        self
    }

    /// Direct pushes or change-request branches (default direct).
    #[must_use]
    pub fn with_mode(mut self, mode: WriteMode) -> GitOps {
        self.mode = mode;
        self
    }

    /// Opens a merge request for each change-request branch.
    #[must_use]
    pub fn with_change_requests(mut self, forge: Arc<dyn ChangeRequests>) -> GitOps {
        self.change_requests = Some(forge);
        self
    }

    /// The retry policy of rejected pushes (default
    /// [`default_push_retry`]).
    #[must_use]
    pub fn with_push_retry(mut self, retry: RetryPolicy) -> GitOps {
        self.retry = retry;
        self
    }

    /// Writes no release whose image does not carry a cosign signature
    /// that `verifier` accepts, in `repository` of `registry`, over a
    /// payload naming the release's digest (see
    /// [`cosign::verify`](paragon_core::plugin::sign::cosign::verify)):
    /// for tools that deploy without Paragon's pipeline. A release
    /// without a digest is refused too.
    #[must_use]
    pub fn require_signature(
        mut self,
        registry: impl paragon_core::Registry,
        repository: paragon_core::Repository,
        verifier: impl paragon_core::plugin::sign::Verifier,
    ) -> GitOps {
        self.verification = Some(Verification {
            registry: Arc::new(registry),
            repository,
            verifier: Arc::new(verifier),
        });
        self
    }

    /// The release's image verified, when the target requires it.
    async fn verified(&self, release: &Release, ctx: &CallContext) -> Result<()> {
        let Some(v) = &self.verification else {
            return Ok(());
        };
        let Some(digest) = &release.digest else {
            return Err(paragon_core::Error::NotVerified {
                image: format!(
                    "{}:{}",
                    release
                        .repository
                        .as_deref()
                        .unwrap_or(v.repository.as_ref()),
                    release.tag
                ),
                reason: "the release names no digest to verify".into(),
                accepted: v.verifier.accepted(),
            });
        };
        paragon_core::plugin::sign::cosign::verify(
            v.registry.as_ref(),
            &v.repository,
            digest,
            v.verifier.as_ref(),
            ctx,
        )
        .await
        .map(drop)
    }

    fn known(&self, environment: &str) -> Result<()> {
        if self.environments.iter().any(|e| e == environment) {
            Ok(())
        } else {
            Err(Error::UnknownEnvironment {
                target: self.manifests.name().into(),
                environment: environment.into(),
                known: self.environments.clone(),
            })
        }
    }

    fn worktree(&self) -> Result<WorkTree> {
        let token = matches!(self.credentials, GitCredentials::Token { .. });
        let http = url::Url::parse(&self.remote)
            .ok()
            .filter(|url| url.scheme() == "http");
        if let (true, Some(url)) = (token, http) {
            require_https_beyond_loopback(
                "git",
                "http",
                url.host_str(),
                self.allow_http,
                "GitOps::allow_http(true)",
            )?;
        }
        let dir = match &self.workdir {
            Some(d) => d.clone(),
            None => {
                let mut temp = self.temp.lock().unwrap_or_else(|e| e.into_inner());
                if temp.is_none() {
                    let t = tempfile::Builder::new()
                        .prefix("paragon-gitops-")
                        .tempdir()
                        .map_err(|source| Error::Io {
                            path: std::env::temp_dir(),
                            source,
                        })?;
                    *temp = Some(Arc::new(t));
                }
                temp.as_ref()
                    .map(|t| t.path().join("repo"))
                    .unwrap_or_default()
            }
        };
        Ok(WorkTree {
            program: self.program.clone(),
            remote: self.remote.clone(),
            branch: self.branch.clone(),
            dir,
            credentials: self.credentials.clone(),
            author_name: self.author.0.clone(),
            author_email: self.author.1.clone(),
        })
    }

    fn message(&self, release: &Release, previous: Option<&Deployed>) -> String {
        self.message
            .replace("{app}", &release.application)
            .replace("{env}", &release.environment)
            .replace("{tag}", &release.tag)
            .replace("{old_tag}", previous.map_or("(none)", |p| p.tag.as_str()))
            .replace(
                "{repository}",
                release
                    .repository
                    .as_deref()
                    .or_else(|| previous.and_then(|p| p.repository.as_deref()))
                    .unwrap_or("(unchanged)"),
            )
            .replace(
                "{digest}",
                release.digest.as_ref().map_or("(none)", |d| d.as_str()),
            )
    }

    fn destination(&self, release: &Release) -> String {
        match self.mode {
            WriteMode::Direct => self.branch.clone(),
            WriteMode::ChangeRequest => format!(
                "paragon/{}/{}-{}",
                release.environment, release.application, release.tag
            ),
        }
    }

    /// In change-request mode with a forge: opens (or finds) the request
    /// from `destination` into the branch, titled by the commit message's
    /// first line, its body and `diff` the description; the request's URL.
    async fn open_change_request(
        &self,
        destination: &str,
        message: &str,
        diff: &str,
        ctx: &CallContext,
    ) -> Result<Option<String>> {
        let (Some(forge), WriteMode::ChangeRequest) = (&self.change_requests, &self.mode) else {
            return Ok(None);
        };
        let (title, body) = message.split_once('\n').unwrap_or((message, ""));
        let request = ChangeRequest {
            source_branch: destination.to_owned(),
            target_branch: self.branch.clone(),
            title: title.to_owned(),
            description: format!("{}\n\n```diff\n{diff}```\n", body.trim()),
        };
        forge.open(&request, ctx).await.map(Some)
    }

    /// In change-request mode: whether the request branch already holds
    /// exactly the edited files.
    async fn request_branch_matches(
        &self,
        tree: &WorkTree,
        branch: &str,
        files: &[String],
        ctx: &CallContext,
    ) -> Result<Option<String>> {
        let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
        let (found, _, _) = tree
            .git_raw(&["fetch", "--quiet", "origin", &refspec], ctx)
            .await?;
        if !found {
            return Ok(None);
        }
        let remote = format!("origin/{branch}");
        let mut args = vec!["diff", "--quiet", remote.as_str(), "--"];
        args.extend(files.iter().map(String::as_str));
        let (same, _, _) = tree.git_raw(&args, ctx).await?;
        if !same {
            return Ok(None);
        }
        let head = tree.git("rev-parse", &["rev-parse", &remote], ctx).await?;
        Ok(Some(head.trim().to_owned()))
    }
}

#[async_trait]
impl GitOpsTarget for GitOps {
    fn name(&self) -> &str {
        self.manifests.name()
    }

    fn location(&self) -> String {
        format!("{} ({})", self.remote, self.branch)
    }

    fn environments(&self) -> Vec<String> {
        self.environments.clone()
    }

    async fn current(&self, environment: &str, ctx: &CallContext) -> Result<Option<Deployed>> {
        self.known(environment)?;
        let _guard = self.lock.lock().await;
        let tree = self.worktree()?;
        tree.sync(ctx).await?;
        self.manifests.read(tree.dir(), environment)
    }

    #[tracing::instrument(name = "gitops deploy", skip_all, fields(target = self.name(), env = %release.environment, tag = %release.tag))]
    async fn deploy(&self, release: &Release, ctx: &CallContext) -> Result<Deployment> {
        release.validate()?;
        self.known(&release.environment)?;
        self.verified(release, ctx).await?;
        let _guard = self.lock.lock().await;
        let tree = self.worktree()?;
        let destination = self.destination(release);
        let mut backoff = self.retry.backoff();
        for attempt in 1..=self.retry.attempts.max(1) {
            let base = tree.sync(ctx).await?;
            let previous = self.manifests.read(tree.dir(), &release.environment)?;
            let edits = self.manifests.edit(tree.dir(), release)?;
            if edits.is_empty() {
                return Ok(Deployment::Unchanged {
                    environment: release.environment.clone(),
                    commit: base,
                });
            }
            for e in &edits {
                let path = tree.path(&e.file);
                std::fs::write(&path, &e.text).map_err(|source| Error::Io { path, source })?;
            }
            let files: Vec<String> = edits.iter().map(|e| e.file.clone()).collect();
            if self.mode == WriteMode::ChangeRequest {
                if let Some(head) = self
                    .request_branch_matches(&tree, &destination, &files, ctx)
                    .await?
                {
                    return Ok(Deployment::Unchanged {
                        environment: release.environment.clone(),
                        commit: head,
                    });
                }
            }
            let current = self
                .manifests
                .read(tree.dir(), &release.environment)?
                .unwrap_or_else(|| release.deployed_over(previous.as_ref()));
            let message = self.message(release, previous.as_ref());
            let commit = tree.commit(&files, &message, ctx).await?;
            let force = self.mode == WriteMode::ChangeRequest;
            match tree.push(&destination, force, ctx).await? {
                Pushed::Ok => {
                    let diff = edits.iter().map(|e| e.diff.as_str()).collect::<String>();
                    let change_request = self
                        .open_change_request(&destination, &message, &diff, ctx)
                        .await?;
                    tracing::info!(%commit, attempt, "deployed");
                    return Ok(Deployment::Changed(DeployChange {
                        target: self.name().into(),
                        environment: release.environment.clone(),
                        commit,
                        branch: destination,
                        files,
                        diff,
                        previous,
                        current,
                        change_request,
                    }));
                }
                Pushed::Rejected => {
                    tracing::warn!(attempt, branch = %destination, "push rejected; redoing the edit on the new head");
                    if attempt < self.retry.attempts {
                        backoff.pause(None, ctx, "git").await?;
                    }
                }
            }
        }
        Err(crate::Error::PushRejected {
            remote: self.remote.clone(),
            branch: destination,
            attempts: self.retry.attempts.max(1),
        }
        .into())
    }

    async fn rollback(&self, change: &DeployChange, ctx: &CallContext) -> Result<Deployment> {
        self.known(&change.environment)?;
        let _guard = self.lock.lock().await;
        let tree = self.worktree()?;
        let destination = match self.mode {
            WriteMode::Direct => self.branch.clone(),
            WriteMode::ChangeRequest => format!(
                "paragon/{}/revert-{}",
                change.environment,
                &change.commit[..change.commit.len().min(12)]
            ),
        };
        let mut backoff = self.retry.backoff();
        for attempt in 1..=self.retry.attempts.max(1) {
            tree.sync(ctx).await?;
            if !tree.contains(&change.commit, ctx).await? {
                return Err(tree.error(
                    &format!("revert {}", change.commit),
                    &format!("commit {} is not on {}", change.commit, self.branch),
                ));
            }
            if !tree.revert(&change.commit, ctx).await? {
                return Err(tree.error(
                    &format!("revert {}", change.commit),
                    "the revert conflicts with later changes to the same lines",
                ));
            }
            let commit = tree.head(ctx).await?;
            match tree
                .push(&destination, self.mode == WriteMode::ChangeRequest, ctx)
                .await?
            {
                Pushed::Ok => {
                    let now = self.manifests.read(tree.dir(), &change.environment)?;
                    let diff = tree
                        .git("diff", &["diff", "HEAD~1", "HEAD"], ctx)
                        .await
                        .unwrap_or_default();
                    return Ok(Deployment::Changed(DeployChange {
                        target: self.name().into(),
                        environment: change.environment.clone(),
                        commit,
                        branch: destination,
                        files: change.files.clone(),
                        diff,
                        previous: Some(change.current.clone()),
                        current: now.unwrap_or(Deployed {
                            repository: None,
                            tag: String::new(),
                            digest: None,
                        }),
                        change_request: None,
                    }));
                }
                Pushed::Rejected if attempt < self.retry.attempts => {
                    backoff.pause(None, ctx, "git").await?;
                }
                Pushed::Rejected => {}
            }
        }
        Err(crate::Error::PushRejected {
            remote: self.remote.clone(),
            branch: destination,
            attempts: self.retry.attempts.max(1),
        }
        .into())
    }
}
