//! OCI image model and the image layout on disk.
//!
//! An [image layout](https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) is the currency between
//! builders, scanners and registries: a [`Builder`](crate::plugin::build::Builder)
//! writes one, `trivy image --input` and `syft oci-dir:` read it, and a
//! [`Registry`](crate::plugin::registry::Registry) pushes from it.
//!
//! ```
//! use paragon_core::model::oci::{Digest, OciLayout, MEDIA_TYPE_MANIFEST};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let layout = OciLayout::create(dir.path()).unwrap();
//! let (digest, size) = layout.write_blob(b"hello").unwrap();
//! assert_eq!(digest, Digest::of(b"hello"));
//! assert_eq!(size, 5);
//! assert_eq!(layout.read_blob(&digest).unwrap(), b"hello");
//! assert!(layout.resolve("app:1.0.0").unwrap().is_none());
//! # let _ = MEDIA_TYPE_MANIFEST;
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};

/// `application/vnd.oci.image.manifest.v1+json`
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.oci.image.config.v1+json`
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `application/vnd.oci.image.layer.v1.tar+gzip`
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `application/vnd.oci.image.layer.v1.tar`
pub const MEDIA_TYPE_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// `application/vnd.oci.image.layer.v1.tar+zstd`
pub const MEDIA_TYPE_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker's schema 2 manifest (buildah and docker may write these).
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list.
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// The annotation naming a manifest in a layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// `application/vnd.oci.empty.v1+json`: the config of an artifact that has
/// none (OCI image spec 1.1).
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The content of the empty descriptor: `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";

/// A content digest, `sha256:` and 64 lowercase hex digits.
///
/// Only sha256 is produced; sha512 digests are accepted when parsing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest::from_sha256(Sha256::digest(bytes).as_slice())
    }

    /// From a finished sha256 hash.
    pub fn from_sha256(hash: &[u8]) -> Digest {
        let mut s = String::with_capacity(7 + 64);
        s.push_str("sha256:");
        for b in hash {
            s.push_str(&format!("{b:02x}"));
        }
        Digest(s)
    }

    /// The algorithm (`sha256`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    /// The whole digest, `sha256:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Digest> {
        let invalid = |why: &str| Error::InvalidConfig {
            component: "digest".into(),
            message: format!("`{}` is not a valid digest: {why}", shorten(s)),
        };
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| invalid("expected `sha256:<hex>`"))?;
        let len = match alg {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(invalid("the algorithm must be sha256 or sha512")),
        };
        if hex.len() != len || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(invalid(&format!("expected {len} lowercase hex digits")));
        }
        Ok(Digest(s.to_owned()))
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        let mut out: String = s.chars().take(77).collect();
        out.push_str("...");
        out
    } else {
        s.to_owned()
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(s: String) -> Result<Digest> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

/// An image's platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture in Go's naming (`amd64`, `arm64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// Variant (`v8` for arm64), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/<architecture>`.
    pub fn linux(architecture: &str) -> Platform {
        Platform {
            architecture: architecture.into(),
            os: "linux".into(),
            variant: None,
        }
    }

    /// The platform of this machine in OCI naming (`linux/amd64` on x86-64).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform::linux(arch)
    }
}

impl FromStr for Platform {
    type Err = Error;

    /// Parses `os/arch[/variant]` (`linux/arm64/v8`).
    fn from_str(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: parts
                    .get(2)
                    .map(|v| (*v).to_owned())
                    .filter(|v| !v.is_empty()),
            }),
            _ => Err(Error::InvalidConfig {
                component: "platform".into(),
                message: format!("`{}` is not `os/arch[/variant]`", shorten(s)),
            }),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The type of the artifact it describes (in a referrers list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor without annotations or platform.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }

    /// The empty descriptor (`{}`, [`MEDIA_TYPE_EMPTY`]): the config of an
    /// artifact that has none.
    pub fn empty() -> Descriptor {
        Descriptor::new(
            MEDIA_TYPE_EMPTY,
            Digest::of(EMPTY_JSON),
            EMPTY_JSON.len() as u64,
        )
    }

    /// Its `org.opencontainers.image.ref.name` annotation.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_REF_NAME)
            .map(String::as_str)
    }

    /// True for an image index (OCI or Docker manifest list).
    pub fn is_index(&self) -> bool {
        self.media_type == MEDIA_TYPE_INDEX || self.media_type == MEDIA_TYPE_DOCKER_LIST
    }
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The type of artifact it holds, when it is not an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (an SBOM's image, say): it is listed
    /// among that manifest's referrers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// An OCI image manifest of `config` and `layers`, without annotations.
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// An image index (multi-platform image, or a layout's `index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The type of artifact it holds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// The manifest this index refers to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ImageIndex {
    /// Lists `manifest` unless a manifest of its digest is listed already
    /// (as a referrers list keeps each referrer once): true when added.
    pub fn add_manifest(&mut self, manifest: &Descriptor) -> bool {
        if self.manifests.iter().any(|d| d.digest == manifest.digest) {
            return false;
        }
        self.manifests.push(manifest.clone());
        true
    }
}

impl Default for ImageIndex {
    fn default() -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_INDEX.into()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The error of a blob file that cannot be read.
fn blob_read_error(path: &Path, digest: &Digest, e: &std::io::Error) -> Error {
    Error::Layout {
        path: path.to_owned(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!("blob {digest} is missing")
        } else {
            format!("cannot read blob {digest}: {e}")
        },
    }
}

/// A name beside `path` for a file written aside and then renamed over
/// it, unique in this process and across processes.
fn temporary(path: &Path) -> PathBuf {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_extension(format!("tmp-{}-{n}", std::process::id()))
}

/// The sha256 digest of a file, read in chunks; each chunk is also written
/// to `copy` when one is given.
fn streamed_digest(path: &Path, mut copy: Option<&mut fs::File>) -> std::io::Result<Digest> {
    use sha2::Digest as _;
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        if let Some(out) = copy.as_deref_mut() {
            out.write_all(&buf[..n])?;
        }
    }
    Ok(Digest::from_sha256(&hasher.finalize()))
}

/// Copies the blob at `from` to the new file `to`, durably, and returns the
/// digest of what was copied.
fn copy_hashed(from: &Path, to: &Path, digest: &Digest) -> Result<Digest> {
    let write_err = |e: std::io::Error| Error::Layout {
        path: to.to_owned(),
        message: format!("cannot write: {e}"),
    };
    let mut out = fs::File::create(to).map_err(write_err)?;
    let actual = streamed_digest(from, Some(&mut out)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            blob_read_error(from, digest, &e)
        } else {
            Error::Layout {
                path: to.to_owned(),
                message: format!("cannot copy blob {digest} from {}: {e}", from.display()),
            }
        }
    })?;
    out.sync_all().map_err(write_err)?;
    Ok(actual)
}

/// Checks a sha256 blob's content against its digest (`actual` computes
/// the content's); blobs of other algorithms are taken as they are.
fn check_digest(path: &Path, digest: &Digest, actual: impl FnOnce() -> Digest) -> Result<()> {
    if digest.algorithm() == "sha256" && actual() != *digest {
        return Err(Error::Layout {
            path: path.to_owned(),
            message: format!("blob {digest} does not match its digest"),
        });
    }
    Ok(())
}

/// Serializes an OCI JSON document the way this crate writes all of them:
/// compact, fields in declaration order, maps sorted. The same value always
/// gives the same bytes, hence the same digest.
pub fn to_canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("OCI documents serialize")
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

impl OciLayout {
    /// Opens an existing layout (it must have `oci-layout` and `index.json`).
    pub fn open(root: impl Into<PathBuf>) -> Result<OciLayout> {
        let root = root.into();
        let marker = root.join("oci-layout");
        let text = fs::read_to_string(&marker).map_err(|e| Error::Layout {
            path: root.clone(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "not an OCI image layout (no `oci-layout` file)".into()
            } else {
                format!("cannot read `oci-layout`: {e}")
            },
        })?;
        let version: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::Layout {
                path: marker.clone(),
                message: format!("invalid JSON: {e}"),
            })?;
        if version
            .get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none()
        {
            return Err(Error::Layout {
                path: marker,
                message: "no `imageLayoutVersion`".into(),
            });
        }
        let layout = OciLayout { root };
        layout.index()?;
        Ok(layout)
    }

    /// Opens the layout at `root`, creating an empty one if there is none.
    pub fn create(root: impl Into<PathBuf>) -> Result<OciLayout> {
        let root = root.into();
        if root.join("oci-layout").is_file() {
            return OciLayout::open(root);
        }
        let io = |path: &Path, e: std::io::Error| Error::Layout {
            path: path.to_path_buf(),
            message: format!("cannot create: {e}"),
        };
        fs::create_dir_all(root.join("blobs").join("sha256")).map_err(|e| io(&root, e))?;
        let layout = OciLayout { root };
        // Under the index lock, against another process creating the same
        // layout: the index is written only when absent (never emptying
        // one that another writer filled), and before the `oci-layout`
        // marker, so that a layout with the marker always has its index.
        let _lock = layout.lock_index()?;
        if !layout.root.join("index.json").is_file() {
            layout.write_index(&ImageIndex::default())?;
        }
        if !layout.root.join("oci-layout").is_file() {
            layout.write_file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        Ok(layout)
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// True when the blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a blob and checks its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|e| blob_read_error(&path, digest, &e))?;
        check_digest(&path, digest, || Digest::of(&bytes))?;
        Ok(bytes)
    }

    /// Checks a blob against its digest by streaming it from disk (its
    /// bytes are never all in memory) and returns its path and size: for
    /// uploads of layers that may be gigabytes.
    pub fn verified_blob_file(&self, digest: &Digest) -> Result<(PathBuf, u64)> {
        let path = self.blob_path(digest);
        let read = |e: std::io::Error| blob_read_error(&path, digest, &e);
        let size = fs::metadata(&path).map_err(read)?.len();
        let actual = streamed_digest(&path, None).map_err(read)?;
        check_digest(&path, digest, || actual)?;
        Ok((path, size))
    }

    /// Writes a blob (no-op when present) and returns its digest and size.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let digest = Digest::of(bytes);
        if !self.has_blob(&digest) {
            let rel = format!("blobs/sha256/{}", digest.hex());
            self.write_file(&rel, bytes)?;
        }
        Ok((digest, bytes.len() as u64))
    }

    /// Copies a blob from another layout (no-op when present), checked
    /// against its digest and streamed: its bytes are never all in memory.
    /// On one file system the blob is hard-linked rather than copied, which
    /// is safe because a blob is never written in place (every write goes
    /// to a new file renamed over the name).
    pub fn copy_blob_from(&self, other: &OciLayout, digest: &Digest) -> Result<()> {
        if self.has_blob(digest) {
            return Ok(());
        }
        let from = other.blob_path(digest);
        let to = self.blob_path(digest);
        let err = |path: &Path, e: std::io::Error| Error::Layout {
            path: path.to_owned(),
            message: format!("cannot write: {e}"),
        };
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
        }
        let tmp = temporary(&to);
        let copied = if fs::hard_link(&from, &tmp).is_ok() {
            streamed_digest(&tmp, None).map_err(|e| blob_read_error(&from, digest, &e))
        } else {
            copy_hashed(&from, &tmp, digest)
        };
        let checked = copied.and_then(|actual| check_digest(&from, digest, || actual));
        if let Err(e) = checked {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &to).map_err(|e| err(&to, e))
    }

    /// A fresh path in the layout's blob directory for a blob being
    /// written by someone else (a download): once its digest is checked,
    /// [`adopt_checked_blob`](Self::adopt_checked_blob) moves it in place.
    pub fn staging_path(&self) -> PathBuf {
        temporary(&self.root.join("blobs").join("sha256").join("staged"))
    }

    /// Moves the file `staged` (written at [`staging_path`](Self::staging_path)
    /// and checked against `digest` by the caller) to be the blob
    /// `digest`.
    pub fn adopt_checked_blob(&self, staged: &Path, digest: &Digest) -> Result<()> {
        let to = self.blob_path(digest);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::Layout {
                path: parent.to_owned(),
                message: format!("cannot create: {e}"),
            })?;
        }
        fs::rename(staged, &to).map_err(|e| Error::Layout {
            path: to.clone(),
            message: format!("cannot write: {e}"),
        })
    }

    /// Writes a file in the layout atomically (temporary file, then rename).
    fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(rel);
        let err = |e: std::io::Error| Error::Layout {
            path: path.clone(),
            message: format!("cannot write: {e}"),
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(err)?;
        }
        let tmp = temporary(&path);
        let mut file = fs::File::create(&tmp).map_err(err)?;
        file.write_all(bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
        drop(file);
        fs::rename(&tmp, &path).map_err(err)
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).map_err(|e| Error::Layout {
            path: path.clone(),
            message: format!("cannot read: {e}"),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
            path,
            message: format!("invalid index: {e}"),
        })
    }

    /// Replaces `index.json`.
    pub fn write_index(&self, index: &ImageIndex) -> Result<()> {
        self.write_file("index.json", &to_canonical_json(index))
    }

    /// The manifest descriptor named `ref_name`, if any.
    pub fn resolve(&self, ref_name: &str) -> Result<Option<Descriptor>> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .find(|d| d.ref_name() == Some(ref_name)))
    }

    /// Locks the layout's index against every other writer, in this
    /// process or another (an exclusive `flock` on `.paragon-index.lock`
    /// in the layout): the lock is held until the returned file drops.
    /// Every change of the index through this type takes it, so two
    /// writers never lose each other's names.
    fn lock_index(&self) -> Result<fs::File> {
        let path = self.root.join(".paragon-index.lock");
        let err = |e: std::io::Error| Error::Layout {
            path: path.clone(),
            message: format!("cannot lock the index: {e}"),
        };
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(err)?;
        file.lock().map_err(err)?;
        Ok(file)
    }

    /// Points `ref_name` at `descriptor` (replacing what it named before).
    pub fn set_ref(&self, ref_name: &str, descriptor: &Descriptor) -> Result<()> {
        let _lock = self.lock_index()?;
        self.name(ref_name, descriptor)
    }

    /// Points `ref_name` at `descriptor` only when no image has that name
    /// yet, atomically against every other writer of the layout: true when
    /// this call named it.
    pub fn set_ref_if_absent(&self, ref_name: &str, descriptor: &Descriptor) -> Result<bool> {
        let _lock = self.lock_index()?;
        if self.resolve(ref_name)?.is_some() {
            return Ok(false);
        }
        self.name(ref_name, descriptor)?;
        Ok(true)
    }

    /// Points `ref_name` at `descriptor` only while it names the manifest
    /// `expected` (`None`: no manifest), atomically against every other
    /// writer of the layout: `Ok(Ok(()))` when this call moved it,
    /// `Ok(Err(found))` with the digest it names (`None`: none) when that
    /// is something else, which is left as it is.
    pub fn swap_ref(
        &self,
        ref_name: &str,
        expected: Option<&Digest>,
        descriptor: &Descriptor,
    ) -> Result<std::result::Result<(), Option<Digest>>> {
        let _lock = self.lock_index()?;
        let found = self.resolve(ref_name)?.map(|d| d.digest);
        if found.as_ref() != expected {
            return Ok(Err(found));
        }
        self.name(ref_name, descriptor)?;
        Ok(Ok(()))
    }

    /// Adds `referrer` to the image index named `ref_name` (made when
    /// absent), atomically against every other writer of the layout: true
    /// when it was added, false when the index listed it already. This is
    /// how a layout keeps a referrers list under the referrers tag schema.
    ///
    /// # Errors
    ///
    /// [`Error::Layout`] when `ref_name` names something other than an OCI
    /// image index (which is left as it is), or the layout cannot be
    /// written.
    pub fn add_to_index(&self, ref_name: &str, referrer: &Descriptor) -> Result<bool> {
        let _lock = self.lock_index()?;
        let mut index = match self.resolve(ref_name)? {
            None => ImageIndex::default(),
            Some(d) if d.media_type == MEDIA_TYPE_INDEX => self.image_index(&d.digest)?,
            Some(d) => {
                return Err(Error::Layout {
                    path: self.root.clone(),
                    message: format!(
                    "`{ref_name}` names a {}, not an image index of referrers; it is left as it is",
                    d.media_type
                ),
                })
            }
        };
        if !index.add_manifest(referrer) {
            return Ok(false);
        }
        let (digest, size) = self.write_blob(&to_canonical_json(&index))?;
        self.name(ref_name, &Descriptor::new(MEDIA_TYPE_INDEX, digest, size))?;
        Ok(true)
    }

    /// [`set_ref`](Self::set_ref) with the lock held.
    fn name(&self, ref_name: &str, descriptor: &Descriptor) -> Result<()> {
        let mut index = self.index()?;
        index.manifests.retain(|d| d.ref_name() != Some(ref_name));
        let mut d = descriptor.clone();
        d.annotations
            .insert(ANNOTATION_REF_NAME.into(), ref_name.into());
        index.manifests.push(d);
        self.write_index(&index)
    }

    /// Removes the name `ref_name`; true when it was there.
    pub fn remove_ref(&self, ref_name: &str) -> Result<bool> {
        let _lock = self.lock_index()?;
        let mut index = self.index()?;
        let before = index.manifests.len();
        index.manifests.retain(|d| d.ref_name() != Some(ref_name));
        let removed = index.manifests.len() != before;
        if removed {
            self.write_index(&index)?;
        }
        Ok(removed)
    }

    /// The descriptor of the manifest or index stored as the blob
    /// `digest` (its media type from the document's `mediaType`, else from
    /// its shape), when the layout holds that blob.
    pub fn descriptor_of(&self, digest: &Digest) -> Result<Option<Descriptor>> {
        if !self.has_blob(digest) {
            return Ok(None);
        }
        let bytes = self.read_blob(digest)?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
            path: self.blob_path(digest),
            message: format!("not a manifest or index: {e}"),
        })?;
        let media_type = match doc.get("mediaType").and_then(|m| m.as_str()) {
            Some(m) => m.to_owned(),
            None if doc.get("manifests").is_some() => MEDIA_TYPE_INDEX.to_owned(),
            None => MEDIA_TYPE_MANIFEST.to_owned(),
        };
        Ok(Some(Descriptor::new(
            media_type,
            digest.clone(),
            bytes.len() as u64,
        )))
    }

    /// Reads and parses an image manifest blob.
    pub fn manifest(&self, digest: &Digest) -> Result<ImageManifest> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
            path: self.blob_path(digest),
            message: format!("invalid image manifest: {e}"),
        })
    }

    /// Reads and parses an image index blob.
    pub fn image_index(&self, digest: &Digest) -> Result<ImageIndex> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Layout {
            path: self.blob_path(digest),
            message: format!("invalid image index: {e}"),
        })
    }

    /// Every blob an image (manifest or index) needs, children before the
    /// documents that name them, the root last; each checked present.
    pub fn closure(&self, root: &Descriptor) -> Result<Vec<Descriptor>> {
        let mut out = Vec::new();
        self.walk(root, &mut out, 0)?;
        Ok(out)
    }

    fn walk(&self, d: &Descriptor, out: &mut Vec<Descriptor>, depth: usize) -> Result<()> {
        if depth > 4 {
            return Err(Error::Layout {
                path: self.root.clone(),
                message: format!("indexes nested too deeply at {}", d.digest),
            });
        }
        if d.is_index() {
            let index = self.image_index(&d.digest)?;
            for m in &index.manifests {
                self.walk(m, out, depth + 1)?;
            }
        } else if d.media_type == MEDIA_TYPE_MANIFEST || d.media_type == MEDIA_TYPE_DOCKER_MANIFEST
        {
            let m = self.manifest(&d.digest)?;
            for blob in std::iter::once(&m.config).chain(&m.layers) {
                if !self.has_blob(&blob.digest) {
                    return Err(Error::Layout {
                        path: self.blob_path(&blob.digest),
                        message: format!("blob {} named by {} is missing", blob.digest, d.digest),
                    });
                }
                if !out.iter().any(|o| o.digest == blob.digest) {
                    out.push(blob.clone());
                }
            }
        } else {
            return Err(Error::Layout {
                path: self.root.clone(),
                message: format!("{} has unsupported media type `{}`", d.digest, d.media_type),
            });
        }
        if !out.iter().any(|o| o.digest == d.digest) {
            let mut plain = d.clone();
            plain.annotations.remove(ANNOTATION_REF_NAME);
            out.push(plain);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_and_reject() {
        let d = Digest::of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.as_str().parse::<Digest>().unwrap(), d);
        for bad in ["", "sha256:", "md5:abc", "sha256:ABC", "sha256:zz"] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn platforms_parse() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
    }

    #[test]
    fn refs_are_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let (a, size) = layout.write_blob(b"{}").unwrap();
        let d = Descriptor::new(MEDIA_TYPE_MANIFEST, a.clone(), size);
        layout.set_ref("app:1", &d).unwrap();
        layout.set_ref("app:1", &d).unwrap();
        assert_eq!(layout.index().unwrap().manifests.len(), 1);
        assert_eq!(layout.resolve("app:1").unwrap().unwrap().digest, a);
        assert!(layout.remove_ref("app:1").unwrap());
        assert!(!layout.remove_ref("app:1").unwrap());
        let reopened = OciLayout::open(dir.path()).unwrap();
        assert!(reopened.index().unwrap().manifests.is_empty());
    }

    #[test]
    fn a_directory_that_is_not_a_layout_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = OciLayout::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not an OCI image layout"), "{err}");
    }

    /// Blobs are copied between layouts by a link or a streamed copy, both
    /// checked: a blob that does not match its digest is refused and
    /// leaves nothing behind.
    #[test]
    fn blobs_are_copied_checked() {
        let dir = tempfile::tempdir().unwrap();
        let from = OciLayout::create(dir.path().join("from")).unwrap();
        let to = OciLayout::create(dir.path().join("to")).unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let (d, _) = from.write_blob(&big).unwrap();
        to.copy_blob_from(&from, &d).unwrap();
        assert_eq!(to.read_blob(&d).unwrap(), big);

        let copy = dir.path().join("copied");
        assert_eq!(copy_hashed(&from.blob_path(&d), &copy, &d).unwrap(), d);
        assert_eq!(fs::read(&copy).unwrap(), big);

        let (bad, _) = from.write_blob(b"abc").unwrap();
        fs::write(from.blob_path(&bad), b"abd").unwrap();
        let err = to.copy_blob_from(&from, &bad).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(!to.has_blob(&bad));
        let left: Vec<_> = fs::read_dir(to.root().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from(d.hex())]);

        let missing = Digest::of(b"never written");
        let err = to.copy_blob_from(&from, &missing).unwrap_err();
        assert!(err.to_string().contains("is missing"), "{err}");
    }

    #[test]
    fn a_corrupted_blob_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let (d, _) = layout.write_blob(b"abc").unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (big_digest, size) = layout.write_blob(&big).unwrap();
        assert_eq!(
            layout.verified_blob_file(&big_digest).unwrap(),
            (layout.blob_path(&big_digest), size)
        );
        fs::write(layout.blob_path(&d), b"abd").unwrap();
        let err = layout.read_blob(&d).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        let err = layout.verified_blob_file(&d).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        fs::remove_file(layout.blob_path(&d)).unwrap();
        let err = layout.verified_blob_file(&d).unwrap_err();
        assert!(err.to_string().contains("is missing"), "{err}");
    }
}
