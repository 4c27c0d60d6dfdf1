//! The docker builder: `docker buildx build --output type=oci`.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use paragon_core::model::oci::OciLayout;
use paragon_core::plugin::build::{BuildSpec, Builder, BuiltImage};
use paragon_core::tool::{self, ToolCommand};
use paragon_core::{CallContext, Error, Result};

use crate::containerfile::containerfile;

const HINT: &str = "install Docker with the buildx plugin and start its daemon (or use the native or buildah builder, which need no daemon)";

/// Builds with `docker buildx build --output type=oci,dest=…` (it needs a
/// running Docker daemon or a buildx builder), then unpacks the OCI archive
/// into the spec's layout. The binary is `PARAGON_DOCKER` when set, else
/// `docker` on `PATH`.
#[derive(Debug, Clone)]
pub struct DockerBuilder {
    program: PathBuf,
    builder: Option<String>,
    timeout: Duration,
}

impl Default for DockerBuilder {
    fn default() -> DockerBuilder {
        DockerBuilder::new()
    }
}

impl DockerBuilder {
    /// A builder running `docker`.
    pub fn new() -> DockerBuilder {
        DockerBuilder {
            program: paragon_core::tool::resolve_program(None, "PARAGON_DOCKER", "docker"),
            builder: None,
            timeout: Duration::from_secs(1800),
        }
    }

    /// Runs this executable.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> DockerBuilder {
        self.program = program.into();
        self
    }

    /// Uses this buildx builder instance (`--builder`).
    pub fn with_buildx_builder(mut self, name: impl Into<String>) -> DockerBuilder {
        self.builder = Some(name.into());
        self
    }

    /// The default build timeout (30 min; the context's wins).
    pub fn with_timeout(mut self, timeout: Duration) -> DockerBuilder {
        self.timeout = timeout;
        self
    }
}

#[async_trait]
impl Builder for DockerBuilder {
    fn name(&self) -> &str {
        "docker"
    }

    async fn build(&self, spec: &BuildSpec, ctx: &CallContext) -> Result<BuiltImage> {
        let file = containerfile(spec, "docker")?;
        let ctx = ctx.clone().with_timeout(ctx.timeout_or(self.timeout));
        let scratch = tempfile::Builder::new()
            .prefix("paragon-docker-")
            .tempdir()
            .map_err(|e| Error::Io {
                path: std::env::temp_dir(),
                source: e,
            })?;
        let archive = scratch.path().join("image.tar");
        let mut cmd = ToolCommand::new("docker", &self.program)
            .install_hint(HINT)
            .arg("buildx")
            .arg("build");
        if let Some(b) = &self.builder {
            cmd = cmd.arg("--builder").arg(b);
        }
        cmd = cmd
            .arg("--file")
            .arg(&file)
            .arg("--output")
            .arg(format!("type=oci,dest={}", archive.display()));
        for (k, v) in &spec.build_args {
            cmd = cmd.arg("--build-arg").arg(format!("{k}={v}"));
        }
        if let Some(t) = &spec.target {
            cmd = cmd.arg("--target").arg(t);
        }
        for (k, v) in &spec.labels {
            cmd = cmd.arg("--label").arg(format!("{k}={v}"));
        }
        for (k, v) in &spec.annotations {
            cmd = cmd.arg("--annotation").arg(format!("{k}={v}"));
        }
        if !spec.platforms.is_empty() {
            let list: Vec<String> = spec.platforms.iter().map(ToString::to_string).collect();
            cmd = cmd.arg("--platform").arg(list.join(","));
        }
        let cmd = cmd.arg(&spec.context);
        tool::run(&cmd, &ctx).await?.require_success("docker")?;
        let unpacked = scratch.path().join("layout");
        unpack(&archive, &unpacked)?;
        let source = OciLayout::open(&unpacked)?;
        let index = source.index()?;
        let [root] = index.manifests.as_slice() else {
            return Err(Error::Layout {
                path: archive,
                message: format!(
                    "docker wrote {} images; expected one",
                    index.manifests.len()
                ),
            });
        };
        let target = OciLayout::create(&spec.output)?;
        for blob in source.closure(root)? {
            target.copy_blob_from(&source, &blob.digest)?;
        }
        let mut root = root.clone();
        root.annotations.clear();
        target.set_ref(spec.ref_name(), &root)?;
        BuiltImage::from_layout(&spec.output, Some(spec.ref_name()))
    }
}

fn unpack(archive: &std::path::Path, into: &std::path::Path) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(|e| Error::Io {
        path: archive.to_path_buf(),
        source: e,
    })?;
    tar::Archive::new(file)
        .unpack(into)
        .map_err(|e| Error::Layout {
            path: archive.to_path_buf(),
            message: format!("cannot unpack docker's OCI archive: {e}"),
        })
}
