//! The native builder: OCI images without a daemon or any tool.
//!
//! Layers are tar archives of files and directories copied from the build
//! context, gzip-compressed by default ([`LayerCompression`]: gzip at any
//! level, zstd with the `zstd` feature, or none), on every core
//! ([`NativeBuilder::with_threads`]). Builds are reproducible: entries are
//! sorted by path, every timestamp is the build's epoch
//! (`SOURCE_DATE_EPOCH`, or 0), owners are set explicitly (root unless a
//! [`LayerCopy`] says otherwise), and compression does not depend on the
//! number of threads or the CPU, so the same inputs give a byte-identical
//! manifest and the same digest on any machine. A layer streams from the
//! context's files to its blob: memory stays a few MiB per thread whatever
//! the layer's size.
//!
//! ```no_run
//! # async fn demo() -> paragon_core::Result<()> {
//! use paragon_core::plugin::build::{BuildSpec, Builder, ImageConfig};
//! use paragon_core::CallContext;
//! use paragon_registry::NativeBuilder;
//!
//! let spec = BuildSpec::new("./app", "./out/layout")
//!     .with_ref_name("1.4.2")
//!     .with_config(ImageConfig::default().with_entrypoint(["/app/server"]).with_exposed_port("8080"))
//!     .with_annotation("org.opencontainers.image.version", "1.4.2");
//! let image = NativeBuilder::new().build(&spec, &CallContext::new()).await?;
//! println!("{}", image.digest);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use paragon_core::model::oci::{
    to_canonical_json, Descriptor, Digest, ImageIndex, ImageManifest, OciLayout, Platform,
    MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use paragon_core::plugin::build::{
    BaseImage, BuildSpec, Builder, BuiltImage, LayerCopy, LayerSpec,
};
use paragon_core::{CallContext, Error, Result};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use crate::compress::{LayerCompression, LayerWriter};

const NAME: &str = "native";

/// Builds OCI images natively (see the [module docs](self)).
#[derive(Debug, Clone, Default)]
pub struct NativeBuilder {
    epoch: Option<i64>,
    timeout: Option<Duration>,
    compression: LayerCompression,
    threads: Option<usize>,
}

impl NativeBuilder {
    /// A builder taking its epoch from `SOURCE_DATE_EPOCH` (0 when unset).
    pub fn new() -> NativeBuilder {
        NativeBuilder::default()
    }

    /// Sets the epoch (seconds since 1970) used for every timestamp,
    /// overriding `SOURCE_DATE_EPOCH`.
    pub fn with_epoch(mut self, seconds: i64) -> NativeBuilder {
        self.epoch = Some(seconds);
        self
    }

    /// Stops a build that takes longer than this (default: none, unless
    /// the context sets one).
    pub fn with_timeout(mut self, timeout: Duration) -> NativeBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// Sets how layers are compressed (default: gzip at level 6). Every
    /// choice gives the same digest for the same inputs.
    pub fn with_compression(mut self, compression: LayerCompression) -> NativeBuilder {
        self.compression = compression;
        self
    }

    /// Sets how many threads compress a layer (default: one per core).
    /// The layer's bytes do not depend on it.
    pub fn with_threads(mut self, threads: usize) -> NativeBuilder {
        self.threads = Some(threads.max(1));
        self
    }

    /// The compression and the pool that runs it, checked.
    fn compressor(&self) -> Result<Compressor> {
        self.compression
            .check()
            .map_err(|message| Error::InvalidConfig {
                component: NAME.into(),
                message,
            })?;
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("paragon-compress-{i}"))
            .build()
            .map_err(|e| Error::InvalidConfig {
                component: NAME.into(),
                message: format!("cannot start {threads} compression threads: {e}"),
            })?;
        Ok(Compressor {
            compression: self.compression,
            pool: std::sync::Arc::new(pool),
        })
    }

    fn epoch(&self) -> Result<i64> {
        if let Some(e) = self.epoch {
            return Ok(e);
        }
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| Error::InvalidConfig {
                component: NAME.into(),
                message: format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds"),
            }),
            _ => Ok(0),
        }
    }
}

#[async_trait]
impl Builder for NativeBuilder {
    fn name(&self) -> &str {
        NAME
    }

    async fn build(&self, spec: &BuildSpec, ctx: &CallContext) -> Result<BuiltImage> {
        let epoch = self.epoch()?;
        let compressor = self.compressor()?;
        let spec = spec.clone();
        let cancel = ctx.cancel.child_token();
        let job = {
            let cancel = cancel.clone();
            // The caller's subscriber and span go with the work to the
            // blocking thread, so its log lines reach where the caller's do.
            let (dispatch, span) = (
                tracing::dispatcher::get_default(Clone::clone),
                tracing::Span::current(),
            );
            tokio::task::spawn_blocking(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    span.in_scope(|| build_blocking(&spec, epoch, &compressor, &cancel))
                })
            })
        };
        let limit = ctx.timeout.or(self.timeout);
        let joined = match limit {
            Some(limit) => match tokio::time::timeout(limit, job).await {
                Ok(j) => j,
                Err(_) => {
                    cancel.cancel();
                    return Err(Error::TimedOut {
                        tool: NAME.into(),
                        after: limit,
                    });
                }
            },
            None => job.await,
        };
        joined.map_err(|e| Error::InvalidConfig {
            component: NAME.into(),
            message: format!("the build task failed: {e}"),
        })?
    }
}

/// How layers are compressed, and the threads that do it.
struct Compressor {
    compression: LayerCompression,
    pool: std::sync::Arc<rayon::ThreadPool>,
}

fn build_blocking(
    spec: &BuildSpec,
    epoch: i64,
    compressor: &Compressor,
    cancel: &CancellationToken,
) -> Result<BuiltImage> {
    let context = &spec.context;
    crate::containerfile::check_context(context, NAME)?;
    let created = rfc3339(epoch)?;
    let layout = OciLayout::create(&spec.output)?;
    let default_layer;
    let layers: &[LayerSpec] = if spec.layers.is_empty() {
        default_layer = [LayerSpec::copy(".", "/app")];
        &default_layer
    } else {
        &spec.layers
    };
    let mut built = Vec::with_capacity(layers.len());
    for layer in layers {
        built.push(write_layer(
            &layout, context, layer, epoch, compressor, cancel,
        )?);
    }
    let platforms = if spec.platforms.is_empty() {
        vec![Platform::host()]
    } else {
        spec.platforms.clone()
    };
    let mut manifests = Vec::with_capacity(platforms.len());
    for platform in &platforms {
        let base = match &spec.base {
            Some(b) => Some(load_base(&layout, b, platform)?),
            None => None,
        };
        let (config, base_layers) = image_config(spec, platform, &created, base, &built);
        let (config_digest, config_size) = layout.write_blob(&to_canonical_json(&config))?;
        let mut annotations = spec.annotations.clone();
        annotations
            .entry("org.opencontainers.image.created".into())
            .or_insert_with(|| created.clone());
        let mut manifest = ImageManifest::new(
            Descriptor::new(MEDIA_TYPE_CONFIG, config_digest, config_size),
            base_layers
                .into_iter()
                .chain(built.iter().map(|l| l.descriptor.clone()))
                .collect(),
        );
        manifest.annotations = annotations;
        let (digest, size) = layout.write_blob(&to_canonical_json(&manifest))?;
        let mut d = Descriptor::new(MEDIA_TYPE_MANIFEST, digest, size);
        d.platform = Some(platform.clone());
        manifests.push(d);
    }
    let root = if manifests.len() == 1 {
        let mut d = manifests.pop().expect("one manifest");
        d.platform = None;
        d
    } else {
        let index = ImageIndex {
            manifests,
            annotations: spec.annotations.clone(),
            ..ImageIndex::default()
        };
        let (digest, size) = layout.write_blob(&to_canonical_json(&index))?;
        Descriptor::new(MEDIA_TYPE_INDEX, digest, size)
    };
    layout.set_ref(spec.ref_name(), &root)?;
    tracing::info!(digest = %root.digest, layout = %layout.root().display(), "image built");
    BuiltImage::from_layout(layout.root(), Some(spec.ref_name()))
}

/// RFC 3339 UTC time of `epoch`.
fn rfc3339(epoch: i64) -> Result<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch).map_err(|e| Error::InvalidConfig {
        component: NAME.into(),
        message: format!("epoch {epoch} is out of range: {e}"),
    })?;
    Ok(t.format(&time::format_description::well_known::Rfc3339)
        .expect("a valid timestamp formats"))
}

struct BuiltLayer {
    descriptor: Descriptor,
    diff_id: Digest,
    created_by: String,
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One entry to archive.
struct Entry {
    /// Path in the image, relative (no leading `/`).
    path: String,
    /// Where it is on disk (`None`: a synthesized parent directory).
    source: Option<PathBuf>,
    owner: (u32, u32),
    mode: Option<u32>,
}

fn write_layer(
    layout: &OciLayout,
    context: &Path,
    layer: &LayerSpec,
    epoch: i64,
    compressor: &Compressor,
    cancel: &CancellationToken,
) -> Result<BuiltLayer> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for copy in &layer.copies {
        collect(context, copy, &mut entries)?;
    }
    let tmp = layout
        .root()
        .join("blobs")
        .join("sha256")
        .join(format!(".layer-{}.tmp", std::process::id()));
    let io_err = |path: &Path, e: io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    let compressed = Hashing {
        inner: io::BufWriter::new(file),
        hash: Sha256::new(),
    };
    let compressing = LayerWriter::new(compressed, compressor.compression, compressor.pool.clone())
        .map_err(|e| io_err(&tmp, e))?;
    let mut tar = tar::Builder::new(Hashing {
        inner: compressing,
        hash: Sha256::new(),
    });
    tar.follow_symlinks(false);
    let mtime = u64::try_from(epoch).unwrap_or(0);
    for entry in entries.values() {
        if cancel.is_cancelled() {
            let _ = fs::remove_file(&tmp);
            return Err(Error::Cancelled { tool: NAME.into() });
        }
        if let Err(e) = append(&mut tar, entry, mtime, cancel) {
            let _ = fs::remove_file(&tmp);
            if cancel.is_cancelled() {
                return Err(Error::Cancelled { tool: NAME.into() });
            }
            return Err(e);
        }
    }
    let finish = |tar: tar::Builder<Hashing<LayerWriter<Hashing<io::BufWriter<fs::File>>>>>|
     -> io::Result<(Digest, Digest)> {
        let uncompressed = tar.into_inner()?;
        let diff_id = Digest::from_sha256(&uncompressed.hash.finalize());
        let mut compressed = uncompressed.inner.finish()?;
        compressed.flush()?;
        let blob = Digest::from_sha256(&compressed.hash.finalize());
        compressed
            .inner
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok((diff_id, blob))
    };
    let (diff_id, digest) = finish(tar).map_err(|e| io_err(&tmp, e))?;
    let size = fs::metadata(&tmp).map_err(|e| io_err(&tmp, e))?.len();
    let dest = layout.blob_path(&digest);
    fs::rename(&tmp, &dest).map_err(|e| io_err(&dest, e))?;
    let created_by = layer
        .copies
        .iter()
        .map(|c| format!("COPY {} {}", c.from.display(), c.to))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(BuiltLayer {
        descriptor: Descriptor::new(compressor.compression.media_type(), digest, size),
        diff_id,
        created_by: format!("paragon native: {created_by}"),
    })
}

/// The destination path in the image, relative, checked.
fn image_path(to: &str) -> Result<String> {
    let mut parts = Vec::new();
    for c in Path::new(to).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_str().ok_or_else(|| Error::InvalidConfig {
                component: NAME.into(),
                message: format!("destination `{to}` is not UTF-8"),
            })?),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::InvalidConfig {
                    component: NAME.into(),
                    message: format!("destination `{to}` must not contain `..`"),
                })
            }
        }
    }
    Ok(parts.join("/"))
}

fn collect(context: &Path, copy: &LayerCopy, out: &mut BTreeMap<String, Entry>) -> Result<()> {
    let source = if copy.from.is_absolute() {
        copy.from.clone()
    } else {
        context.join(&copy.from)
    };
    let meta = fs::symlink_metadata(&source).map_err(|e| Error::Io {
        path: source.clone(),
        source: e,
    })?;
    let dest = image_path(&copy.to)?;
    let owner = copy.owner.unwrap_or((0, 0));
    // Parent directories of the destination, root-owned, 0755.
    let mut parent = String::new();
    let parents: Vec<&str> = dest.split('/').filter(|p| !p.is_empty()).collect();
    for p in &parents[..parents.len().saturating_sub(1)] {
        if !parent.is_empty() {
            parent.push('/');
        }
        parent.push_str(p);
        out.entry(format!("{parent}/")).or_insert(Entry {
            path: format!("{parent}/"),
            source: None,
            owner: (0, 0),
            mode: Some(0o755),
        });
    }
    if meta.is_dir() {
        walk(&source, &dest, copy, owner, out)
    } else {
        if dest.is_empty() {
            return Err(Error::InvalidConfig {
                component: NAME.into(),
                message: format!("cannot copy the file `{}` to `/`", source.display()),
            });
        }
        out.insert(
            dest.clone(),
            Entry {
                path: dest,
                source: Some(source),
                owner,
                mode: copy.mode,
            },
        );
        Ok(())
    }
}

fn walk(
    dir: &Path,
    dest: &str,
    copy: &LayerCopy,
    owner: (u32, u32),
    out: &mut BTreeMap<String, Entry>,
) -> Result<()> {
    if !dest.is_empty() {
        out.insert(
            format!("{dest}/"),
            Entry {
                path: format!("{dest}/"),
                source: Some(dir.to_path_buf()),
                owner,
                mode: None,
            },
        );
    }
    let read = fs::read_dir(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for item in read {
        let item = item.map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let name = item.file_name();
        let name = name.to_str().ok_or_else(|| Error::InvalidConfig {
            component: NAME.into(),
            message: format!("`{}` has a name that is not UTF-8", item.path().display()),
        })?;
        let path = item.path();
        let target = if dest.is_empty() {
            name.to_owned()
        } else {
            format!("{dest}/{name}")
        };
        let ty = item.file_type().map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        if ty.is_dir() {
            walk(&path, &target, copy, owner, out)?;
        } else {
            out.insert(
                target.clone(),
                Entry {
                    path: target,
                    source: Some(path),
                    owner,
                    mode: copy.mode,
                },
            );
        }
    }
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    entry: &Entry,
    mtime: u64,
    cancel: &CancellationToken,
) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_mtime(mtime);
    header.set_uid(u64::from(entry.owner.0));
    header.set_gid(u64::from(entry.owner.1));
    let _ = header.set_username("");
    let _ = header.set_groupname("");
    let io_err = |e: io::Error| Error::Io {
        path: entry
            .source
            .clone()
            .unwrap_or_else(|| PathBuf::from(&entry.path)),
        source: e,
    };
    let Some(source) = &entry.source else {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(entry.mode.unwrap_or(0o755));
        header.set_size(0);
        return tar
            .append_data(&mut header, &entry.path, io::empty())
            .map_err(io_err);
    };
    let meta = fs::symlink_metadata(source).map_err(io_err)?;
    let own_mode = meta.mode() & 0o7777;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(source).map_err(io_err)?;
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        tar.append_link(&mut header, &entry.path, &target)
            .map_err(io_err)
    } else if meta.is_dir() {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(own_mode);
        header.set_size(0);
        tar.append_data(&mut header, &entry.path, io::empty())
            .map_err(io_err)
    } else if meta.is_file() {
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(entry.mode.unwrap_or(own_mode));
        let mut file = Unchanging::open(source, cancel.clone()).map_err(io_err)?;
        header.set_size(file.len);
        tar.append_data(&mut header, &entry.path, &mut file)
            .and_then(|()| file.check_unchanged())
            .map_err(io_err)
    } else {
        Err(Error::InvalidConfig {
            component: NAME.into(),
            message: format!(
                "`{}` is neither a file, a directory nor a symlink",
                source.display()
            ),
        })
    }
}

/// A regular file read for a layer, which must not change while it is
/// read: it yields exactly the length it had when it was opened, and fails
/// when it ends early; [`check_unchanged`](Unchanging::check_unchanged)
/// then fails when it has more bytes or its size or modification time
/// moved. Without this, a file truncated during the build gives a tar
/// entry whose header promises more bytes than follow, and a layer no
/// runtime can unpack. A cancelled build stops it between chunks.
struct Unchanging {
    file: fs::File,
    cancel: CancellationToken,
    /// The length when opened: what the tar header says.
    len: u64,
    left: u64,
    modified: Option<std::time::SystemTime>,
}

impl Unchanging {
    fn open(path: &Path, cancel: CancellationToken) -> io::Result<Unchanging> {
        let file = fs::File::open(path)?;
        let meta = file.metadata()?;
        Ok(Unchanging {
            file,
            cancel,
            len: meta.len(),
            left: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    fn changed(&self, what: String) -> io::Error {
        io::Error::other(format!(
            "the file changed while it was read into the layer ({what}); build again once it is stable"
        ))
    }

    /// Fails when the file grew or was rewritten since it was opened.
    fn check_unchanged(&mut self) -> io::Result<()> {
        let mut one = [0u8; 1];
        if self.file.read(&mut one)? > 0 {
            return Err(self.changed(format!("it grew past {} bytes", self.len)));
        }
        let meta = self.file.metadata()?;
        if meta.len() != self.len {
            return Err(self.changed(format!("{} bytes, now {}", self.len, meta.len())));
        }
        if meta.modified().ok() != self.modified {
            return Err(self.changed("it was written to".into()));
        }
        Ok(())
    }
}

impl Read for Unchanging {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        if self.cancel.is_cancelled() {
            // Not `Interrupted`, which readers retry.
            return Err(io::Error::other("the build was cancelled"));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            let read = self.len - self.left;
            return Err(self.changed(format!("it shrank from {} bytes to {read}", self.len)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A base image's config and layers, for one platform.
struct Base {
    config: Map<String, Value>,
    layers: Vec<Descriptor>,
}

fn load_base(into: &OciLayout, base: &BaseImage, platform: &Platform) -> Result<Base> {
    let image = BuiltImage::from_layout(&base.layout, base.ref_name.as_deref())?;
    let source = OciLayout::open(&base.layout)?;
    let manifest_digest = if image.manifests.is_empty() {
        image.digest.clone()
    } else {
        image
            .manifests
            .iter()
            .find(|(p, _)| p.os == platform.os && p.architecture == platform.architecture)
            .map(|(_, d)| d.clone())
            .ok_or_else(|| Error::Layout {
                path: base.layout.clone(),
                message: format!("the base image has no {platform} manifest"),
            })?
    };
    let manifest = source.manifest(&manifest_digest)?;
    let bytes = source.read_blob(&manifest.config.digest)?;
    let config: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
        path: source.blob_path(&manifest.config.digest),
        message: format!("invalid image config: {e}"),
    })?;
    for layer in &manifest.layers {
        into.copy_blob_from(&source, &layer.digest)?;
    }
    Ok(Base {
        config,
        layers: manifest.layers,
    })
}

fn image_config(
    spec: &BuildSpec,
    platform: &Platform,
    created: &str,
    base: Option<Base>,
    built: &[BuiltLayer],
) -> (Value, Vec<Descriptor>) {
    let (mut root, base_layers) = match base {
        Some(b) => (b.config, b.layers),
        None => (Map::new(), Vec::new()),
    };
    let mut cfg = match root.remove("config") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let c = &spec.config;
    let strings = |v: &[String]| Value::from(v.to_vec());
    if !c.entrypoint.is_empty() {
        cfg.insert("Entrypoint".into(), strings(&c.entrypoint));
        if c.cmd.is_empty() {
            cfg.remove("Cmd");
        }
    }
    if !c.cmd.is_empty() {
        cfg.insert("Cmd".into(), strings(&c.cmd));
    }
    if !c.env.is_empty() {
        let mut env: Vec<String> = cfg
            .get("Env")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for e in &c.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        cfg.insert("Env".into(), Value::from(env));
    }
    if let Some(w) = &c.workdir {
        cfg.insert("WorkingDir".into(), Value::from(w.clone()));
    }
    if let Some(u) = &c.user {
        cfg.insert("User".into(), Value::from(u.clone()));
    }
    if !c.exposed_ports.is_empty() {
        let mut ports = match cfg.remove("ExposedPorts") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for p in &c.exposed_ports {
            ports.insert(p.clone(), json!({}));
        }
        cfg.insert("ExposedPorts".into(), Value::Object(sorted(ports)));
    }
    if !spec.labels.is_empty() {
        let mut labels = match cfg.remove("Labels") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (k, v) in &spec.labels {
            labels.insert(k.clone(), Value::from(v.clone()));
        }
        cfg.insert("Labels".into(), Value::Object(sorted(labels)));
    }
    let mut diff_ids: Vec<Value> = root
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .cloned()
        .unwrap_or_default();
    diff_ids.extend(built.iter().map(|l| Value::from(l.diff_id.to_string())));
    let mut history: Vec<Value> = root
        .get("history")
        .and_then(|h| h.as_array())
        .cloned()
        .unwrap_or_default();
    history.extend(
        built
            .iter()
            .map(|l| json!({ "created": created, "created_by": l.created_by })),
    );
    root.insert("created".into(), Value::from(created));
    root.insert(
        "architecture".into(),
        Value::from(platform.architecture.clone()),
    );
    root.insert("os".into(), Value::from(platform.os.clone()));
    match &platform.variant {
        Some(v) => root.insert("variant".into(), Value::from(v.clone())),
        None => root.remove("variant"),
    };
    root.insert("config".into(), Value::Object(sorted(cfg)));
    root.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": diff_ids }),
    );
    root.insert("history".into(), Value::from(history));
    (Value::Object(sorted(root)), base_layers)
}

/// A map with its keys in sorted order, whatever `serde_json`'s map type.
fn sorted(m: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_checked() {
        assert_eq!(image_path("/app").unwrap(), "app");
        assert_eq!(image_path("/usr/local/bin/").unwrap(), "usr/local/bin");
        assert_eq!(image_path("/").unwrap(), "");
        assert!(image_path("/app/../etc").is_err());
    }

    /// A file that shrinks, grows or is rewritten after it was opened for
    /// the layer is an error naming what happened, never a short entry.
    #[test]
    fn a_file_that_changes_while_it_is_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        let write = |n: usize| fs::write(&path, vec![7u8; n]).unwrap();
        let read_all = |f: &mut Unchanging| io::copy(f, &mut io::sink()).map(drop);

        write(1 << 20);
        let mut f = Unchanging::open(&path, CancellationToken::new()).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(1000)
            .unwrap();
        let err = read_all(&mut f).unwrap_err().to_string();
        assert!(err.contains("shrank from 1048576 bytes to 1000"), "{err}");

        write(1000);
        let mut f = Unchanging::open(&path, CancellationToken::new()).unwrap();
        read_all(&mut f).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"more")
            .unwrap();
        let err = f.check_unchanged().unwrap_err().to_string();
        assert!(err.contains("grew past 1000 bytes"), "{err}");

        write(1000);
        let mut f = Unchanging::open(&path, CancellationToken::new()).unwrap();
        read_all(&mut f).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        let err = f.check_unchanged().unwrap_err().to_string();
        assert!(err.contains("written to"), "{err}");

        let mut f = Unchanging::open(&path, CancellationToken::new()).unwrap();
        read_all(&mut f).unwrap();
        f.check_unchanged().unwrap();
    }

    #[test]
    fn epochs_format() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
    }
}
