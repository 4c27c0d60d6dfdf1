//! A scanner that runs any command writing a report Paragon reads.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use paragon_core::plugin::scan::check_target;
use paragon_core::tool::{self, ToolCommand};
use paragon_core::{
    async_trait, CallContext, Error as CoreError, ScanReport, ScanTarget, Scanner, ScannerInfo,
    TargetKind,
};

use crate::Format;

/// The placeholder for the target's path in arguments.
pub const TARGET: &str = "{target}";
/// The placeholder for the report file to write in arguments.
pub const OUTPUT: &str = "{output}";

/// Runs any command that writes SARIF or another supported report — e.g.
/// Semgrep, Checkov, Gitleaks, `trivy` with custom flags — and parses it.
///
/// `{target}` in an argument is replaced by the target's path, `{output}`
/// by a report file in a scratch directory. Without `{output}`, the report
/// is read from standard output (up to [`CommandScannerBuilder::max_output`]).
///
/// ```
/// use paragon_scanners::command::CommandScanner;
/// use paragon_scanners::Format;
///
/// let semgrep = CommandScanner::builder("semgrep", "semgrep")
///     .args(["scan", "--config", "auto", "--sarif", "--output", "{output}", "{target}"])
///     .format(Format::Sarif)
///     .success_codes(&[0, 1])
///     .build()?;
/// # Ok::<(), paragon_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CommandScanner {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    format: Option<Format>,
    targets: Vec<TargetKind>,
    success: Vec<i32>,
    max_output: usize,
    timeout: Duration,
}

/// Builds a [`CommandScanner`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CommandScannerBuilder {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    format: Option<Format>,
    targets: Vec<TargetKind>,
    success: Vec<i32>,
    max_output: usize,
    timeout: Duration,
}

impl CommandScanner {
    /// A builder for a scanner named `name` (lower-case) running `program`.
    pub fn builder(name: impl Into<String>, program: impl Into<PathBuf>) -> CommandScannerBuilder {
        CommandScannerBuilder {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            format: None,
            targets: vec![TargetKind::Directory],
            success: vec![0],
            max_output: 256 * 1024 * 1024,
            timeout: Duration::from_secs(600),
        }
    }
}

impl CommandScannerBuilder {
    /// Adds arguments (with `{target}` and `{output}` placeholders).
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The report's format. Default: detected from the content.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// The kinds of target it scans. Default: directories.
    pub fn targets(mut self, targets: &[TargetKind]) -> Self {
        self.targets = targets.to_vec();
        self
    }

    /// Exit codes that mean success (many tools exit 1 when they find
    /// something). Default: `[0]`.
    pub fn success_codes(mut self, codes: &[i32]) -> Self {
        self.success = codes.to_vec();
        self
    }

    /// The most standard output read when the report comes on it.
    /// Default: 256 MiB.
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// Per-scan timeout when the context sets none. Default: 10 minutes.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfig`] for an empty or non-lower-case name, no
    /// target kinds, no success codes, or a zero timeout.
    pub fn build(self) -> Result<CommandScanner, CoreError> {
        let invalid = |message: String| CoreError::InvalidConfig {
            component: if self.name.is_empty() {
                "command scanner".to_owned()
            } else {
                self.name.clone()
            },
            message,
        };
        if self.name.is_empty() || self.name != self.name.to_lowercase() {
            return Err(invalid(format!(
                "the name `{}` must be non-empty and lower-case",
                self.name
            )));
        }
        if self.targets.is_empty() || self.success.is_empty() || self.timeout.is_zero() {
            return Err(invalid(
                "target kinds, success codes and a non-zero timeout are required".to_owned(),
            ));
        }
        Ok(CommandScanner {
            name: self.name,
            program: self.program,
            args: self.args,
            format: self.format,
            targets: self.targets,
            success: self.success,
            max_output: self.max_output,
            timeout: self.timeout,
        })
    }
}

#[async_trait]
impl Scanner for CommandScanner {
    fn name(&self) -> &str {
        &self.name
    }

    fn targets(&self) -> &[TargetKind] {
        &self.targets
    }

    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport, CoreError> {
        check_target(self, target, ctx)?;
        let scratch = crate::runner::scratch(&self.name)?;
        let output = scratch.path().join("report");
        let mut to_file = false;
        let args: Vec<OsString> = self
            .args
            .iter()
            .map(|a| {
                let s = a.to_string_lossy();
                if s.contains(OUTPUT) {
                    to_file = true;
                }
                if s.contains(TARGET) || s.contains(OUTPUT) {
                    OsString::from(
                        s.replace(TARGET, &target.path().to_string_lossy())
                            .replace(OUTPUT, &output.to_string_lossy()),
                    )
                } else {
                    a.clone()
                }
            })
            .collect();
        let cmd = ToolCommand::new(&self.name, &self.program)
            .args(args)
            .capture(if to_file { 64 * 1024 } else { self.max_output });
        let ctx = ctx.clone().with_timeout(ctx.timeout_or(self.timeout));
        let out = tool::run(&cmd, &ctx).await?;
        if !out.code.is_some_and(|c| self.success.contains(&c)) {
            return Err(CoreError::ToolFailed {
                tool: self.name.clone(),
                status: out.status(),
                stderr_tail: out.stderr_tail(20),
            });
        }
        let bytes = if to_file {
            crate::runner::read_report(&self.name, &output, out.stderr_tail(20))?
        } else {
            out.stdout
        };
        let parsed = match self.format {
            Some(f) => f.parse(&bytes),
            None => crate::parse_any(&bytes),
        };
        match parsed {
            Ok(mut report) => {
                // The configured name identifies this scanner everywhere.
                let version = report.scanner.version.take();
                report.scanner = ScannerInfo::new(self.name.clone(), version);
                let name: Arc<str> = self.name.as_str().into();
                for f in &mut report.findings {
                    for s in &mut f.sources {
                        s.scanner = name.clone();
                    }
                }
                if report.target.is_none() {
                    report.target = Some(target.path().display().to_string());
                }
                Ok(report)
            }
            Err(e) => Err(CoreError::ToolOutput {
                tool: self.name.clone(),
                version: None,
                source: Box::new(e),
            }),
        }
    }
}
