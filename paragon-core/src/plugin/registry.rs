//! The `Registry` plugin trait, what a push answers, the rules for
//! repository names and tags, and an in-memory registry for engine tests.
//!
//! A [`Registry`] pushes a built image to a repository under tags,
//! resolves tags to digests, lists and deletes tags. Adapters live in
//! `paragon-registry`; every registry adapter's tests run
//! `paragon_core::conformance::registry` (feature `conformance`).
//!
//! ```
//! # tokio_test_block_on(async {
//! use paragon_core::{CallContext, MemoryRegistry, Registry};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let image = paragon_core::plugin::build::testing::minimal_image(dir.path(), "demo").unwrap();
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
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::oci::{Digest, OciLayout};
use crate::plugin::build::BuiltImage;
use crate::plugin::context::CallContext;

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
    ($($ty:ty),+) => {$(
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
    )+};
}
forward_registry!(Box<T>, Arc<T>, &'static T);

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
                source: None,
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
                source: None,
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
}
