//! A registry that is one OCI image layout on disk: the embedded default
//! when no registry service is configured.
//!
//! Every repository shares the layout's blobs; a tag is a manifest entry in
//! `index.json` whose `org.opencontainers.image.ref.name` annotation is
//! `repository:tag`. Pushes from one process are serialized, and every
//! change of the index holds a file lock on the layout, so writers in
//! other processes lose none of each other's tags; [`Registry::push_if`]
//! moves a tag only from the image the caller read. The index is replaced
//! atomically (written aside, then renamed), so a reader never sees a
//! half-written index.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use paragon_core::plugin::build::testing::minimal_image;
//! use paragon_core::plugin::registry::Registry;
//! use paragon_core::CallContext;
//! use paragon_registry::LayoutRegistry;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let image = minimal_image(&dir.path().join("build"), "demo").unwrap();
//! let registry = LayoutRegistry::new(dir.path().join("registry"));
//! let tags = paragon_core::plugin::registry::tags(["1.0.0", "latest"]).unwrap();
//! let ctx = CallContext::new();
//! registry.push(&image, &"shop/app".parse().unwrap(), &tags, &ctx).await.unwrap();
//! assert_eq!(registry.list_tags(&"shop/app".parse().unwrap(), &ctx).await.unwrap(), ["1.0.0", "latest"]);
//! # });
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use paragon_core::model::oci::{Descriptor, MEDIA_TYPE_INDEX};
use paragon_core::model::oci::{Digest, OciLayout};
use paragon_core::plugin::build::BuiltImage;
use paragon_core::plugin::registry::referrers::{of_type, referrer_of};
use paragon_core::plugin::registry::{
    referrers_tag, tag_moved, Pushed, Reference, Registry, Repository, Tag,
};
use paragon_core::{CallContext, Error, ErrorKind, Result};
use tokio::sync::Mutex;

/// A registry in one OCI layout directory (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct LayoutRegistry {
    root: PathBuf,
    lock: Arc<Mutex<()>>,
}

impl LayoutRegistry {
    /// A registry at `root` (created on the first push).
    pub fn new(root: impl Into<PathBuf>) -> LayoutRegistry {
        LayoutRegistry {
            root: root.into(),
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The image tagged `repository:tag`, as a [`BuiltImage`] that scanners
    /// (`trivy image --input`, `syft oci-dir:`) and other registries can use.
    pub fn image(&self, repository: &str, tag: &str) -> Result<BuiltImage> {
        BuiltImage::from_layout(&self.root, Some(&ref_name(repository, tag)))
    }

    fn open(&self) -> Result<Option<OciLayout>> {
        if self.root.join("oci-layout").is_file() {
            OciLayout::open(&self.root).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The manifest `reference` names in `repository`: a tag's, or a manifest
/// with that digest tagged in the repository or part of one that is.
fn find(
    layout: &OciLayout,
    repository: &str,
    reference: &Reference,
) -> Result<Option<paragon_core::model::oci::Descriptor>> {
    let prefix = format!("{repository}:");
    let roots: Vec<_> = layout
        .index()?
        .manifests
        .into_iter()
        .filter(|d| d.ref_name().is_some_and(|n| n.starts_with(&prefix)))
        .collect();
    let digest = match reference {
        Reference::Tag(t) => {
            let name = ref_name(repository, t.as_str());
            return Ok(roots
                .into_iter()
                .find(|d| d.ref_name() == Some(name.as_str()))
                .map(|mut d| {
                    d.annotations.clear();
                    d
                }));
        }
        Reference::Digest(d) => d,
    };
    for root in roots {
        if root.digest == *digest {
            let mut d = root;
            d.annotations.clear();
            return Ok(Some(d));
        }
        if let Some(d) = layout
            .closure(&root)?
            .into_iter()
            .find(|d| d.digest == *digest && d.media_type.contains("manifest"))
        {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

fn ref_name(repository: &str, tag: &str) -> String {
    format!("{repository}:{tag}")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::InvalidConfig {
            component: "oci-layout".into(),
            message: format!("a layout task failed: {e}"),
        })?
}

impl LayoutRegistry {
    /// Copies `image` into the layout and points `tags` at it; with
    /// `expected`, the one tag only if it names that image now (`None`: no
    /// image), checked and moved under the index lock.
    async fn store(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tags: &[Tag],
        expected: Option<Option<&Digest>>,
        ctx: &CallContext,
    ) -> Result<Pushed> {
        let _guard = self.lock.lock().await;
        layout_cancelled(ctx)?;
        let location = self.location();
        let root = self.root.clone();
        let image = image.clone();
        let repository = repository.clone();
        let tags = tags.to_vec();
        let expected = expected.map(|e| e.cloned());
        let cancel = ctx.cancel.clone();
        blocking(move || {
            let source = OciLayout::open(&image.layout)?;
            let blobs = source.closure(&image.descriptor())?;
            let target = OciLayout::create(&root)?;
            let names: Vec<String> = tags.iter().map(Tag::to_string).collect();
            let mut pushed = Pushed::new(
                &root.display().to_string(),
                repository.as_str(),
                image.digest.clone(),
                names,
            );
            for blob in &blobs {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled {
                        tool: "oci-layout registry".into(),
                    });
                }
                if target.has_blob(&blob.digest) {
                    pushed.skipped += 1;
                } else {
                    target.copy_blob_from(&source, &blob.digest)?;
                    pushed.uploaded += 1;
                }
            }
            for t in &tags {
                let name = ref_name(repository.as_str(), t.as_str());
                match &expected {
                    None => target.set_ref(&name, &image.descriptor())?,
                    Some(expected) => {
                        if let Err(found) =
                            target.swap_ref(&name, expected.as_ref(), &image.descriptor())?
                        {
                            return Err(tag_moved(
                                &location,
                                &repository,
                                t,
                                expected.as_ref(),
                                found.as_ref(),
                            ));
                        }
                    }
                }
            }
            let root_bytes = target.read_blob(&image.digest)?;
            if let Some((subject, referrer)) =
                referrer_of(&root_bytes, &image.media_type, &image.digest)?
            {
                let tag = referrers_tag(&subject);
                target.add_to_index(&ref_name(repository.as_str(), tag.as_str()), &referrer)?;
                pushed.referrers_tag = Some(tag.to_string());
            }
            Ok(pushed)
        })
        .await
    }

    fn not_pushed(&self, repository: &str, tag: &str, digest: &Digest) -> Error {
        Error::Registry {
            host: self.location(),
            operation: format!("tag {repository}:{tag}"),
            message: format!("{digest} was not pushed to the layout"),
            kind: ErrorKind::NotFound,
        }
    }
}

/// [`Error::Cancelled`] of the layout registry once `ctx` is cancelled.
fn layout_cancelled(ctx: &CallContext) -> Result<()> {
    if ctx.cancel.is_cancelled() {
        return Err(Error::Cancelled {
            tool: "oci-layout registry".into(),
        });
    }
    Ok(())
}

#[async_trait]
impl Registry for LayoutRegistry {
    fn name(&self) -> &str {
        "oci-layout"
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }

    async fn push(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tags: &[Tag],
        ctx: &CallContext,
    ) -> Result<Pushed> {
        self.store(image, repository, tags, None, ctx).await
    }

    /// Atomic against every writer of the layout, in this process or
    /// another (the layout's index lock).
    async fn push_if(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tag: &Tag,
        expected: Option<&Digest>,
        ctx: &CallContext,
    ) -> Result<Pushed> {
        self.store(
            image,
            repository,
            std::slice::from_ref(tag),
            Some(expected),
            ctx,
        )
        .await
    }

    async fn resolve(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<Option<Digest>> {
        let repository = repository.as_str();
        let tag = tag.as_str();
        layout_cancelled(ctx)?;
        let Some(layout) = self.open()? else {
            return Ok(None);
        };
        Ok(layout
            .resolve(&ref_name(repository, tag))?
            .map(|d| d.digest))
    }

    async fn list_tags(&self, repository: &Repository, ctx: &CallContext) -> Result<Vec<String>> {
        let repository = repository.as_str();
        layout_cancelled(ctx)?;
        let Some(layout) = self.open()? else {
            return Ok(Vec::new());
        };
        let prefix = format!("{repository}:");
        let mut tags: Vec<String> = layout
            .index()?
            .manifests
            .iter()
            .filter_map(|d| d.ref_name()?.strip_prefix(&prefix).map(str::to_owned))
            .filter(|t| !t.contains(':') && !t.contains('/'))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(tags)
    }

    /// Atomic against every writer of the layout, in this process or
    /// another (the layout's index lock).
    async fn create_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        let repository = repository.as_str();
        let tag = tag.as_str();
        let _guard = self.lock.lock().await;
        layout_cancelled(ctx)?;
        let Some(layout) = self.open()? else {
            return Err(self.not_pushed(repository, tag, digest));
        };
        let Some(descriptor) = layout.descriptor_of(digest)? else {
            return Err(self.not_pushed(repository, tag, digest));
        };
        let name = ref_name(repository, tag);
        blocking(move || layout.set_ref_if_absent(&name, &descriptor)).await
    }

    async fn delete_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<()> {
        let repository = repository.as_str();
        let tag = tag.as_str();
        let _guard = self.lock.lock().await;
        layout_cancelled(ctx)?;
        let removed = match self.open()? {
            Some(layout) => layout.remove_ref(&ref_name(repository, tag))?,
            None => false,
        };
        if removed {
            Ok(())
        } else {
            Err(Error::Registry {
                host: self.location(),
                operation: format!("delete tag {repository}:{tag}"),
                message: "no such tag".into(),
                kind: ErrorKind::NotFound,
            })
        }
    }

    async fn pull(
        &self,
        repository: &Repository,
        reference: &Reference,
        into: &Path,
        ctx: &CallContext,
    ) -> Result<Option<paragon_core::plugin::build::BuiltImage>> {
        layout_cancelled(ctx)?;
        let Some(source) = self.open()? else {
            return Ok(None);
        };
        let (repository, reference, into) =
            (repository.to_string(), reference.clone(), into.to_owned());
        let cancel = ctx.cancel.clone();
        blocking(move || {
            let Some(root) = find(&source, &repository, &reference)? else {
                return Ok(None);
            };
            let target = OciLayout::create(&into)?;
            for blob in source.closure(&root)? {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled {
                        tool: "oci-layout registry".into(),
                    });
                }
                target.copy_blob_from(&source, &blob.digest)?;
            }
            let name = reference.to_string();
            target.set_ref(&name, &root)?;
            paragon_core::plugin::build::BuiltImage::from_layout(&into, Some(&name)).map(Some)
        })
        .await
    }

    /// From the index the layout keeps under the referrers tag schema
    /// (`repository:sha256-<hex>`), which [`push`](Registry::push) of a
    /// manifest with a subject maintains.
    async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Vec<Descriptor>> {
        layout_cancelled(ctx)?;
        let Some(layout) = self.open()? else {
            return Ok(Vec::new());
        };
        let tag = referrers_tag(digest);
        let Some(listed) = layout.resolve(&ref_name(repository.as_str(), tag.as_str()))? else {
            return Ok(Vec::new());
        };
        if listed.media_type != MEDIA_TYPE_INDEX {
            // The distribution spec: a referrers tag that holds no index
            // means no referrers.
            tracing::warn!(
                layout = %self.location(), %repository, tag = %tag, media_type = %listed.media_type,
                "the referrers tag names no image index; no referrers listed"
            );
            return Ok(Vec::new());
        }
        Ok(of_type(
            layout.image_index(&listed.digest)?.manifests,
            artifact_type,
        ))
    }
}
