//! The `Builder` plugin trait and what it exchanges: the [`BuildSpec`] in,
//! the [`BuiltImage`] out.
//!
//! A [`Builder`] turns a [`BuildSpec`] into a [`BuiltImage`]: an OCI image
//! layout on disk with the digest of its manifest. Adapters live in
//! `paragon-registry`; every builder's tests run
//! `paragon_core::conformance::builder` (feature `conformance`).
//! [`testing`] writes small images without a builder.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::oci::{Descriptor, Digest, OciLayout, Platform};
use crate::plugin::context::CallContext;

/// What to build.
///
/// Containerfile-driven builders (buildah, docker) read `context`,
/// `containerfile`, `build_args`, `target`, `labels` and `platforms`; the
/// native builder reads `context`, `layers`, `base`, `config`, `labels`,
/// `annotations` and `platforms`. Every builder writes the OCI layout to
/// `output` and names the image `ref_name` in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildSpec {
    /// The build context (the source directory).
    pub context: PathBuf,
    /// The OCI layout directory to write.
    pub output: PathBuf,
    /// The name of the image in the layout (`org.opencontainers.image.ref.name`);
    /// `latest` when empty.
    pub ref_name: String,
    /// The Containerfile/Dockerfile (default: `Containerfile`, then
    /// `Dockerfile`, in the context).
    pub containerfile: Option<PathBuf>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The stage to build (`--target`).
    pub target: Option<String>,
    /// Image labels (in the image config).
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations (`org.opencontainers.image.source`, `…revision`,
    /// `…version`, `…created`).
    pub annotations: BTreeMap<String, String>,
    /// Platforms to build; empty means this machine's. More than one gives a
    /// multi-platform image index.
    pub platforms: Vec<Platform>,
    /// Native builder: the layers to add, in order. Empty means one layer
    /// holding the context at `/app`.
    pub layers: Vec<LayerSpec>,
    /// Native builder: the base image (`None`: `scratch`).
    pub base: Option<BaseImage>,
    /// Native builder: the runtime configuration.
    pub config: ImageConfig,
}

impl BuildSpec {
    /// A spec building `context` into the layout at `output`.
    pub fn new(context: impl Into<PathBuf>, output: impl Into<PathBuf>) -> BuildSpec {
        BuildSpec {
            context: context.into(),
            output: output.into(),
            ..BuildSpec::default()
        }
    }

    /// Sets the name of the image in the layout.
    pub fn with_ref_name(mut self, name: impl Into<String>) -> BuildSpec {
        self.ref_name = name.into();
        self
    }

    /// Adds a layer (native builder).
    pub fn with_layer(mut self, layer: LayerSpec) -> BuildSpec {
        self.layers.push(layer);
        self
    }

    /// Sets the runtime configuration (native builder).
    pub fn with_config(mut self, config: ImageConfig) -> BuildSpec {
        self.config = config;
        self
    }

    /// Adds a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> BuildSpec {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds a manifest annotation.
    pub fn with_annotation(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> BuildSpec {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Adds a build argument.
    pub fn with_build_arg(mut self, key: impl Into<String>, value: impl Into<String>) -> BuildSpec {
        self.build_args.insert(key.into(), value.into());
        self
    }

    /// Sets the platforms.
    pub fn with_platforms(mut self, platforms: Vec<Platform>) -> BuildSpec {
        self.platforms = platforms;
        self
    }

    /// Sets the base image (native builder).
    pub fn with_base(mut self, base: BaseImage) -> BuildSpec {
        self.base = Some(base);
        self
    }

    /// Sets the Containerfile.
    pub fn with_containerfile(mut self, path: impl Into<PathBuf>) -> BuildSpec {
        self.containerfile = Some(path.into());
        self
    }

    /// Sets the stage to build.
    pub fn with_target(mut self, target: impl Into<String>) -> BuildSpec {
        self.target = Some(target.into());
        self
    }

    /// The name of the image in the layout (`latest` when unset).
    pub fn ref_name(&self) -> &str {
        if self.ref_name.is_empty() {
            "latest"
        } else {
            &self.ref_name
        }
    }
}

/// One layer of a natively built image: files and directories copied in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LayerSpec {
    /// What to copy.
    pub copies: Vec<LayerCopy>,
}

impl LayerSpec {
    /// A layer copying `from` (a file or a directory, relative to the context
    /// or absolute) to `to` in the image.
    pub fn copy(from: impl Into<PathBuf>, to: impl Into<String>) -> LayerSpec {
        LayerSpec {
            copies: vec![LayerCopy::new(from, to)],
        }
    }

    /// Adds a copy to this layer.
    pub fn and(mut self, copy: LayerCopy) -> LayerSpec {
        self.copies.push(copy);
        self
    }
}

/// A copy of files from the build context into a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LayerCopy {
    /// Source file or directory (relative paths are under the context).
    pub from: PathBuf,
    /// Destination path in the image (absolute).
    pub to: String,
    /// Owner uid and gid of every entry (default 0:0).
    pub owner: Option<(u32, u32)>,
    /// Mode for every regular file (default: the file's own mode bits).
    pub mode: Option<u32>,
}

impl LayerCopy {
    /// Copies `from` to `to`, owned by root, keeping modes.
    pub fn new(from: impl Into<PathBuf>, to: impl Into<String>) -> LayerCopy {
        LayerCopy {
            from: from.into(),
            to: to.into(),
            owner: None,
            mode: None,
        }
    }

    /// Sets the owner of every entry.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> LayerCopy {
        self.owner = Some((uid, gid));
        self
    }

    /// Sets the mode of every regular file.
    pub fn with_mode(mut self, mode: u32) -> LayerCopy {
        self.mode = Some(mode);
        self
    }
}

/// A base image held in an OCI layout on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseImage {
    /// The layout directory.
    pub layout: PathBuf,
    /// The image's name in it (`None`: the only image it holds).
    pub ref_name: Option<String>,
}

/// The runtime configuration of a natively built image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, as `KEY=value` (appended to the base image's).
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub workdir: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `ExposedPorts` (`8080/tcp`).
    pub exposed_ports: Vec<String>,
}

impl ImageConfig {
    /// Sets the entrypoint.
    pub fn with_entrypoint<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.entrypoint = args.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the command.
    pub fn with_cmd<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.cmd = args.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Sets the working directory.
    pub fn with_workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// Sets the user.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Exposes a port (`8080` or `8080/tcp`).
    pub fn with_exposed_port(mut self, port: impl Into<String>) -> Self {
        let port = port.into();
        self.exposed_ports.push(if port.contains('/') {
            port
        } else {
            format!("{port}/tcp")
        });
        self
    }
}

/// A built image: an OCI layout on disk and what identifies the image in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuiltImage {
    /// The OCI layout directory.
    pub layout: PathBuf,
    /// The image's name in the layout.
    pub ref_name: String,
    /// The digest of the manifest (or of the index, for a multi-platform
    /// image): what a registry must hold after a push.
    pub digest: Digest,
    /// The manifest's (or index's) media type.
    pub media_type: String,
    /// The manifest's size in bytes.
    pub size: u64,
    /// The config digest (of the first platform's manifest for an index).
    pub config_digest: Digest,
    /// The platform (the first one for an index).
    pub platform: Platform,
    /// For a multi-platform image: each platform's manifest digest.
    pub manifests: Vec<(Platform, Digest)>,
}

impl BuiltImage {
    /// Describes the image named `ref_name` in the layout at `layout` (any
    /// image when `ref_name` is `None` and the layout holds exactly one),
    /// checking that every blob it needs is present.
    pub fn from_layout(layout: impl Into<PathBuf>, ref_name: Option<&str>) -> Result<BuiltImage> {
        let layout = OciLayout::open(layout)?;
        let index = layout.index()?;
        let descriptor = match ref_name {
            Some(name) => index
                .manifests
                .iter()
                .find(|d| d.ref_name() == Some(name))
                .cloned()
                .ok_or_else(|| Error::Layout {
                    path: layout.root().to_path_buf(),
                    message: format!(
                        "no image named `{name}` (names: {})",
                        names(&index.manifests)
                    ),
                })?,
            None => match index.manifests.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(Error::Layout {
                        path: layout.root().to_path_buf(),
                        message: "the layout holds no image".into(),
                    })
                }
                many => {
                    return Err(Error::Layout {
                        path: layout.root().to_path_buf(),
                        message: format!(
                            "the layout holds {} images; name one (names: {})",
                            many.len(),
                            names(many)
                        ),
                    })
                }
            },
        };
        layout.closure(&descriptor)?;
        let mut manifests = Vec::new();
        let (config_digest, platform) = if descriptor.is_index() {
            let idx = layout.image_index(&descriptor.digest)?;
            for m in &idx.manifests {
                let platform = m.platform.clone().unwrap_or_else(Platform::host);
                manifests.push((platform, m.digest.clone()));
            }
            let first = idx.manifests.first().ok_or_else(|| Error::Layout {
                path: layout.blob_path(&descriptor.digest),
                message: "the image index is empty".into(),
            })?;
            let m = layout.manifest(&first.digest)?;
            (m.config.digest, manifests[0].0.clone())
        } else {
            let m = layout.manifest(&descriptor.digest)?;
            let platform = descriptor
                .platform
                .clone()
                .or_else(|| config_platform(&layout, &m.config.digest))
                .unwrap_or_else(Platform::host);
            (m.config.digest, platform)
        };
        Ok(BuiltImage {
            layout: layout.root().to_path_buf(),
            ref_name: descriptor.ref_name().unwrap_or_default().to_owned(),
            digest: descriptor.digest.clone(),
            media_type: descriptor.media_type.clone(),
            size: descriptor.size,
            config_digest,
            platform,
            manifests,
        })
    }

    /// The descriptor of the image's manifest (or index).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.size)
    }
}

fn names(manifests: &[Descriptor]) -> String {
    let names: Vec<&str> = manifests.iter().filter_map(|d| d.ref_name()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn config_platform(layout: &OciLayout, config: &Digest) -> Option<Platform> {
    let bytes = layout.read_blob(config).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(Platform {
        architecture: v.get("architecture")?.as_str()?.to_owned(),
        os: v.get("os")?.as_str()?.to_owned(),
        variant: v.get("variant").and_then(|v| v.as_str()).map(str::to_owned),
    })
}

/// Builds images.
///
/// # Contract
///
/// An implementation must:
///
/// - return a stable, lower-case [`name`](Builder::name);
/// - write an OCI image layout to `spec.output` naming the image
///   `spec.ref_name()`, holding every blob the image needs, and return the
///   [`BuiltImage`] that layout describes;
/// - give another digest for another source;
/// - answer a context that does not exist with [`Error::TargetNotFound`]
///   naming it;
/// - honour the context: stop (killing any tool it runs) with
///   [`Error::Cancelled`] once the token is cancelled and
///   [`Error::TimedOut`] once the timeout has passed, leaving no image
///   named in the layout;
/// - report a missing tool as [`Error::ToolNotFound`] and a failing one as
///   [`Error::ToolFailed`].
///
/// Reproducible builds (the same source, the same digest) are a capability
/// some builders have. `paragon_core::conformance::builder` (feature
/// `conformance`) checks these behaviours; every builder's tests run it.
#[async_trait]
pub trait Builder: fmt::Debug + Send + Sync + 'static {
    /// The builder's name (`native`, `buildah`, `docker`).
    fn name(&self) -> &str;

    /// Builds the image.
    async fn build(&self, spec: &BuildSpec, ctx: &CallContext) -> Result<BuiltImage>;
}

macro_rules! forward_builder {
    ($($ty:ty),+) => {$(
        #[async_trait]
        impl<T: Builder + ?Sized> Builder for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            async fn build(&self, spec: &BuildSpec, ctx: &CallContext) -> Result<BuiltImage> {
                (**self).build(spec, ctx).await
            }
        }
    )+};
}
forward_builder!(Box<T>, Arc<T>, &'static T);

/// Small images for tests and examples, written without a builder.
pub mod testing {
    use std::path::Path;

    use super::BuiltImage;
    use crate::error::Result;
    use crate::model::oci::{
        to_canonical_json, Descriptor, ImageManifest, OciLayout, Platform, MEDIA_TYPE_CONFIG,
        MEDIA_TYPE_MANIFEST,
    };

    /// Writes a layout at `dir` holding one image named `latest`: a config
    /// (whose `Labels` carry `seed`, so different seeds give different
    /// digests) and no layers.
    pub fn minimal_image(dir: &Path, seed: &str) -> Result<BuiltImage> {
        named_minimal_image(dir, seed, "latest")
    }

    /// [`minimal_image`], named `name` in the layout.
    fn named_minimal_image(dir: &Path, seed: &str, name: &str) -> Result<BuiltImage> {
        let layout = OciLayout::create(dir)?;
        let platform = Platform::linux("amd64");
        let config = serde_json::json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": { "Labels": { "io.paragon.seed": seed } },
            "rootfs": { "type": "layers", "diff_ids": [] },
        });
        let (config_digest, config_size) = layout.write_blob(&to_canonical_json(&config))?;
        let manifest = ImageManifest::new(
            Descriptor::new(MEDIA_TYPE_CONFIG, config_digest, config_size),
            Vec::new(),
        );
        let (digest, size) = layout.write_blob(&to_canonical_json(&manifest))?;
        layout.set_ref(name, &Descriptor::new(MEDIA_TYPE_MANIFEST, digest, size))?;
        BuiltImage::from_layout(dir, Some(name))
    }

    /// A [`Builder`](super::Builder) that writes [`minimal_image`] into the
    /// spec's output, seeded by the spec's ref name and the SHA-256 of every
    /// file of its context (so a changed source changes the digest): for
    /// engine tests and doc examples. It keeps the builder contract: a
    /// missing context is [`Error::TargetNotFound`], and a cancelled
    /// context or an elapsed timeout stops it before it writes anything.
    ///
    /// [`Error::TargetNotFound`]: crate::error::Error::TargetNotFound
    #[derive(Debug, Clone, Copy, Default)]
    pub struct MinimalBuilder;

    const NAME: &str = "minimal builder";

    /// `"path=sha256;…"` for every regular file under `dir`, sorted by
    /// path; symlinks, pipes and devices count by their names only (they
    /// are never followed or opened).
    fn fingerprint(dir: &Path, cancel: &tokio_util::sync::CancellationToken) -> Result<String> {
        use sha2::Digest as _;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| crate::error::Error::Io { path, source }
        };
        let mut files = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(io(&d))? {
                let entry = entry.map_err(io(&d))?;
                let ty = entry.file_type().map_err(io(&d))?;
                if ty.is_dir() {
                    stack.push(entry.path());
                } else {
                    files.push((entry.path(), ty.is_file()));
                }
            }
        }
        files.sort();
        let mut out = String::new();
        for (f, regular) in files {
            if cancel.is_cancelled() {
                return Err(crate::error::Error::Cancelled { tool: NAME.into() });
            }
            let rel = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
            if !regular {
                out.push_str(&format!("{rel};"));
                continue;
            }
            let mut hasher = sha2::Sha256::new();
            let mut file = std::fs::File::open(&f).map_err(io(&f))?;
            std::io::copy(&mut file, &mut hasher).map_err(io(&f))?;
            out.push_str(&format!("{rel}={:x};", hasher.finalize()));
        }
        Ok(out)
    }

    #[async_trait::async_trait]
    impl super::Builder for MinimalBuilder {
        fn name(&self) -> &str {
            "minimal"
        }

        async fn build(
            &self,
            spec: &super::BuildSpec,
            ctx: &crate::plugin::context::CallContext,
        ) -> Result<BuiltImage> {
            use crate::error::Error;
            if ctx.cancel.is_cancelled() {
                return Err(Error::Cancelled { tool: NAME.into() });
            }
            if !spec.context.is_dir() {
                return Err(Error::TargetNotFound {
                    scanner: NAME.into(),
                    path: spec.context.clone(),
                });
            }
            let stop = ctx.cancel.child_token();
            let work = {
                let (spec, stop) = (spec.clone(), stop.clone());
                tokio::task::spawn_blocking(move || {
                    let seed = format!("{}:{}", spec.ref_name, fingerprint(&spec.context, &stop)?);
                    if stop.is_cancelled() {
                        return Err(Error::Cancelled { tool: NAME.into() });
                    }
                    named_minimal_image(&spec.output, &seed, spec.ref_name())
                })
            };
            let finished = async {
                work.await.unwrap_or_else(|e| {
                    Err(Error::Cancelled {
                        tool: format!("{NAME} ({e})"),
                    })
                })
            };
            let limit = async {
                match ctx.timeout {
                    Some(after) => {
                        tokio::time::sleep(after).await;
                        after
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = finished => result,
                after = limit => {
                    stop.cancel();
                    Err(Error::TimedOut { tool: NAME.into(), after })
                }
                () = ctx.cancel.cancelled() => {
                    stop.cancel();
                    Err(Error::Cancelled { tool: NAME.into() })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_image_from_layout_names_the_images_when_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let image = testing::minimal_image(dir.path(), "a").unwrap();
        let layout = OciLayout::open(dir.path()).unwrap();
        layout.set_ref("other", &image.descriptor()).unwrap();
        let err = BuiltImage::from_layout(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("latest, other"), "{err}");
        let err = BuiltImage::from_layout(dir.path(), Some("nope")).unwrap_err();
        assert!(err.to_string().contains("no image named `nope`"), "{err}");
    }
}
