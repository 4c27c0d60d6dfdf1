//! Post-deploy checks: the [`Check`] trait and the [`CommandCheck`] that
//! runs a command (a Playwright or Selenium suite, a k6 stress test…).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::plugin::context::CallContext;
use crate::plugin::deploy::Release;
use crate::plugin::secrets::SecretSource;
use crate::tool::{run, ToolCommand};

/// What a check checks: the release an environment now runs.
#[derive(Debug, Clone)]
pub struct CheckTarget {
    /// The environment.
    pub environment: String,
    /// The release deployed to it.
    pub release: Release,
    /// The deployment commit.
    pub commit: String,
    /// The pipeline's secret source, for checks that need credentials.
    pub secrets: Option<Arc<dyn SecretSource>>,
}

impl CheckTarget {
    /// A target without a secret source.
    pub fn new(
        environment: impl Into<String>,
        release: Release,
        commit: impl Into<String>,
    ) -> CheckTarget {
        CheckTarget {
            environment: environment.into(),
            release,
            commit: commit.into(),
            secrets: None,
        }
    }
}

/// A check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Whether the environment passed.
    pub passed: bool,
    /// What the check said (shortened).
    pub detail: String,
}

/// A mandatory post-deploy check of one environment.
///
/// # Contract
/// `run` answers `Ok` with `passed: false` when the environment fails the
/// check, and `Err` only when the check itself could not run (a missing
/// program, a timeout); the pipeline treats both as a failed deployment.
/// It honours the context's timeout and cancellation.
#[async_trait]
pub trait Check: fmt::Debug + Send + Sync + 'static {
    /// Its name (`e2e`, `k6-smoke`).
    fn name(&self) -> &str;

    /// Checks the environment.
    async fn run(&self, target: &CheckTarget, ctx: &CallContext) -> Result<CheckResult>;
}

macro_rules! forward_check {
    ($($ty:ty),+) => {$(
        #[async_trait]
        impl<T: Check + ?Sized> Check for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            async fn run(&self, target: &CheckTarget, ctx: &CallContext) -> Result<CheckResult> {
                (**self).run(target, ctx).await
            }
        }
    )+};
}
forward_check!(Box<T>, Arc<T>, &'static T);

/// A command whose exit code decides: 0 passes. It sees the release in its
/// environment: `PARAGON_ENVIRONMENT`, `PARAGON_IMAGE` (`repository:tag`),
/// `PARAGON_TAG`, `PARAGON_DIGEST` (empty when unknown), `PARAGON_COMMIT`.
#[derive(Debug, Clone)]
pub struct CommandCheck {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    secret_envs: Vec<(String, String)>,
    dir: Option<PathBuf>,
    timeout: Duration,
}

impl CommandCheck {
    /// A check named `name` running `program` (found on `PATH` when not a
    /// path); timeout 10 minutes.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> CommandCheck {
        CommandCheck {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            secret_envs: Vec::new(),
            dir: None,
            timeout: Duration::from_secs(600),
        }
    }

    /// Its arguments.
    #[must_use]
    pub fn with_args<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        args: I,
    ) -> CommandCheck {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// An environment variable.
    #[must_use]
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> CommandCheck {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// An environment variable holding the secret `name` of the pipeline's
    /// [`SecretSource`] (a test account's password, say); it is redacted
    /// from the check's output.
    #[must_use]
    pub fn with_secret_env(
        mut self,
        key: impl Into<String>,
        name: impl Into<String>,
    ) -> CommandCheck {
        self.secret_envs.push((key.into(), name.into()));
        self
    }

    /// The working directory (default the current one).
    #[must_use]
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> CommandCheck {
        self.dir = Some(dir.into());
        self
    }

    /// The time limit (default 10 minutes); the run's own timeout, when
    /// shorter, wins.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> CommandCheck {
        self.timeout = timeout;
        self
    }
}

#[async_trait]
impl Check for CommandCheck {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, target: &CheckTarget, ctx: &CallContext) -> Result<CheckResult> {
        let r = &target.release;
        let mut cmd = ToolCommand::new(format!("check {}", self.name), &self.program)
            .args(self.args.iter())
            .env("PARAGON_ENVIRONMENT", &target.environment)
            .env(
                "PARAGON_IMAGE",
                r.repository
                    .as_ref()
                    .map(|repo| format!("{repo}:{}", r.tag))
                    .unwrap_or_default(),
            )
            .env("PARAGON_TAG", &r.tag)
            .env(
                "PARAGON_DIGEST",
                r.digest.as_ref().map(|d| d.to_string()).unwrap_or_default(),
            )
            .env("PARAGON_COMMIT", &target.commit)
            .capture(16 * 1024);
        for (k, v) in &self.envs {
            cmd = cmd.env(k, v);
        }
        for (k, name) in &self.secret_envs {
            let Some(source) = &target.secrets else {
                return Err(Error::Pipeline {
                    message: format!(
                        "check {} needs the secret `{name}` but the pipeline has no secret source",
                        self.name
                    ),
                });
            };
            cmd = cmd.secret_env(k, source.secret(name, ctx).await?);
        }
        if let Some(d) = &self.dir {
            cmd = cmd.current_dir(d);
        }
        let limit = ctx.timeout.map_or(self.timeout, |t| t.min(self.timeout));
        let ctx = ctx.clone().with_timeout(limit);
        let out = run(&cmd, &ctx).await?;
        // Standard error comes back redacted; standard output is redacted here.
        let mut text = cmd.redact(&String::from_utf8_lossy(&out.stdout));
        text.push_str(&out.stderr);
        let lines: Vec<&str> = text.trim_end().lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        Ok(CheckResult {
            passed: out.success,
            detail: if out.success {
                tail
            } else {
                format!(
                    "{}{}",
                    out.status(),
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(": {tail}")
                    }
                )
            },
        })
    }
}

impl From<Error> for CheckResult {
    fn from(e: Error) -> CheckResult {
        CheckResult {
            passed: false,
            detail: e.to_string(),
        }
    }
}
