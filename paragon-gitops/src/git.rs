//! A git work tree driven through the `git` command line: clone or fetch
//! into a cached directory, commit, push, revert.
//!
//! Credentials never touch the repository: an HTTPS token travels in the
//! environment of each git process (`GIT_CONFIG_*`, as an
//! `http.extraHeader`), an SSH key through `GIT_SSH_COMMAND`; a user name
//! and password written into the remote URL are taken out of it before git
//! sees it. Errors and logs name the remote without credentials.

use std::fmt;
use std::path::{Path, PathBuf};

use paragon_core::tool::{run, ToolCommand};
use paragon_core::{CallContext, Error, Result, Secret};

/// How git authenticates to the remote.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum GitCredentials {
    /// None (a local path, a public remote, or the user's own git setup).
    #[default]
    None,
    /// An HTTPS user name and token (or password), sent as basic auth.
    Token {
        /// The user name (`x-access-token`, `oauth2`, a user…).
        username: String,
        /// The token.
        token: Secret,
    },
    /// An SSH private key file.
    SshKey {
        /// The key file (kept where it is; never copied).
        path: PathBuf,
    },
}

impl GitCredentials {
    /// HTTPS basic credentials.
    pub fn token(username: impl Into<String>, token: Secret) -> GitCredentials {
        GitCredentials::Token {
            username: username.into(),
            token,
        }
    }

    /// An SSH key file.
    pub fn ssh_key(path: impl Into<PathBuf>) -> GitCredentials {
        GitCredentials::SshKey { path: path.into() }
    }
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitCredentials::None => f.write_str("None"),
            GitCredentials::Token { username, .. } => f
                .debug_struct("Token")
                .field("username", username)
                .field("token", &"***")
                .finish(),
            GitCredentials::SshKey { path } => {
                f.debug_struct("SshKey").field("path", path).finish()
            }
        }
    }
}

/// A remote URL split into what git may see and the credentials it held.
pub(crate) fn split_remote(remote: &str) -> (String, Option<(String, Secret)>) {
    match url::Url::parse(remote) {
        Ok(mut u) if matches!(u.scheme(), "http" | "https") && !u.username().is_empty() => {
            let user = u.username().to_owned();
            let password = u.password().map(str::to_owned);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            (
                u.to_string(),
                password.map(|p| (percent_decode(&user), Secret::new(percent_decode(&p)))),
            )
        }
        _ => (remote.to_owned(), None),
    }
}

/// URL user info is percent-encoded (a `+` is a plus, not a space).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A work tree of one branch of one remote.
#[derive(Debug)]
pub(crate) struct WorkTree {
    pub(crate) program: PathBuf,
    /// The remote as git sees it (no credentials).
    pub(crate) remote: String,
    pub(crate) branch: String,
    pub(crate) dir: PathBuf,
    pub(crate) credentials: GitCredentials,
    pub(crate) author_name: String,
    pub(crate) author_email: String,
}

/// How long asking the remote whether a push landed may take.
const LANDED_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// How a push ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Ok,
    /// The remote branch moved (non-fast-forward, or a lease failed).
    Rejected,
}

impl WorkTree {
    fn command(&self, args: &[&str]) -> ToolCommand {
        let mut cmd = ToolCommand::new("git", &self.program)
            .install_hint("install git (apt-get install git)")
            .args(args.iter().copied())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("LC_ALL", "C");
        match &self.credentials {
            GitCredentials::None => {}
            GitCredentials::Token { username, token } => {
                use base64::Engine as _;
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", token.expose()));
                cmd = cmd
                    .env("GIT_CONFIG_COUNT", "1")
                    .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                    .secret_env(
                        "GIT_CONFIG_VALUE_0",
                        Secret::new(format!("Authorization: Basic {basic}")),
                    )
                    .redacting(Secret::new(basic))
                    .redacting(token.clone());
            }
            GitCredentials::SshKey { path } => {
                let quoted = path.display().to_string().replace('\'', "'\\''");
                cmd = cmd.env(
                    "GIT_SSH_COMMAND",
                    format!("ssh -i '{quoted}' -o IdentitiesOnly=yes -o BatchMode=yes"),
                );
            }
        }
        if self.dir.join(".git").exists() {
            cmd = cmd.current_dir(&self.dir);
        }
        cmd
    }

    /// Runs git; a non-zero exit is an [`Error::Git`](crate::Error::Git) naming `operation`.
    pub(crate) async fn git(
        &self,
        operation: &str,
        args: &[&str],
        ctx: &CallContext,
    ) -> Result<String> {
        let out = self.git_raw(args, ctx).await?;
        if out.0 {
            Ok(out.1)
        } else {
            Err(self.error(operation, &out.2))
        }
    }

    /// Runs git: (success, stdout, stderr).
    pub(crate) async fn git_raw(
        &self,
        args: &[&str],
        ctx: &CallContext,
    ) -> Result<(bool, String, String)> {
        let cmd = self.command(args);
        let out = run(&cmd, ctx).await?;
        Ok((
            out.success,
            cmd.redact(&String::from_utf8_lossy(&out.stdout)),
            cmd.redact(&out.stderr),
        ))
    }

    pub(crate) fn error(&self, operation: &str, stderr: &str) -> Error {
        let lines: Vec<&str> = stderr.trim_end().lines().collect();
        crate::Error::Git {
            remote: self.remote.clone(),
            operation: operation.into(),
            message: lines[lines.len().saturating_sub(6)..].join("\n"),
        }
        .into()
    }

    /// Clones (once) or fetches, then puts the work tree exactly at the
    /// remote branch's head.
    pub(crate) async fn sync(&self, ctx: &CallContext) -> Result<String> {
        if !self.dir.join(".git").exists() {
            std::fs::create_dir_all(&self.dir).map_err(|source| Error::Io {
                path: self.dir.clone(),
                source,
            })?;
            let dir = self.dir.display().to_string();
            self.git(
                "clone",
                &[
                    "clone",
                    "--quiet",
                    "--no-checkout",
                    "--origin",
                    "origin",
                    &self.remote,
                    &dir,
                ],
                ctx,
            )
            .await?;
        }
        let tracking = format!("+refs/heads/{0}:refs/remotes/origin/{0}", self.branch);
        self.git(
            &format!("fetch {}", self.branch),
            &["fetch", "--quiet", "--prune", "origin", &tracking],
            ctx,
        )
        .await?;
        let remote_ref = format!("origin/{}", self.branch);
        self.git(
            &format!("check out {}", self.branch),
            &[
                "checkout",
                "--quiet",
                "--force",
                "-B",
                &self.branch,
                &remote_ref,
            ],
            ctx,
        )
        .await?;
        self.git("clean", &["clean", "--quiet", "-fdx"], ctx)
            .await?;
        self.head(ctx).await
    }

    pub(crate) async fn head(&self, ctx: &CallContext) -> Result<String> {
        Ok(self
            .git("rev-parse", &["rev-parse", "HEAD"], ctx)
            .await?
            .trim()
            .to_owned())
    }

    fn author_args(&self) -> [String; 4] {
        [
            "-c".into(),
            format!("user.name={}", self.author_name),
            "-c".into(),
            format!("user.email={}", self.author_email),
        ]
    }

    /// Commits `files` with `message`; the new head.
    pub(crate) async fn commit(
        &self,
        files: &[String],
        message: &str,
        ctx: &CallContext,
    ) -> Result<String> {
        let mut add = vec!["add", "--"];
        add.extend(files.iter().map(String::as_str));
        self.git("add", &add, ctx).await?;
        let author = self.author_args();
        let mut args: Vec<&str> = author.iter().map(String::as_str).collect();
        args.extend(["commit", "--quiet", "--no-verify", "-m", message]);
        self.git("commit", &args, ctx).await?;
        self.head(ctx).await
    }

    /// Reverts `commit` on the work tree; `Ok(false)` when it conflicts
    /// (the revert is aborted).
    pub(crate) async fn revert(&self, commit: &str, ctx: &CallContext) -> Result<bool> {
        let author = self.author_args();
        let mut args: Vec<&str> = author.iter().map(String::as_str).collect();
        args.extend(["revert", "--no-edit", commit]);
        let (ok, _, _) = self.git_raw(&args, ctx).await?;
        if !ok {
            let _ = self.git_raw(&["revert", "--abort"], ctx).await;
        }
        Ok(ok)
    }

    /// Whether `commit` exists in the work tree's history of `branch`.
    pub(crate) async fn contains(&self, commit: &str, ctx: &CallContext) -> Result<bool> {
        let (ok, _, _) = self
            .git_raw(&["merge-base", "--is-ancestor", commit, "HEAD"], ctx)
            .await?;
        Ok(ok)
    }

    /// Pushes the head to `refs/heads/<to>`.
    ///
    /// When git ends with an error, is cancelled or times out, the remote
    /// is asked (with a bound of its own) where the branch is: a push that
    /// landed before git was stopped, or before a hook after the update
    /// failed, is [`Pushed::Ok`], so that the caller is never told a
    /// commit is not there when it is.
    pub(crate) async fn push(&self, to: &str, force: bool, ctx: &CallContext) -> Result<Pushed> {
        let pushed = self.push_once(to, force, ctx).await;
        // A push git reports as rejected did not move the branch: only an
        // error leaves that open.
        let failed = match &pushed {
            Ok(_) => return pushed,
            Err(e) => e.to_string(),
        };
        let head = self
            .head(&CallContext::new().with_timeout(LANDED_CHECK))
            .await;
        match (head, self.remote_head(to).await) {
            (Ok(ours), Ok(Some(theirs))) if ours == theirs => {
                tracing::warn!(
                    remote = %self.remote,
                    branch = to,
                    commit = %ours,
                    error = %failed,
                    "the push did not end cleanly, but the remote holds the commit"
                );
                Ok(Pushed::Ok)
            }
            _ => pushed,
        }
    }

    /// Where `refs/heads/<branch>` is on the remote (`git ls-remote`), asked
    /// with a bound of its own; `None` when the branch is not there.
    pub(crate) async fn remote_head(&self, branch: &str) -> Result<Option<String>> {
        let ctx = CallContext::new().with_timeout(LANDED_CHECK);
        let name = format!("refs/heads/{branch}");
        let out = self
            .git("ls-remote", &["ls-remote", "origin", &name], &ctx)
            .await?;
        Ok(out
            .lines()
            .find_map(|l| l.strip_suffix(name.as_str()))
            .map(|h| h.trim().to_owned()))
    }

    async fn push_once(&self, to: &str, force: bool, ctx: &CallContext) -> Result<Pushed> {
        let refspec = format!("{}HEAD:refs/heads/{to}", if force { "+" } else { "" });
        let (ok, stdout, stderr) = self
            .git_raw(&["push", "--porcelain", "origin", &refspec], ctx)
            .await?;
        if ok {
            return Ok(Pushed::Ok);
        }
        // `--porcelain` reports `!  HEAD:refs/heads/main  [rejected] (fetch
        // first)` on stdout; the hints go to stderr.
        let rejected = [
            "[rejected]",
            "non-fast-forward",
            "fetch first",
            "stale info",
            "Updates were rejected",
            "cannot lock ref",
        ];
        if rejected
            .iter()
            .any(|r| stdout.contains(r) || stderr.contains(r))
        {
            Ok(Pushed::Rejected)
        } else {
            Err(self.error(&format!("push {to}"), &stderr))
        }
    }

    /// The file at `path` in the work tree.
    pub(crate) fn path(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_are_taken_out() {
        let (url, creds) = split_remote("https://bot:s%40cret@git.example/shop/deploy.git");
        assert_eq!(url, "https://git.example/shop/deploy.git");
        let (user, secret) = creds.unwrap();
        assert_eq!(user, "bot");
        assert_eq!(secret.expose(), "s@cret");
        let (_, creds) = split_remote("https://bot:a+b%2Bc@git.example/x.git");
        assert_eq!(creds.unwrap().1.expose(), "a+b+c");
        let (url, creds) = split_remote("git@git.example:shop/deploy.git");
        assert_eq!(url, "git@git.example:shop/deploy.git");
        assert!(creds.is_none());
        assert_eq!(split_remote("/tmp/remote.git").0, "/tmp/remote.git");
    }

    #[test]
    fn debug_hides_the_token() {
        let c = GitCredentials::token("bot", Secret::new("tok-123"));
        assert!(!format!("{c:?}").contains("tok-123"));
    }
}
