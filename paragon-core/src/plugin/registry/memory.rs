//! A registry in memory, for engine tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{Pushed, Reference, Registry, Repository, Tag};
use crate::error::{Error, Result};
use crate::model::oci::{Descriptor, Digest, ImageIndex, OciLayout};
use crate::plugin::build::BuiltImage;
use crate::plugin::context::CallContext;

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
    /// Each pushed root, with what a pull gives back.
    images: BTreeMap<Digest, Stored>,
    /// The referrers list of each subject, in the order they were pushed.
    referrers: BTreeMap<Digest, ImageIndex>,
}

/// A pushed manifest's descriptor and the bytes of every blob it needs
/// (itself included).
#[derive(Debug, Clone)]
struct Stored {
    root: Descriptor,
    blobs: Vec<Arc<[u8]>>,
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

    /// Stores `image` in `repository` and points `tags` at it; with
    /// `expected`, only if the one tag names that image now (`None`: no
    /// image), checked under the same lock.
    fn store(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tags: &[Tag],
        expected: Option<Option<&Digest>>,
        ctx: &CallContext,
    ) -> Result<Pushed> {
        memory_cancelled(ctx)?;
        let layout = OciLayout::open(&image.layout)?;
        let blobs = layout.closure(&image.descriptor())?;
        let mut content = Vec::with_capacity(blobs.len());
        for b in &blobs {
            content.push(Arc::from(layout.read_blob(&b.digest)?));
        }
        // The closure ends with the root manifest itself.
        let root = content.last().expect("a closure holds its root");
        let referrer = super::referrers::referrer_of(root, &image.media_type, &image.digest)?;
        let mut repos = self.lock();
        let repo = repos.entry(repository.to_string()).or_default();
        if let Some(expected) = expected {
            for t in tags {
                let found = repo.tags.get(t.as_str());
                if found != expected {
                    return Err(super::tag_moved("memory", repository, t, expected, found));
                }
            }
        }
        if let Some((subject, descriptor)) = referrer {
            repo.referrers
                .entry(subject)
                .or_default()
                .add_manifest(&descriptor);
        }
        repo.manifests.insert(image.digest.clone());
        repo.images.insert(
            image.digest.clone(),
            Stored {
                root: image.descriptor(),
                blobs: content,
            },
        );
        for t in tags {
            repo.tags.insert(t.to_string(), image.digest.clone());
        }
        let names = tags.iter().map(Tag::to_string).collect();
        let mut pushed = Pushed::new("memory", repository.as_str(), image.digest.clone(), names);
        pushed.uploaded = blobs.len();
        Ok(pushed)
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
        repository: &Repository,
        tags: &[Tag],
        ctx: &CallContext,
    ) -> Result<Pushed> {
        self.store(image, repository, tags, None, ctx)
    }

    /// Atomic: the tag is checked and moved under the registry's lock.
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
    }

    async fn resolve(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<Option<Digest>> {
        memory_cancelled(ctx)?;
        Ok(self
            .lock()
            .get(repository.as_str())
            .and_then(|r| r.tags.get(tag.as_str()).cloned()))
    }

    async fn list_tags(&self, repository: &Repository, ctx: &CallContext) -> Result<Vec<String>> {
        memory_cancelled(ctx)?;
        Ok(self
            .lock()
            .get(repository.as_str())
            .map(|r| r.tags.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn create_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        memory_cancelled(ctx)?;
        let mut repos = self.lock();
        let repo = repos.entry(repository.to_string()).or_default();
        if !repo.manifests.contains(digest) {
            return Err(Error::Registry {
                host: "memory".into(),
                operation: format!("tag {repository}:{tag}"),
                message: format!("{digest} was not pushed to {repository}"),
                kind: crate::ErrorKind::NotFound,
            });
        }
        if repo.tags.contains_key(tag.as_str()) {
            return Ok(false);
        }
        repo.tags.insert(tag.to_string(), digest.clone());
        Ok(true)
    }

    async fn delete_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<()> {
        memory_cancelled(ctx)?;
        let mut repos = self.lock();
        match repos
            .get_mut(repository.as_str())
            .and_then(|r| r.tags.remove(tag.as_str()))
        {
            Some(_) => Ok(()),
            None => Err(Error::Registry {
                host: "memory".into(),
                operation: format!("delete tag {repository}:{tag}"),
                message: "no such tag".into(),
                kind: crate::ErrorKind::NotFound,
            }),
        }
    }

    async fn pull(
        &self,
        repository: &Repository,
        reference: &Reference,
        into: &Path,
        ctx: &CallContext,
    ) -> Result<Option<BuiltImage>> {
        memory_cancelled(ctx)?;
        let found = {
            let repos = self.lock();
            repos.get(repository.as_str()).and_then(|r| {
                let digest = match reference {
                    Reference::Tag(t) => r.tags.get(t.as_str())?,
                    Reference::Digest(d) => d,
                };
                r.images.get(digest).cloned()
            })
        };
        let Some(stored) = found else {
            return Ok(None);
        };
        let layout = OciLayout::create(into)?;
        for bytes in &stored.blobs {
            layout.write_blob(bytes)?;
        }
        let name = reference.to_string();
        layout.set_ref(&name, &stored.root)?;
        BuiltImage::from_layout(into, Some(&name)).map(Some)
    }

    /// Answers as a registry serving the referrers API does.
    async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Vec<Descriptor>> {
        memory_cancelled(ctx)?;
        let listed = self
            .lock()
            .get(repository.as_str())
            .and_then(|r| r.referrers.get(digest).map(|l| l.manifests.clone()))
            .unwrap_or_default();
        Ok(super::referrers::of_type(listed, artifact_type))
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
