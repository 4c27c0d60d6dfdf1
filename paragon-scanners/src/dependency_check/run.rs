//! Running OWASP Dependency-Check as a [`Scanner`].

use std::path::PathBuf;
use std::time::Duration;

use paragon_core::plugin::scan::check_target;
use paragon_core::tool::{self, ToolCommand};
use paragon_core::{
    async_trait, CallContext, Error as CoreError, ScanReport, ScanTarget, Scanner, Secret,
    TargetKind,
};

use super::SCANNER;
use crate::runner;

const INSTALL_HINT: &str = "install OWASP Dependency-Check \
     (https://owasp.org/www-project-dependency-check/) or set PARAGON_DEPENDENCY_CHECK to \
     dependency-check.sh";

/// Dependency-Check as a scanner: `dependency-check.sh --scan <dir>
/// --format JSON --out <scratch>`, the JSON report read with
/// [`super::parse_json`].
///
/// The NVD API key is written to a properties file in the scratch
/// directory (readable by the owner only) and passed with
/// `--propertyfile`, so it never appears on a command line, in logs or in
/// errors. With [`fail_on_cvss`](DependencyCheckBuilder::fail_on_cvss), a
/// non-zero exit that left a report is the threshold being reached, not a
/// failure: the report is returned (the gate decides).
#[derive(Clone)]
pub struct DependencyCheck {
    binary: PathBuf,
    data_dir: Option<PathBuf>,
    nvd_api_key: Option<Secret>,
    offline: bool,
    fail_on_cvss: Option<f32>,
    project: String,
    timeout: Duration,
}

impl std::fmt::Debug for DependencyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DependencyCheck")
            .field("binary", &self.binary)
            .field("data_dir", &self.data_dir)
            .field("nvd_api_key", &self.nvd_api_key)
            .field("offline", &self.offline)
            .field("fail_on_cvss", &self.fail_on_cvss)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DependencyCheck`] scanner.
#[derive(Clone, Default)]
#[must_use]
pub struct DependencyCheckBuilder {
    binary: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    nvd_api_key: Option<Secret>,
    offline: bool,
    fail_on_cvss: Option<f32>,
    project: Option<String>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for DependencyCheckBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DependencyCheckBuilder")
            .field("binary", &self.binary)
            .field("nvd_api_key", &self.nvd_api_key)
            .finish_non_exhaustive()
    }
}

impl DependencyCheck {
    /// A builder with the defaults documented on its setters.
    pub fn builder() -> DependencyCheckBuilder {
        DependencyCheckBuilder::default()
    }
}

impl DependencyCheckBuilder {
    /// `dependency-check.sh`. Default: `PARAGON_DEPENDENCY_CHECK`, else
    /// `dependency-check.sh` on `PATH`.
    pub fn with_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// The vulnerability data directory (`--data`). Default: the tool's own.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The NVD API key. Default: none (updates are then slow).
    pub fn with_nvd_api_key(mut self, key: Secret) -> Self {
        self.nvd_api_key = Some(key);
        self
    }

    /// Do not update the data (`--noupdate`). Default: off.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Pass `--failOnCVSS` (see the type's docs for the exit handling).
    /// Default: not passed.
    pub fn fail_on_cvss(mut self, score: f32) -> Self {
        self.fail_on_cvss = Some(score);
        self
    }

    /// The project name in the report (`--project`). Default: the target
    /// directory's name.
    pub fn with_project(mut self, name: impl Into<String>) -> Self {
        self.project = Some(name.into());
        self
    }

    /// Per-scan timeout when the context sets none. Default: 30 minutes.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidConfig`] for a zero timeout or a `failOnCVSS`
    /// outside 0–11.
    pub fn build(self) -> Result<DependencyCheck, CoreError> {
        let invalid = |message: &str| CoreError::InvalidConfig {
            component: SCANNER.to_owned(),
            message: message.to_owned(),
        };
        let timeout = runner::timeout(SCANNER, self.timeout, Duration::from_secs(1800))?;
        if self
            .fail_on_cvss
            .is_some_and(|s| !(0.0..=11.0).contains(&s))
        {
            return Err(invalid("failOnCVSS must be between 0 and 11"));
        }
        Ok(DependencyCheck {
            binary: paragon_core::tool::resolve_program(
                self.binary,
                "PARAGON_DEPENDENCY_CHECK",
                "dependency-check.sh",
            ),
            data_dir: self.data_dir,
            nvd_api_key: self.nvd_api_key,
            offline: self.offline,
            fail_on_cvss: self.fail_on_cvss,
            project: self.project.unwrap_or_default(),
            timeout,
        })
    }
}

impl DependencyCheck {
    /// The command line for a target, writing into `out_dir` (exposed for
    /// inspection and tests). The properties file holding the API key, if
    /// any, is `out_dir/nvd.properties`.
    pub fn command(&self, target: &ScanTarget, out_dir: &std::path::Path) -> ToolCommand {
        let project = if self.project.is_empty() {
            target
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "project".to_owned())
        } else {
            self.project.clone()
        };
        let mut cmd = ToolCommand::new(SCANNER, &self.binary)
            .install_hint(INSTALL_HINT)
            .arg("--scan")
            .arg(target.path().as_os_str())
            .args(["--format", "JSON", "--project", &project, "--out"])
            .arg(out_dir.as_os_str());
        if let Some(dir) = &self.data_dir {
            cmd = cmd.arg("--data").arg(dir.as_os_str());
        }
        if self.offline {
            cmd = cmd.arg("--noupdate");
        }
        if let Some(score) = self.fail_on_cvss {
            cmd = cmd.arg("--failOnCVSS").arg(score.to_string());
        }
        if self.nvd_api_key.is_some() {
            cmd = cmd
                .arg("--propertyfile")
                .arg(out_dir.join("nvd.properties").as_os_str());
        }
        cmd
    }

    fn write_properties(&self, out_dir: &std::path::Path) -> Result<(), CoreError> {
        let Some(key) = &self.nvd_api_key else {
            return Ok(());
        };
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = out_dir.join("nvd.properties");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| writeln!(f, "nvd.api.key={}", key.expose()))
            .map_err(|source| CoreError::Io { path, source })
    }
}

#[async_trait]
impl Scanner for DependencyCheck {
    fn name(&self) -> &str {
        SCANNER
    }

    fn targets(&self) -> &[TargetKind] {
        &[TargetKind::Directory]
    }

    async fn scan(&self, target: &ScanTarget, ctx: &CallContext) -> Result<ScanReport, CoreError> {
        check_target(self, target, ctx)?;
        let scratch = runner::scratch(SCANNER)?;
        self.write_properties(scratch.path())?;
        let output = scratch.path().join("dependency-check-report.json");
        let mut cmd = self.command(target, scratch.path());
        if let Some(key) = &self.nvd_api_key {
            // The tool reads it from the file; redact it from anything it prints.
            cmd = cmd.redacting(key.clone());
        }
        // With `--failOnCVSS`, a non-zero exit that left a report is the
        // threshold being reached.
        let threshold = |_: &tool::ToolOutput| self.fail_on_cvss.is_some();
        let parse = super::parse_json;
        let mut report = runner::run_to_report(
            &cmd,
            &self.binary,
            ctx,
            self.timeout,
            &output,
            threshold,
            parse,
        )
        .await?;
        if report.target.is_none() {
            report.target = Some(target.path().display().to_string());
        }
        Ok(report)
    }
}
