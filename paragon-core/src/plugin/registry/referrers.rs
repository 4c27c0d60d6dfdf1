//! OCI 1.1 referrers: artifacts that refer to an image (its SBOM, say)
//! through their manifest's `subject`, and the list of them a registry
//! keeps for each image.
//!
//! An [`Artifact`] is one or more blobs under an `artifactType`, with the
//! image as its subject and the empty descriptor as its config (OCI image
//! spec 1.1). [`attach`] pushes it untagged; the registry then lists it
//! among the image's [`referrers`](super::Registry::referrers). A registry
//! serving the referrers API (`GET /v2/<name>/referrers/<digest>`) keeps
//! that list itself; for one that does not, the push keeps it as an image
//! index tagged [`referrers_tag`] (the distribution spec's referrers tag
//! schema), which `oras discover` and other clients read the same way.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use paragon_core::plugin::build::testing::minimal_image;
//! use paragon_core::plugin::registry::referrers::{attach, Artifact, ARTIFACT_TYPE_CYCLONEDX};
//! use paragon_core::{CallContext, MemoryRegistry, Registry};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let image = minimal_image(dir.path(), "demo").unwrap();
//! let registry = MemoryRegistry::new();
//! let repo = "shop/app".parse().unwrap();
//! let ctx = CallContext::new();
//! registry.push(&image, &repo, &[], &ctx).await.unwrap();
//! let sbom = Artifact::new(ARTIFACT_TYPE_CYCLONEDX, image.descriptor())
//!     .with_blob(ARTIFACT_TYPE_CYCLONEDX, br#"{"bomFormat":"CycloneDX"}"#.to_vec());
//! let attached = attach(&registry, &repo, &sbom, &ctx).await.unwrap();
//! let listed = registry.referrers(&repo, &image.digest, Some(ARTIFACT_TYPE_CYCLONEDX), &ctx).await.unwrap();
//! assert_eq!(listed[0].digest, attached.digest);
//! # });
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Pushed, Registry, Repository, Tag};
use crate::error::{Error, Result};
use crate::model::oci::{
    to_canonical_json, Descriptor, Digest, ImageManifest, OciLayout, EMPTY_JSON, MEDIA_TYPE_INDEX,
    MEDIA_TYPE_MANIFEST,
};
use crate::plugin::build::BuiltImage;
use crate::plugin::context::CallContext;

/// `application/vnd.cyclonedx+json`: the artifact type of a CycloneDX JSON
/// SBOM, and the media type of its blob.
pub const ARTIFACT_TYPE_CYCLONEDX: &str = "application/vnd.cyclonedx+json";

/// The tag under which a registry without the referrers API keeps the
/// list of `digest`'s referrers (the distribution spec's referrers tag
/// schema): the algorithm, `-`, and the encoded part (`sha256-<hex>`).
///
/// ```
/// use paragon_core::plugin::registry::referrers_tag;
/// let digest = paragon_core::Digest::of(b"image");
/// assert_eq!(referrers_tag(&digest).as_str(), format!("sha256-{}", digest.hex()));
/// ```
pub fn referrers_tag(digest: &Digest) -> Tag {
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .take(n)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let name = format!(
        "{}-{}",
        clean(digest.algorithm(), 32),
        clean(digest.hex(), 64)
    );
    Tag::new(name).expect("a digest's algorithm and hex make a valid tag")
}

/// The parts of a manifest or index that say what it refers to.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Referring {
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<Config>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    media_type: String,
}

/// The subject of the manifest or index `bytes` (of `media_type`, stored as
/// `digest`) and the descriptor under which it belongs in that subject's
/// referrers list, as the distribution spec has it: its `artifactType`, or
/// for a manifest without one its config's media type, and every
/// annotation it carries. `None` when it has no subject.
///
/// # Errors
///
/// [`Error::Layout`] when `bytes` is not a JSON manifest or index.
pub fn referrer_of(
    bytes: &[u8],
    media_type: &str,
    digest: &Digest,
) -> Result<Option<(Digest, Descriptor)>> {
    let doc: Referring = serde_json::from_slice(bytes).map_err(|e| Error::Layout {
        path: Default::default(),
        message: format!("manifest {digest} is not a JSON manifest or index: {e}"),
    })?;
    let Some(subject) = doc.subject else {
        return Ok(None);
    };
    let mut d = Descriptor::new(media_type, digest.clone(), bytes.len() as u64);
    d.artifact_type = doc
        .artifact_type
        .filter(|t| !t.is_empty())
        .or_else(|| doc.config.map(|c| c.media_type));
    d.annotations = doc.annotations;
    Ok(Some((subject.digest, d)))
}

/// Keeps the descriptors of `artifact_type` (all when `None`).
pub fn of_type(listed: Vec<Descriptor>, artifact_type: Option<&str>) -> Vec<Descriptor> {
    match artifact_type {
        None => listed,
        Some(t) => listed
            .into_iter()
            .filter(|d| d.artifact_type.as_deref() == Some(t))
            .collect(),
    }
}

/// An artifact that refers to an image: blobs under an artifact type, with
/// the image as the manifest's `subject` (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Artifact {
    artifact_type: String,
    subject: Descriptor,
    blobs: Vec<(String, Vec<u8>)>,
    annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// An artifact of `artifact_type` (`application/vnd.cyclonedx+json`)
    /// referring to the manifest `subject`.
    pub fn new(artifact_type: impl Into<String>, subject: Descriptor) -> Artifact {
        let mut subject = subject;
        subject.annotations.clear();
        subject.platform = None;
        Artifact {
            artifact_type: artifact_type.into(),
            subject,
            blobs: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// Adds a blob of `media_type`.
    #[must_use]
    pub fn with_blob(mut self, media_type: impl Into<String>, bytes: Vec<u8>) -> Artifact {
        self.blobs.push((media_type.into(), bytes));
        self
    }

    /// Adds an annotation to the manifest; it is copied into the referrers
    /// list, so clients can choose among referrers without fetching them.
    #[must_use]
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Artifact {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Its artifact type.
    pub fn artifact_type(&self) -> &str {
        &self.artifact_type
    }

    /// Writes it as an OCI layout at `dir` (created when absent), named
    /// `artifact`: the empty config, one layer per blob (the empty
    /// descriptor when there are none), `artifactType`, `subject` and the
    /// annotations.
    ///
    /// # Errors
    ///
    /// [`Error::Layout`] when the layout cannot be written.
    pub fn write(&self, dir: &Path) -> Result<BuiltImage> {
        let layout = OciLayout::create(dir)?;
        layout.write_blob(EMPTY_JSON)?;
        let mut layers = Vec::new();
        for (media_type, bytes) in &self.blobs {
            let (digest, size) = layout.write_blob(bytes)?;
            layers.push(Descriptor::new(media_type.clone(), digest, size));
        }
        if layers.is_empty() {
            layers.push(Descriptor::empty());
        }
        let mut manifest = ImageManifest::new(Descriptor::empty(), layers);
        manifest.artifact_type = Some(self.artifact_type.clone());
        manifest.subject = Some(self.subject.clone());
        manifest.annotations = self.annotations.clone();
        let (digest, size) = layout.write_blob(&to_canonical_json(&manifest))?;
        layout.set_ref(
            "artifact",
            &Descriptor::new(MEDIA_TYPE_MANIFEST, digest, size),
        )?;
        BuiltImage::from_layout(dir, Some("artifact"))
    }
}

/// What [`attach`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attached {
    /// The image it refers to.
    pub subject: Digest,
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// Its artifact type.
    pub artifact_type: String,
    /// The push (its [`referrers_tag`](Pushed::referrers_tag) is set where
    /// the registry keeps the list under a tag).
    pub pushed: Pushed,
}

/// Pushes `artifact` to `repository` untagged, so that the registry lists
/// it among its subject's [`referrers`](Registry::referrers).
///
/// # Errors
///
/// The registry's errors (a registry that cannot hold referrers answers
/// [`Error::Unsupported`]); [`Error::Io`] when no scratch directory can be
/// made.
pub async fn attach(
    registry: &dyn Registry,
    repository: &Repository,
    artifact: &Artifact,
    ctx: &CallContext,
) -> Result<Attached> {
    let scratch = tempfile::Builder::new()
        .prefix("paragon-artifact-")
        .tempdir()
        .map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let image = artifact.write(&scratch.path().join("artifact"))?;
    let pushed = registry.push(&image, repository, &[], ctx).await?;
    tracing::info!(
        subject = %artifact.subject.digest,
        digest = %image.digest,
        artifact_type = %artifact.artifact_type,
        referrers_tag = pushed.referrers_tag.as_deref().unwrap_or("-"),
        "attached"
    );
    Ok(Attached {
        subject: artifact.subject.digest.clone(),
        digest: image.digest,
        artifact_type: artifact.artifact_type.clone(),
        pushed,
    })
}

/// Reads a referrers list: `bytes` must be an OCI image index (the
/// `mediaType` says so, or is absent and the `Content-Type` does).
///
/// # Errors
///
/// A description of what it is instead.
pub fn parse_list(
    bytes: &[u8],
    content_type: Option<&str>,
) -> std::result::Result<crate::model::oci::ImageIndex, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let media_type = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .or(content_type);
    if media_type != Some(MEDIA_TYPE_INDEX) {
        return Err(format!(
            "a {}, not an image index",
            media_type.unwrap_or("document without a media type")
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("an invalid image index ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_referrer_carries_its_type_and_annotations() {
        let subject = Descriptor::new(MEDIA_TYPE_MANIFEST, Digest::of(b"image"), 5);
        let dir = tempfile::tempdir().unwrap();
        let artifact = Artifact::new(ARTIFACT_TYPE_CYCLONEDX, subject.clone())
            .with_blob(ARTIFACT_TYPE_CYCLONEDX, b"{}".to_vec())
            .with_annotation("org.opencontainers.image.created", "now");
        let image = artifact.write(dir.path()).unwrap();
        let layout = OciLayout::open(dir.path()).unwrap();
        let bytes = layout.read_blob(&image.digest).unwrap();
        let (of, d) = referrer_of(&bytes, MEDIA_TYPE_MANIFEST, &image.digest)
            .unwrap()
            .unwrap();
        assert_eq!(of, subject.digest);
        assert_eq!(d.artifact_type.as_deref(), Some(ARTIFACT_TYPE_CYCLONEDX));
        assert_eq!(d.annotations["org.opencontainers.image.created"], "now");
        assert_eq!(d.size, bytes.len() as u64);
        // Without an artifactType, a manifest's config media type stands in.
        let plain = br#"{"schemaVersion":2,"config":{"mediaType":"application/x-c","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}}"#;
        let (_, d) = referrer_of(plain, MEDIA_TYPE_MANIFEST, &Digest::of(plain))
            .unwrap()
            .unwrap();
        assert_eq!(d.artifact_type.as_deref(), Some("application/x-c"));
        // No subject, no referrer; not JSON, an error.
        let m = layout.read_blob(&image.digest).unwrap();
        let no_subject = String::from_utf8(m)
            .unwrap()
            .replace("\"subject\"", "\"x\"");
        assert!(
            referrer_of(no_subject.as_bytes(), MEDIA_TYPE_MANIFEST, &image.digest)
                .unwrap()
                .is_none()
        );
        assert!(referrer_of(b"<html>", MEDIA_TYPE_MANIFEST, &image.digest).is_err());
    }

    #[test]
    fn the_empty_descriptor_is_the_one_the_spec_names() {
        let d = Descriptor::empty();
        assert_eq!(
            d.digest.as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(d.size, 2);
    }

    #[test]
    fn lists_must_be_indexes() {
        let index = to_canonical_json(&crate::model::oci::ImageIndex::default());
        assert!(parse_list(&index, None).is_ok());
        let manifest = to_canonical_json(&ImageManifest::new(Descriptor::empty(), vec![]));
        let err = parse_list(&manifest, Some(MEDIA_TYPE_INDEX)).unwrap_err();
        assert!(
            err.contains("application/vnd.oci.image.manifest.v1+json"),
            "{err}"
        );
        assert!(parse_list(b"{}", Some(MEDIA_TYPE_INDEX)).is_err());
        assert!(parse_list(b"nope", None).unwrap_err().contains("not JSON"));
    }
}
