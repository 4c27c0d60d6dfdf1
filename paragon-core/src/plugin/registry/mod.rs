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
//! let tags = paragon_core::plugin::registry::tags(["1.0.0", "latest"]).unwrap();
//! let ctx = CallContext::new();
//! let pushed = registry.push(&image, &"shop/app".parse().unwrap(), &tags, &ctx).await.unwrap();
//! assert_eq!(pushed.digest, image.digest);
//! assert_eq!(registry.resolve(&"shop/app".parse().unwrap(), &"latest".parse().unwrap(), &ctx).await.unwrap(), Some(image.digest.clone()));
//! # });
//! # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::oci::{Descriptor, Digest};
use crate::plugin::build::BuiltImage;
use crate::plugin::context::CallContext;

mod memory;
pub mod referrers;
pub mod testing;

pub use memory::MemoryRegistry;
pub use referrers::{attach, referrers_tag, Artifact, Attached};

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
    /// Blob uploads (a blob sent again, after the registry lost it, counts
    /// again).
    pub uploaded: usize,
    /// Blobs the registry already had (or mounted from another repository).
    pub skipped: usize,
    /// For a manifest with a `subject`, on a registry without the referrers
    /// API: the tag of the referrers list this push added it to
    /// ([`referrers_tag`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrers_tag: Option<String>,
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
            referrers_tag: None,
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
/// - take repository names and tags as they come: a [`Repository`] and
///   a [`Tag`] are valid under the distribution spec by construction;
/// - resolve an unknown tag to `None` and list no tags for an unknown
///   repository;
/// - stop a cancelled call with [`Error::Cancelled`] (a cancelled push
///   creating no tag), and bound every call by the context's timeout where
///   it sets one;
/// - report refused credentials as [`Error::Unauthorized`] naming the
///   host, never the credentials;
/// - list a pushed manifest that has a `subject` among that subject's
///   [`referrers`](Registry::referrers), keeping the others listed, where
///   it lists referrers at all.
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

    /// How long after a manifest is written under a tag another writer,
    /// having read the tag before that write, may still write over it:
    /// the wait after which reading the tag back shows whose write
    /// stayed. Code that reads, extends and writes back a tag others
    /// extend too (cosign's `.sig` and `.att` images) waits this long
    /// and reads again where [`push_if`](Registry::push_if) is
    /// unsupported. The default is zero, for registries whose tag writes
    /// are seen at once; over the bare OCI distribution API it is the
    /// adapter's tag-settle wait.
    fn tag_settle(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Pushes `image` to `repository` and points every tag at it.
    async fn push(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tags: &[Tag],
        ctx: &CallContext,
    ) -> Result<Pushed>;

    /// The digest `tag` points at, or `None` when there is no such tag (or
    /// no such repository).
    async fn resolve(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<Option<Digest>>;

    /// Every tag of `repository`, sorted, as the registry names them;
    /// empty when it does not exist.
    async fn list_tags(&self, repository: &Repository, ctx: &CallContext) -> Result<Vec<String>>;

    /// Deletes a tag (the image stays if other tags name it, where the
    /// registry allows). [`Error::Unsupported`] where it cannot.
    async fn delete_tag(&self, repository: &Repository, tag: &Tag, ctx: &CallContext)
        -> Result<()>;

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
        repository: &Repository,
        tag: &Tag,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        let _ = (repository, tag, digest, ctx);
        Err(Error::Unsupported {
            component: self.name().to_owned(),
            operation: "creating a tag only when it is absent".into(),
        })
    }

    /// Pushes `image` to `repository` and points `tag` at it only if the
    /// tag names `expected` at that moment (`None`: only if there is no
    /// such tag), atomically against every other writer: a compare and
    /// swap of the tag, as `object_store`'s `PutMode::Update`. A writer
    /// that reads a tag, extends what it names and writes it back (cosign's
    /// signature and attestation images) keeps every other writer's
    /// addition this way, with no wait.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] naming the tag when it names something else
    /// (the image's blobs may be stored; the tag does not move), and the
    /// errors of [`push`](Registry::push). [`Error::Unsupported`], having
    /// written nothing, where the registry cannot write conditionally: the
    /// default, and the bare OCI distribution API, which has no such
    /// write.
    async fn push_if(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tag: &Tag,
        expected: Option<&Digest>,
        ctx: &CallContext,
    ) -> Result<Pushed> {
        let _ = (image, repository, tag, expected, ctx);
        Err(Error::Unsupported {
            component: self.name().to_owned(),
            operation: "pushing under a tag only while it names a given image".into(),
        })
    }

    /// Copies the image (or index, or artifact) that `reference` names in
    /// `repository` into the OCI layout `into` (created when absent),
    /// named there by `reference`, and returns it; `None` when the
    /// repository has no such manifest. Every blob is checked against its
    /// digest and streamed to disk, never held in memory; a manifest asked
    /// for by digest must hash to it. The default is
    /// [`Error::Unsupported`].
    async fn pull(
        &self,
        repository: &Repository,
        reference: &Reference,
        into: &Path,
        ctx: &CallContext,
    ) -> Result<Option<BuiltImage>> {
        let _ = (repository, reference, into, ctx);
        Err(Error::Unsupported {
            component: self.name().to_owned(),
            operation: "pulling an image".into(),
        })
    }

    /// The manifests of `repository` whose `subject` is `digest`: its
    /// referrers (OCI distribution spec 1.1), each with its artifact type
    /// and annotations; only those of `artifact_type` when one is given.
    /// Empty when there are none. A registry that serves the referrers API
    /// answers from it; one that does not keeps the list as an index under
    /// [`referrers_tag`], which [`push`](Registry::push) maintains. The
    /// default is [`Error::Unsupported`].
    async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Vec<Descriptor>> {
        let _ = (repository, digest, artifact_type, ctx);
        Err(Error::Unsupported {
            component: self.name().to_owned(),
            operation: "listing referrers".into(),
        })
    }
}

/// What names a manifest in a repository: a tag, or its digest.
///
/// ```
/// use paragon_core::plugin::registry::Reference;
///
/// let by_tag: Reference = "1.4.0".parse()?;
/// assert!(matches!(by_tag, Reference::Tag(_)));
/// let by_digest: Reference =
///     "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".parse()?;
/// assert!(matches!(by_digest, Reference::Digest(_)));
/// assert!("not a tag!".parse::<Reference>().is_err());
/// # Ok::<(), paragon_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A tag.
    Tag(Tag),
    /// A manifest's digest.
    Digest(Digest),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;

    /// A digest when it has an algorithm (`sha256:…`), else a tag.
    fn from_str(s: &str) -> Result<Reference> {
        if s.contains(':') {
            s.parse().map(Reference::Digest)
        } else {
            Tag::new(s).map(Reference::Tag)
        }
    }
}

impl From<Tag> for Reference {
    fn from(t: Tag) -> Reference {
        Reference::Tag(t)
    }
}

impl From<Digest> for Reference {
    fn from(d: Digest) -> Reference {
        Reference::Digest(d)
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
            fn tag_settle(&self) -> std::time::Duration {
                (**self).tag_settle()
            }
            async fn push(
                &self,
                image: &BuiltImage,
                repository: &Repository,
                tags: &[Tag],
                ctx: &CallContext,
            ) -> Result<Pushed> {
                (**self).push(image, repository, tags, ctx).await
            }
            async fn resolve(
                &self,
                repository: &Repository,
                tag: &Tag,
                ctx: &CallContext,
            ) -> Result<Option<Digest>> {
                (**self).resolve(repository, tag, ctx).await
            }
            async fn list_tags(&self, repository: &Repository, ctx: &CallContext) -> Result<Vec<String>> {
                (**self).list_tags(repository, ctx).await
            }
            async fn delete_tag(
                &self,
                repository: &Repository,
                tag: &Tag,
                ctx: &CallContext,
            ) -> Result<()> {
                (**self).delete_tag(repository, tag, ctx).await
            }
            async fn create_tag(
                &self,
                repository: &Repository,
                tag: &Tag,
                digest: &Digest,
                ctx: &CallContext,
            ) -> Result<bool> {
                (**self).create_tag(repository, tag, digest, ctx).await
            }
            async fn push_if(
                &self,
                image: &BuiltImage,
                repository: &Repository,
                tag: &Tag,
                expected: Option<&Digest>,
                ctx: &CallContext,
            ) -> Result<Pushed> {
                (**self).push_if(image, repository, tag, expected, ctx).await
            }
            async fn pull(
                &self,
                repository: &Repository,
                reference: &Reference,
                into: &Path,
                ctx: &CallContext,
            ) -> Result<Option<BuiltImage>> {
                (**self).pull(repository, reference, into, ctx).await
            }
            async fn referrers(
                &self,
                repository: &Repository,
                digest: &Digest,
                artifact_type: Option<&str>,
                ctx: &CallContext,
            ) -> Result<Vec<Descriptor>> {
                (**self).referrers(repository, digest, artifact_type, ctx).await
            }
        }
    )+};
}
forward_registry!(Box<T>, std::sync::Arc<T>, &'static T);

/// A repository name, valid under the distribution spec's grammar
/// (`shop/app`: lowercase path components of `[a-z0-9]` joined by `.`,
/// `_`, `__` or `-`, separated by `/`; at most 255 bytes). It is checked
/// once, when it is made; every [`Registry`] takes it as it is.
///
/// ```
/// use paragon_core::plugin::registry::Repository;
///
/// let repo: Repository = "shop/app".parse()?;
/// assert_eq!(repo.as_str(), "shop/app");
/// assert!(Repository::new("Shop/App").is_err());
/// # Ok::<(), paragon_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Repository(String);

/// A tag, valid under the distribution spec's grammar
/// (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`). It is checked once, when it is
/// made; every [`Registry`] takes it as it is.
///
/// ```
/// use paragon_core::plugin::registry::Tag;
///
/// let tag = Tag::new("1.4.0")?;
/// assert_eq!(tag, "1.4.0");
/// assert!(Tag::new(".hidden").is_err());
/// # Ok::<(), paragon_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

macro_rules! name_type {
    ($ty:ident, $problem:ident) => {
        impl $ty {
            /// Checks `name`.
            ///
            /// # Errors
            /// [`Error::InvalidConfig`] (component `registry`) saying what
            /// is wrong.
            pub fn new(name: impl Into<String>) -> Result<$ty> {
                let name = name.into();
                match $problem(&name) {
                    None => Ok($ty(name)),
                    Some(message) => Err(Error::InvalidConfig {
                        component: "registry".into(),
                        message,
                    }),
                }
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<$ty> {
                $ty::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = Error;
            fn try_from(s: String) -> Result<$ty> {
                $ty::new(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = Error;
            fn try_from(s: &str) -> Result<$ty> {
                $ty::new(s)
            }
        }

        impl From<$ty> for String {
            fn from(name: $ty) -> String {
                name.0
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}
name_type!(Repository, repository_problem);
name_type!(Tag, tag_problem);

impl Tag {
    /// `latest`.
    pub fn latest() -> Tag {
        Tag("latest".into())
    }
}

/// The [`Error::Conflict`] of a [`Registry::push_if`] that found `tag`
/// naming `found` where it expected `expected` (`None`: no image).
pub fn tag_moved(
    location: &str,
    repository: &Repository,
    tag: &Tag,
    expected: Option<&Digest>,
    found: Option<&Digest>,
) -> Error {
    let name = |d: Option<&Digest>| d.map_or_else(|| "no image".to_owned(), Digest::to_string);
    Error::Conflict {
        target: format!("registry {location}"),
        message: format!(
            "{repository}:{tag} names {} where {} was expected; it was left as it is",
            name(found),
            name(expected)
        ),
    }
}

/// Tags from names, checking each.
///
/// # Errors
/// [`Error::InvalidConfig`] naming the first invalid one.
pub fn tags<I, S>(names: I) -> Result<Vec<Tag>>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    names.into_iter().map(Tag::new).collect()
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

/// What is wrong with a repository name under the distribution spec's
/// grammar, if anything.
fn repository_problem(name: &str) -> Option<String> {
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
    let ok = !name.is_empty() && name.len() <= 255 && name.split('/').all(component);
    (!ok).then(|| {
        format!(
            "`{name}` is not a valid repository name (lowercase letters and digits, separated by `.`, `_`, `-` or `/`)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_repositories_are_validated() {
        for ok in ["1.2.3", "latest", "_x", "v1.0-rc.1", "a"] {
            assert_eq!(Tag::new(ok).unwrap(), ok);
        }
        for bad in ["", ".x", "-x", "a:b", "a/b", &"x".repeat(129)] {
            assert!(Tag::new(bad).is_err(), "{bad}");
        }
        for ok in ["app", "shop/app", "a.b_c__d-e--f/g0", "library/alpine"] {
            assert_eq!(Repository::new(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "", "App", "a//b", "/a", "a/", "a..b", "a___b", "-a", "a-", "a:b",
        ] {
            assert!(Repository::new(bad).is_err(), "{bad}");
        }
        // The JSON form is the name, checked when read.
        let repo: Repository = serde_json::from_str("\"shop/app\"").unwrap();
        assert_eq!(serde_json::to_string(&repo).unwrap(), "\"shop/app\"");
        assert!(serde_json::from_str::<Tag>("\".x\"").is_err());
    }
}
