//! Running external tools: timeouts, cancellation, bounded capture,
//! redacted errors.
//!
//! Every adapter that shells out (scanners, image builders) runs its tool
//! through [`run`], so all of them behave the same way inside a CI system:
//!
//! - the child is killed when the [`CallContext`]'s timeout passes
//!   ([`Error::TimedOut`]) or its cancellation token fires
//!   ([`Error::Cancelled`]), and when the future is dropped; on Unix the
//!   tool runs in a process group of its own, and the whole group is
//!   killed, so that the processes it started go too (a tool installed
//!   as a wrapper script that runs the real binary, as `pip` installs
//!   `syft`, would otherwise leave the binary running);
//! - standard output and standard error are captured up to a bound (the
//!   last bytes are kept: that is where tools say what went wrong);
//!   reports are written to files, never read from a capture;
//! - a missing executable is [`Error::ToolNotFound`] with an install hint;
//!   a failure, [`Error::ToolFailed`] with the exit status and the end of
//!   standard error, every credential of the command replaced by `***`;
//! - credentials reach a tool only by name: it does not inherit the
//!   variables of this process that hold one ([`is_credential_variable`]:
//!   `PARAGON_REGISTRY_PASSWORD`, `VAULT_TOKEN`, `GITHUB_TOKEN`…) unless
//!   the command passes them ([`ToolCommand::secret_env`],
//!   [`ToolCommand::inherit_credential`]), and their values are redacted
//!   from what it prints as the command's own credentials are.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::error::{Error, Result};
use crate::plugin::context::CallContext;
use crate::secret::Secret;

/// Whether the environment variable `name` holds a credential: its name,
/// upper-cased, contains `PASSWORD`, `PASSWD`, `TOKEN`, `SECRET`,
/// `API_KEY`, `APIKEY`, `PRIVATE_KEY`, `CREDENTIAL` or `WEBHOOK`. Tools
/// never inherit such variables unless their command passes them.
///
/// ```
/// use paragon_core::tool::is_credential_variable;
///
/// assert!(is_credential_variable("PARAGON_REGISTRY_PASSWORD"));
/// assert!(is_credential_variable("VAULT_TOKEN"));
/// assert!(is_credential_variable("nvd_api_key"));
/// assert!(!is_credential_variable("PATH"));
/// assert!(!is_credential_variable("PARAGON_REGISTRY_USERNAME"));
/// ```
pub fn is_credential_variable(name: &str) -> bool {
    const MARKS: [&str; 9] = [
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "SECRET",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "WEBHOOK",
    ];
    let upper = name.to_ascii_uppercase();
    MARKS.iter().any(|m| upper.contains(m))
}

/// The values of this process's credential variables
/// ([`is_credential_variable`]), as secrets: what every tool's output and
/// every run record is redacted of.
pub fn credential_values() -> Vec<Secret> {
    std::env::vars_os()
        .filter(|(k, _)| k.to_str().is_some_and(is_credential_variable))
        .filter_map(|(_, v)| v.into_string().ok())
        .filter(|v| v.len() >= 4)
        .map(Secret::new)
        .collect()
}

/// The program to run: an explicit path, else the environment variable
/// `env` when set (`PARAGON_TRIVY`), else `name` (looked up on `PATH` when
/// it runs). Every adapter that runs a tool resolves it this way.
pub fn resolve_program(explicit: Option<PathBuf>, env: &str, name: &str) -> PathBuf {
    explicit
        .or_else(|| std::env::var_os(env).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// How much of each stream is kept by default (the tail).
pub const DEFAULT_CAPTURE: usize = 64 * 1024;

/// A tool invocation.
#[derive(Clone)]
pub struct ToolCommand {
    tool: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    secret_envs: Vec<(OsString, Secret)>,
    inherited_credentials: Vec<OsString>,
    redacted: Vec<Secret>,
    cwd: Option<PathBuf>,
    hint: String,
    capture: usize,
}

impl std::fmt::Debug for ToolCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCommand")
            .field("tool", &self.tool)
            .field("program", &self.program)
            .field("args", &self.args)
            .field("secret_envs", &self.secret_envs)
            .finish_non_exhaustive()
    }
}

impl ToolCommand {
    /// A command running `program`, reported in errors as `tool`.
    pub fn new(tool: impl Into<String>, program: impl Into<PathBuf>) -> ToolCommand {
        ToolCommand {
            tool: tool.into(),
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            secret_envs: Vec::new(),
            inherited_credentials: Vec::new(),
            redacted: Vec::new(),
            cwd: None,
            hint: "install it or set its path".to_owned(),
            capture: DEFAULT_CAPTURE,
        }
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> ToolCommand {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> ToolCommand {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> ToolCommand {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Passes a credential in an environment variable (never on the command
    /// line); it is redacted from every captured output.
    #[must_use]
    pub fn secret_env(mut self, key: impl Into<OsString>, value: Secret) -> ToolCommand {
        self.secret_envs.push((key.into(), value));
        self
    }

    /// Lets the tool inherit the credential variable `key` of this process
    /// (which it otherwise does not; see [`is_credential_variable`]): for a
    /// tool that reads its credential from the environment itself, as
    /// trivy reads `GITHUB_TOKEN`. Its value is still redacted from the
    /// captured output.
    #[must_use]
    pub fn inherit_credential(mut self, key: impl Into<OsString>) -> ToolCommand {
        self.inherited_credentials.push(key.into());
        self
    }

    /// Redacts a credential the tool may print (one it reads from a file,
    /// say) from the captured output, without passing it.
    #[must_use]
    pub fn redacting(mut self, secret: Secret) -> ToolCommand {
        self.redacted.push(secret);
        self
    }

    /// Runs in a directory.
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> ToolCommand {
        self.cwd = Some(dir.into());
        self
    }

    /// The install hint shown when the tool is missing.
    #[must_use]
    pub fn install_hint(mut self, hint: impl Into<String>) -> ToolCommand {
        self.hint = hint.into();
        self
    }

    /// How many bytes of each stream to keep (default [`DEFAULT_CAPTURE`]).
    #[must_use]
    pub fn capture(mut self, bytes: usize) -> ToolCommand {
        self.capture = bytes.max(1);
        self
    }

    /// The tool's name.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// Replaces every credential of the command, and every value of this
    /// process's credential variables, in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let process = credential_values();
        self.secret_envs
            .iter()
            .map(|(_, s)| s)
            .chain(&self.redacted)
            .chain(&process)
            .fold(text.to_owned(), |t, s| s.redact(&t))
    }
}

/// What a finished tool left.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    /// The exit code, when it exited (not killed by a signal).
    pub code: Option<i32>,
    /// Whether it exited with code 0.
    pub success: bool,
    /// The end of its standard output (at most the capture bound).
    pub stdout: Vec<u8>,
    /// The end of its standard error (at most the capture bound), redacted.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl ToolOutput {
    /// The exit status in words (`exit code 2`, `killed by a signal`).
    pub fn status(&self) -> String {
        match self.code {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".to_owned(),
        }
    }

    /// The last `lines` lines of standard error.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.stderr.trim_end().lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `Ok(self)` when the tool succeeded, otherwise [`Error::ToolFailed`].
    ///
    /// # Errors
    ///
    /// [`Error::ToolFailed`] with the status and the end of standard error.
    pub fn require_success(self, tool: &str) -> Result<ToolOutput> {
        if self.success {
            Ok(self)
        } else {
            Err(Error::ToolFailed {
                tool: tool.to_owned(),
                status: self.status(),
                stderr_tail: self.stderr_tail(20),
            })
        }
    }
}

/// Keeps the last `cap` bytes read from `stream`.
async fn tail<R: AsyncRead + Unpin>(mut stream: R, cap: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > cap * 2 {
                    kept.drain(..kept.len() - cap);
                }
            }
        }
    }
    if kept.len() > cap {
        kept.drain(..kept.len() - cap);
    }
    kept
}

/// The process of `cmd`: its arguments and environment, without the
/// credential variables of this process's environment that it was not
/// given by name; no standard input, both outputs piped, killed when
/// dropped, in a process group of its own (on Unix).
fn command(cmd: &ToolCommand) -> Command {
    let mut command = Command::new(&cmd.program);
    // Credentials reach the tool only by name.
    for (key, _) in std::env::vars_os() {
        let credential = key.to_str().is_some_and(is_credential_variable);
        if credential && !cmd.inherited_credentials.contains(&key) {
            command.env_remove(&key);
        }
    }
    command
        .args(&cmd.args)
        .envs(cmd.envs.iter().map(|(k, v)| (k, v)))
        .envs(cmd.secret_envs.iter().map(|(k, v)| (k, v.expose())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    command
}

/// Runs a tool to completion, within the context's timeout and
/// cancellation (see the [module docs](self)). A non-zero exit is not an
/// error here: tools give exit codes different meanings, so callers decide
/// (see [`ToolOutput::require_success`]).
///
/// # Errors
///
/// [`Error::ToolNotFound`], [`Error::TimedOut`], [`Error::Cancelled`], or
/// [`Error::Io`] when the process cannot be started for another reason.
#[tracing::instrument(name = "tool", skip_all, fields(tool = %cmd.tool))]
pub async fn run(cmd: &ToolCommand, ctx: &CallContext) -> Result<ToolOutput> {
    if ctx.cancel.is_cancelled() {
        return Err(Error::Cancelled {
            tool: cmd.tool.clone(),
        });
    }
    let start = Instant::now();
    let mut child = command(cmd).spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::ToolNotFound {
                tool: cmd.tool.clone(),
                program: cmd.program.clone(),
                hint: cmd.hint.clone(),
            }
        } else {
            Error::Io {
                path: cmd.program.clone(),
                source,
            }
        }
    })?;
    let mut group = Group(child.id());
    tracing::debug!(program = %cmd.program.display(), "started");
    let stdout = tail(child.stdout.take().expect("piped"), cmd.capture);
    let stderr = tail(child.stderr.take().expect("piped"), cmd.capture);
    let capture = async { tokio::join!(stdout, stderr) };
    let waited = async {
        let (out, err) = capture.await;
        (child.wait().await, out, err)
    };
    let limit = ctx.timeout.unwrap_or(Duration::MAX);
    let outcome = tokio::select! {
        r = waited => Ok(r),
        _ = tokio::time::sleep(limit) => Err(Error::TimedOut { tool: cmd.tool.clone(), after: limit }),
        _ = ctx.cancel.cancelled() => Err(Error::Cancelled { tool: cmd.tool.clone() }),
    };
    match outcome {
        Ok((status, stdout, stderr)) => {
            // The tool has exited and been reaped: its group is left alone.
            group.0 = None;
            let status = status.map_err(|source| Error::Io {
                path: cmd.program.clone(),
                source,
            })?;
            let out = ToolOutput {
                code: status.code(),
                success: status.success(),
                stdout,
                stderr: cmd.redact(&String::from_utf8_lossy(&stderr)),
                elapsed: start.elapsed(),
            };
            tracing::debug!(status = %out.status(), elapsed = ?out.elapsed, "finished");
            Ok(out)
        }
        Err(e) => {
            // Stop the tool and what it started now, and reap it, rather
            // than leave them running.
            group.kill();
            let _ = child.start_kill();
            let _ = child.wait().await;
            tracing::warn!(error = %e, "stopped");
            Err(e)
        }
    }
}

/// A running tool's process group (its leader's id), killed when the run
/// stops early or its future is dropped before the tool exits.
struct Group(Option<u32>);

impl Group {
    fn kill(&mut self) {
        let leader = self.0.take();
        #[cfg(unix)]
        if let Some(pid) = leader.and_then(|id| rustix::process::Pid::from_raw(id as i32)) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        #[cfg(not(unix))]
        let _ = leader;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A tool does not inherit this process's credential variables unless
    /// its command passes them, and what it prints of them is redacted.
    #[tokio::test]
    async fn credentials_reach_a_tool_only_by_name() {
        // Names no other test uses: the process environment is shared.
        let (key, value) = ("PARAGON_PROCESS_TEST_PASSWORD", "hunter2-process-test");
        std::env::set_var(key, value);
        std::env::set_var("PARAGON_PROCESS_TEST_PLAIN", "visible");
        let print = |cmd: ToolCommand| {
            cmd.args([
                "-c",
                "echo \"[$PARAGON_PROCESS_TEST_PASSWORD][$PARAGON_PROCESS_TEST_PLAIN][$GIVEN]\"",
            ])
        };
        let ctx = CallContext::new();
        let out = run(&print(ToolCommand::new("env", "sh")), &ctx)
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[][visible][]");
        // Passed by name, under another name or as itself: there, and
        // redacted from what the tool prints.
        let given = ToolCommand::new("env", "sh").secret_env("GIVEN", Secret::new(value));
        let out = run(&print(given.clone()), &ctx).await.unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(printed.trim(), format!("[][visible][{value}]"));
        assert_eq!(given.redact(&printed).trim(), "[][visible][***]");
        let inherited = ToolCommand::new("env", "sh").inherit_credential(key);
        let out = run(&print(inherited.clone()), &ctx).await.unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(printed.trim(), format!("[{value}][visible][]"));
        // Any command redacts the process's credential values.
        assert_eq!(
            ToolCommand::new("x", "x").redact(&printed).trim(),
            "[***][visible][]"
        );
        std::env::remove_var(key);
    }

    /// Whether a process whose command line holds `marker` is running.
    fn running(marker: &str) -> bool {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|cmdline| {
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                cmdline.contains(marker)
            })
    }

    /// A wrapper that runs the real work in a child of its own, as the
    /// `syft` script `pip` installs does; `marker` names the work.
    fn wrapper(marker: &str) -> ToolCommand {
        ToolCommand::new("wrapper", "sh").args(["-c", &format!("{marker} & wait")])
    }

    /// Waits up to 5 s for `check` to hold.
    async fn eventually(check: impl Fn() -> bool) -> bool {
        for _ in 0..250 {
            if check() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn cancelling_stops_what_the_tool_started() {
        let marker = format!("sleep 61.{}", std::process::id());
        let ctx = CallContext::new();
        let cancel = ctx.cancel.clone();
        let run = tokio::spawn({
            let cmd = wrapper(&marker);
            async move { run(&cmd, &ctx).await }
        });
        assert!(eventually(|| running(&marker)).await, "the work started");
        cancel.cancel();
        let err = run.await.unwrap().expect_err("cancelled");
        assert!(
            matches!(err, Error::Cancelled { ref tool } if tool == "wrapper"),
            "{err}"
        );
        assert!(
            eventually(|| !running(&marker)).await,
            "{marker} still runs"
        );
    }

    #[tokio::test]
    async fn a_timeout_and_a_dropped_run_stop_what_the_tool_started() {
        let marker = format!("sleep 62.{}", std::process::id());
        let ctx = CallContext::new().with_timeout(Duration::from_millis(300));
        let err = run(&wrapper(&marker), &ctx).await.expect_err("timed out");
        assert!(matches!(err, Error::TimedOut { .. }), "{err}");
        assert!(
            eventually(|| !running(&marker)).await,
            "{marker} still runs"
        );

        let marker = format!("sleep 63.{}", std::process::id());
        let ctx = CallContext::new();
        let cmd = wrapper(&marker);
        let dropped = tokio::time::timeout(Duration::from_millis(300), run(&cmd, &ctx)).await;
        assert!(dropped.is_err(), "the run was still going");
        assert!(
            eventually(|| !running(&marker)).await,
            "{marker} still runs"
        );
    }
}
