//! The buildah builder: `buildah bud` from a Containerfile, daemonless and
//! rootless-capable, written to an OCI layout.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use paragon_core::plugin::build::{BuildSpec, Builder, BuiltImage};
use paragon_core::tool::{self, ToolCommand};
use paragon_core::{CallContext, Error, Result};

use crate::containerfile::containerfile;

const HINT: &str = "install buildah (Debian/Ubuntu: `apt-get install buildah`)";

/// Builds with buildah (`buildah bud --isolation chroot --storage-driver
/// vfs`), then `buildah push` to `oci:<output>:<ref_name>`.
///
/// The storage driver and isolation default to the ones that work in
/// containers and CI machines without privileges (`vfs`, `chroot`). When
/// `SOURCE_DATE_EPOCH` is set it is passed as `--timestamp` so that builds
/// are reproducible. The binary is `PARAGON_BUILDAH` when set, else
/// `buildah` on `PATH`.
#[derive(Debug, Clone)]
pub struct BuildahBuilder {
    program: PathBuf,
    storage_driver: String,
    isolation: String,
    root: Option<PathBuf>,
    runroot: Option<PathBuf>,
    timeout: Duration,
}

impl Default for BuildahBuilder {
    fn default() -> BuildahBuilder {
        BuildahBuilder::new()
    }
}

impl BuildahBuilder {
    /// A builder with the defaults above.
    pub fn new() -> BuildahBuilder {
        BuildahBuilder {
            program: paragon_core::tool::resolve_program(None, "PARAGON_BUILDAH", "buildah"),
            storage_driver: "vfs".into(),
            isolation: "chroot".into(),
            root: None,
            runroot: None,
            timeout: Duration::from_secs(1800),
        }
    }

    /// Runs this executable.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> BuildahBuilder {
        self.program = program.into();
        self
    }

    /// Keeps buildah's image storage (`--root`) and run state (`--runroot`)
    /// in these directories instead of the system's.
    pub fn with_storage(mut self, root: impl Into<PathBuf>, runroot: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self.runroot = Some(runroot.into());
        self
    }

    /// Sets `--storage-driver` (default `vfs`).
    pub fn with_storage_driver(mut self, driver: impl Into<String>) -> BuildahBuilder {
        self.storage_driver = driver.into();
        self
    }

    /// Sets `--isolation` (default `chroot`).
    pub fn with_isolation(mut self, isolation: impl Into<String>) -> BuildahBuilder {
        self.isolation = isolation.into();
        self
    }

    /// The default build timeout (30 min; the context's wins).
    pub fn with_timeout(mut self, timeout: Duration) -> BuildahBuilder {
        self.timeout = timeout;
        self
    }

    fn command(&self) -> ToolCommand {
        let mut cmd = ToolCommand::new("buildah", &self.program)
            .install_hint(HINT)
            .arg("--storage-driver")
            .arg(&self.storage_driver);
        if let Some(root) = &self.root {
            cmd = cmd.arg("--root").arg(root);
        }
        if let Some(runroot) = &self.runroot {
            cmd = cmd.arg("--runroot").arg(runroot);
        }
        cmd
    }
}

#[async_trait]
impl Builder for BuildahBuilder {
    fn name(&self) -> &str {
        "buildah"
    }

    async fn build(&self, spec: &BuildSpec, ctx: &CallContext) -> Result<BuiltImage> {
        let file = containerfile(spec, "buildah")?;
        let ctx = ctx.clone().with_timeout(ctx.timeout_or(self.timeout));
        let image = format!(
            "localhost/paragon-build-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let mut bud = self
            .command()
            .arg("bud")
            .arg("--isolation")
            .arg(&self.isolation)
            .arg("--file")
            .arg(&file)
            .arg("--tag")
            .arg(&image);
        for (k, v) in &spec.build_args {
            bud = bud.arg("--build-arg").arg(format!("{k}={v}"));
        }
        if let Some(t) = &spec.target {
            bud = bud.arg("--target").arg(t);
        }
        for (k, v) in &spec.labels {
            bud = bud.arg("--label").arg(format!("{k}={v}"));
        }
        for (k, v) in &spec.annotations {
            bud = bud.arg("--annotation").arg(format!("{k}={v}"));
        }
        if let [platform] = spec.platforms.as_slice() {
            bud = bud.arg("--platform").arg(platform.to_string());
        } else if spec.platforms.len() > 1 {
            return Err(Error::InvalidConfig {
                component: "buildah".into(),
                message: "multi-platform builds need a manifest list; build each platform separately or use the native builder".into(),
            });
        }
        if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
            if !epoch.trim().is_empty() {
                bud = bud.arg("--timestamp").arg(epoch.trim());
            }
        }
        let bud = bud.arg(&spec.context);
        tool::run(&bud, &ctx).await?.require_success("buildah")?;
        std::fs::create_dir_all(&spec.output).map_err(|e| Error::Io {
            path: spec.output.clone(),
            source: e,
        })?;
        let push = self.command().arg("push").arg(&image).arg(format!(
            "oci:{}:{}",
            spec.output.display(),
            spec.ref_name()
        ));
        let pushed = tool::run(&push, &ctx).await;
        let rmi = self.command().arg("rmi").arg(&image);
        if let Err(e) = tool::run(
            &rmi,
            &CallContext::new().with_timeout(Duration::from_secs(120)),
        )
        .await
        {
            tracing::warn!(error = %e, %image, "could not remove the intermediate buildah image");
        }
        pushed?.require_success("buildah")?;
        BuiltImage::from_layout(&spec.output, Some(spec.ref_name()))
    }
}
