//! The `Builder` and `Registry` plugin traits, what they exchange, and an
//! in-memory registry for engine tests.
//!
//! A [`Builder`] turns a [`BuildSpec`] into a [`BuiltImage`]: an OCI image
//! layout on disk with the digest of its manifest. A [`Registry`] pushes a
//! built image to a repository under tags, resolves tags to digests, lists
//! and deletes tags. Adapters live in `paragon-registry`; every registry
//! adapter's tests run `paragon_core::conformance::registry` (feature `conformance`).
//!
//! ```
//! # tokio_test_block_on(async {
//! use paragon_core::image::{MemoryRegistry, Registry};
//! use paragon_core::CallContext;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let image = paragon_core::image::testing::minimal_image(dir.path(), "demo").unwrap();
//! let registry = MemoryRegistry::new();
//! let tags = ["1.0.0".to_string(), "latest".to_string()];
//! let ctx = CallContext::new();
//! let pushed = registry.push(&image, "shop/app", &tags, &ctx).await.unwrap();
//! assert_eq!(pushed.digest, image.digest);
//! assert_eq!(registry.resolve("shop/app", "latest", &ctx).await.unwrap(), Some(image.digest.clone()));
//! # });
//! # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::context::CallContext;
use crate::error::{Error, Result};
use crate::oci::{Descriptor, Digest, OciLayout, Platform};

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
    pub copies: Vec<Copy>,
}

impl LayerSpec {
    /// A layer copying `from` (a file or a directory, relative to the context
    /// or absolute) to `to` in the image.
    pub fn copy(from: impl Into<PathBuf>, to: impl Into<String>) -> LayerSpec {
        LayerSpec {
            copies: vec![Copy::new(from, to)],
        }
    }

    /// Adds a copy to this layer.
    pub fn and(mut self, copy: Copy) -> LayerSpec {
        self.copies.push(copy);
        self
    }
}

/// A copy into a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Copy {
    /// Source file or directory (relative paths are under the context).
    pub from: PathBuf,
    /// Destination path in the image (absolute).
    pub to: String,
    /// Owner uid and gid of every entry (default 0:0).
    pub owner: Option<(u32, u32)>,
    /// Mode for every regular file (default: the file's own mode bits).
    pub mode: Option<u32>,
}

impl Copy {
    /// Copies `from` to `to`, owned by root, keeping modes.
    pub fn new(from: impl Into<PathBuf>, to: impl Into<String>) -> Copy {
        Copy {
            from: from.into(),
            to: to.into(),
            owner: None,
            mode: None,
        }
    }

    /// Sets the owner of every entry.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Copy {
        self.owner = Some((uid, gid));
        self
    }

    /// Sets the mode of every regular file.
    pub fn with_mode(mut self, mode: u32) -> Copy {
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
    ($ty:ty) => {
        #[async_trait]
        impl<T: Builder + ?Sized> Builder for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            async fn build(&self, spec: &BuildSpec, ctx: &CallContext) -> Result<BuiltImage> {
                (**self).build(spec, ctx).await
            }
        }
    };
}
forward_builder!(Box<T>);
forward_builder!(Arc<T>);

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Pushed {
    /// The registry (host and port, or the layout's path).
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// The digest the registry holds under every tag (verified).
    pub digest: Digest,
    /// The tags now pointing at it.
    pub tags: Vec<String>,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs the registry already had (or mounted from another repository).
    pub skipped: usize,
}

impl Pushed {
    /// A record of a push.
    pub fn new(registry: &str, repository: &str, digest: Digest, tags: Vec<String>) -> Pushed {
        Pushed {
            registry: registry.into(),
            repository: repository.into(),
            digest,
            tags,
            uploaded: 0,
            skipped: 0,
        }
    }

    /// `registry/repository@digest`.
    pub fn reference(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repository, self.digest)
    }
}

/// Stores images.
///
/// # Contract
///
/// An implementation must:
///
/// - return a stable, lower-case [`name`](Registry::name) and a non-empty
///   [`location`](Registry::location);
/// - push every blob before the manifest and the manifest before any tag,
///   so that no tag ever points at a partial image, and refuse a layout
///   missing a blob without creating a tag;
/// - check that the registry holds, under every tag, the digest the layout
///   has, and move a tag that exists (`latest`) to the new image;
/// - validate repository names and tags ([`validate_repository`],
///   [`validate_tag`]) before any request, answering
///   [`Error::InvalidConfig`];
/// - resolve an unknown tag to `None` and list no tags for an unknown
///   repository;
/// - stop a cancelled call with [`Error::Cancelled`] (a cancelled push
///   creating no tag), and bound every call by the context's timeout where
///   it sets one;
/// - report refused credentials as [`Error::Unauthorized`] naming the
///   host, never the credentials.
///
/// Deleting a single tag is a capability some registries lack; those
/// answer [`Error::Unsupported`]. `paragon_core::conformance::registry`
/// (feature `conformance`) checks these behaviours; every registry's tests
/// run it.
#[async_trait]
pub trait Registry: fmt::Debug + Send + Sync + 'static {
    /// The adapter's name (`distribution`, `harbor`, `oci-layout`, `memory`).
    fn name(&self) -> &str;

    /// Where it stores (host and port, or a path), for messages and records.
    fn location(&self) -> String;

    /// Pushes `image` to `repository` and points every tag at it.
    async fn push(
        &self,
        image: &BuiltImage,
        repository: &str,
        tags: &[String],
        ctx: &CallContext,
    ) -> Result<Pushed>;

    /// The digest `tag` points at, or `None` when there is no such tag (or
    /// no such repository).
    async fn resolve(
        &self,
        repository: &str,
        tag: &str,
        ctx: &CallContext,
    ) -> Result<Option<Digest>>;

    /// Every tag of `repository`, sorted; empty when it does not exist.
    async fn list_tags(&self, repository: &str, ctx: &CallContext) -> Result<Vec<String>>;

    /// Deletes a tag (the image stays if other tags name it, where the
    /// registry allows). [`Error::Unsupported`] where it cannot.
    async fn delete_tag(&self, repository: &str, tag: &str, ctx: &CallContext) -> Result<()>;

    /// Points `tag` at `digest`, an image already pushed to `repository`
    /// (by [`push`](Registry::push) with no tags), only when the
    /// repository has no such tag yet: `Ok(true)` when this call created
    /// it, `Ok(false)` when the tag was there. This is how a release
    /// reserves its version: of two runs that chose the same one, one
    /// creates the tag and the other learns it lost.
    ///
    /// Atomic against other writers where the registry can be asked to
    /// write only what is absent (an OCI layout, Harbor, memory). The bare
    /// OCI distribution API has no conditional write: there it is a check,
    /// a write, a wait and a check, so that of writers that found the tag
    /// absent together only the one whose write stayed gets `Ok(true)`,
    /// provided each write lands within the wait after its own check. The
    /// default is [`Error::Unsupported`].
    async fn create_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        let _ = (repository, tag, digest, ctx);
        Err(Error::Unsupported {
            component: self.name().to_owned(),
            operation: "creating a tag only when it is absent".into(),
        })
    }
}

macro_rules! forward_registry {
    ($ty:ty) => {
        #[async_trait]
        impl<T: Registry + ?Sized> Registry for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn location(&self) -> String {
                (**self).location()
            }
            async fn push(
                &self,
                image: &BuiltImage,
                repository: &str,
                tags: &[String],
                ctx: &CallContext,
            ) -> Result<Pushed> {
                (**self).push(image, repository, tags, ctx).await
            }
            async fn resolve(
                &self,
                repository: &str,
                tag: &str,
                ctx: &CallContext,
            ) -> Result<Option<Digest>> {
                (**self).resolve(repository, tag, ctx).await
            }
            async fn list_tags(&self, repository: &str, ctx: &CallContext) -> Result<Vec<String>> {
                (**self).list_tags(repository, ctx).await
            }
            async fn delete_tag(
                &self,
                repository: &str,
                tag: &str,
                ctx: &CallContext,
            ) -> Result<()> {
                (**self).delete_tag(repository, tag, ctx).await
            }
            async fn create_tag(
                &self,
                repository: &str,
                tag: &str,
                digest: &Digest,
                ctx: &CallContext,
            ) -> Result<bool> {
                (**self).create_tag(repository, tag, digest, ctx).await
            }
        }
    };
}
forward_registry!(Box<T>);
forward_registry!(Arc<T>);

/// Checks a push's repository name and every tag
/// ([`validate_repository`], [`validate_tag`]): what every
/// [`Registry::push`] does before any request.
///
/// # Errors
/// [`Error::InvalidConfig`] naming the first invalid name.
pub fn validate_push(repository: &str, tags: &[String]) -> Result<()> {
    validate_repository(repository)?;
    tags.iter().try_for_each(|t| validate_tag(t))
}

/// Checks a tag against the distribution spec's grammar
/// (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
///
/// # Errors
/// [`Error::InvalidConfig`] (component `registry`) saying what is wrong.
pub fn validate_tag(tag: &str) -> Result<()> {
    match tag_problem(tag) {
        None => Ok(()),
        Some(message) => Err(Error::InvalidConfig {
            component: "registry".into(),
            message,
        }),
    }
}

/// What is wrong with `tag` under the distribution spec's grammar, if
/// anything.
pub(crate) fn tag_problem(tag: &str) -> Option<String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    (!ok).then(|| {
        format!(
            "`{tag}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"
        )
    })
}

/// Checks a repository name against the distribution spec's grammar:
/// lowercase path components of `[a-z0-9]` joined by `.`, `_`, `__` or `-`,
/// separated by `/`.
pub fn validate_repository(name: &str) -> Result<()> {
    fn component(c: &str) -> bool {
        let b = c.as_bytes();
        if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            let ch = b[i];
            if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
                i += 1;
                continue;
            }
            // A separator: `.`, `_`, `__` or a run of `-`.
            let start = i;
            match ch {
                b'.' => i += 1,
                b'_' => {
                    i += 1;
                    if i < b.len() && b[i] == b'_' {
                        i += 1;
                    }
                }
                b'-' => {
                    while i < b.len() && b[i] == b'-' {
                        i += 1;
                    }
                }
                _ => return false,
            }
            if i == start || i >= b.len() || !b[i].is_ascii_alphanumeric() {
                return false;
            }
        }
        true
    }
    if !name.is_empty() && name.len() <= 255 && name.split('/').all(component) {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            component: "registry".into(),
            message: format!(
                "`{name}` is not a valid repository name (lowercase letters and digits, separated by `.`, `_`, `-` or `/`)"
            ),
        })
    }
}

/// A registry in memory: an implementation of [`Registry`] for engine tests
/// (a pipeline test pushes here and asserts what landed).
///
/// A push checks that the image's layout holds every blob it names, as a
/// real registry would refuse a manifest with missing blobs.
#[derive(Debug, Default, Clone)]
pub struct MemoryRegistry {
    repos: Arc<Mutex<BTreeMap<String, Repo>>>,
}

#[derive(Debug, Default)]
struct Repo {
    tags: BTreeMap<String, Digest>,
    manifests: BTreeSet<Digest>,
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> MemoryRegistry {
        MemoryRegistry::default()
    }

    /// How many distinct manifests `repository` holds.
    pub fn manifest_count(&self, repository: &str) -> usize {
        self.lock().get(repository).map_or(0, |r| r.manifests.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Repo>> {
        self.repos.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Registry for MemoryRegistry {
    fn name(&self) -> &str {
        "memory"
    }

    fn location(&self) -> String {
        "memory".into()
    }

    async fn push(
        &self,
        image: &BuiltImage,
        repository: &str,
        tags: &[String],
        ctx: &CallContext,
    ) -> Result<Pushed> {
        validate_push(repository, tags)?;
        if ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled {
                tool: "memory registry".into(),
            });
        }
        let layout = OciLayout::open(&image.layout)?;
        let blobs = layout.closure(&image.descriptor())?;
        let mut repos = self.lock();
        let repo = repos.entry(repository.to_owned()).or_default();
        repo.manifests.insert(image.digest.clone());
        for t in tags {
            repo.tags.insert(t.clone(), image.digest.clone());
        }
        let mut pushed = Pushed::new("memory", repository, image.digest.clone(), tags.to_vec());
        pushed.uploaded = blobs.len();
        Ok(pushed)
    }

    async fn resolve(
        &self,
        repository: &str,
        tag: &str,
        ctx: &CallContext,
    ) -> Result<Option<Digest>> {
        validate_repository(repository)?;
        validate_tag(tag)?;
        memory_cancelled(ctx)?;
        Ok(self
            .lock()
            .get(repository)
            .and_then(|r| r.tags.get(tag).cloned()))
    }

    async fn list_tags(&self, repository: &str, ctx: &CallContext) -> Result<Vec<String>> {
        validate_repository(repository)?;
        memory_cancelled(ctx)?;
        Ok(self
            .lock()
            .get(repository)
            .map(|r| r.tags.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn create_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        validate_repository(repository)?;
        validate_tag(tag)?;
        memory_cancelled(ctx)?;
        let mut repos = self.lock();
        let repo = repos.entry(repository.to_owned()).or_default();
        if !repo.manifests.contains(digest) {
            return Err(Error::Registry {
                host: "memory".into(),
                operation: format!("tag {repository}:{tag}"),
                status: Some(404),
                message: format!("{digest} was not pushed to {repository}"),
                retryable: false,
                retry_after: None,
            });
        }
        if repo.tags.contains_key(tag) {
            return Ok(false);
        }
        repo.tags.insert(tag.to_owned(), digest.clone());
        Ok(true)
    }

    async fn delete_tag(&self, repository: &str, tag: &str, ctx: &CallContext) -> Result<()> {
        validate_repository(repository)?;
        validate_tag(tag)?;
        memory_cancelled(ctx)?;
        let mut repos = self.lock();
        match repos.get_mut(repository).and_then(|r| r.tags.remove(tag)) {
            Some(_) => Ok(()),
            None => Err(Error::Registry {
                host: "memory".into(),
                operation: format!("delete tag {repository}:{tag}"),
                status: Some(404),
                message: "no such tag".into(),
                retryable: false,
                retry_after: None,
            }),
        }
    }
}

/// [`Error::Cancelled`] of the memory registry once `ctx` is cancelled.
fn memory_cancelled(ctx: &CallContext) -> Result<()> {
    if ctx.cancel.is_cancelled() {
        return Err(Error::Cancelled {
            tool: "memory registry".into(),
        });
    }
    Ok(())
}

/// Small images for tests and examples, written without a builder.
pub mod testing {
    use std::path::Path;

    use super::BuiltImage;
    use crate::error::Result;
    use crate::oci::{
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
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            config: Descriptor::new(MEDIA_TYPE_CONFIG, config_digest, config_size),
            layers: Vec::new(),
            annotations: Default::default(),
        };
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
            ctx: &crate::context::CallContext,
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
    fn tags_and_repositories_are_validated() {
        for ok in ["1.2.3", "latest", "_x", "v1.0-rc.1", "a"] {
            validate_tag(ok).unwrap();
        }
        for bad in ["", ".x", "-x", "a:b", "a/b", &"x".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
        for ok in ["app", "shop/app", "a.b_c__d-e--f/g0", "library/alpine"] {
            validate_repository(ok).unwrap();
        }
        for bad in [
            "", "App", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", "a:b",
        ] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
    }

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
