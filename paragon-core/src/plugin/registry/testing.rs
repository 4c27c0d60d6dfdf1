//! Registry doubles for tests: see [`Intercepted`].

use std::fmt;
use std::path::Path;

use async_trait::async_trait;

use super::{MemoryRegistry, Pushed, Reference, Registry, Repository, Tag};
use crate::error::{Error, Result};
use crate::model::oci::{Descriptor, Digest};
use crate::plugin::build::BuiltImage;
use crate::plugin::context::CallContext;

/// What an [`Intercepted`] registry does with a push.
#[derive(Debug)]
#[non_exhaustive]
pub enum Intercept {
    /// The push goes through.
    Pass,
    /// The push is refused with this error; nothing is written.
    Refuse(Error),
    /// The push goes through, then this image is pushed under the same
    /// tags, as another writer's write landing right after it would be.
    ReplaceWith(BuiltImage),
}

type Hook = dyn Fn(&BuiltImage, &[Tag]) -> Intercept + Send + Sync;

/// A [`MemoryRegistry`] whose pushes pass a hook first, which lets them
/// through, refuses them, or has another writer replace what they wrote:
/// for tests of what a caller does when a registry fails or races.
/// Like the OCI distribution API, it cannot write conditionally
/// ([`Registry::push_if`] is [`Error::Unsupported`]), so a racing writer's
/// replacement is seen only by reading back. Everything else is the
/// memory registry's.
///
/// ```
/// use paragon_core::plugin::registry::testing::{Intercept, Intercepted};
/// use paragon_core::{Error, MemoryRegistry};
///
/// let registry = Intercepted::new(MemoryRegistry::new(), |_, tags| {
///     if tags.is_empty() {
///         Intercept::Refuse(Error::Unsupported {
///             component: "test".into(),
///             operation: "pushes without a tag".into(),
///         })
///     } else {
///         Intercept::Pass
///     }
/// });
/// # let _ = registry;
/// ```
pub struct Intercepted {
    inner: MemoryRegistry,
    hook: Box<Hook>,
}

impl Intercepted {
    /// `inner`, with every push passing `hook` first.
    pub fn new(
        inner: MemoryRegistry,
        hook: impl Fn(&BuiltImage, &[Tag]) -> Intercept + Send + Sync + 'static,
    ) -> Intercepted {
        Intercepted {
            inner,
            hook: Box::new(hook),
        }
    }
}

impl fmt::Debug for Intercepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intercepted")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Registry for Intercepted {
    fn name(&self) -> &str {
        "intercepted"
    }

    fn location(&self) -> String {
        "intercepted.test".into()
    }

    async fn push(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tags: &[Tag],
        ctx: &CallContext,
    ) -> Result<Pushed> {
        match (self.hook)(image, tags) {
            Intercept::Pass => self.inner.push(image, repository, tags, ctx).await,
            Intercept::Refuse(e) => Err(e),
            Intercept::ReplaceWith(other) => {
                let pushed = self.inner.push(image, repository, tags, ctx).await?;
                self.inner.push(&other, repository, tags, ctx).await?;
                Ok(pushed)
            }
        }
    }

    async fn resolve(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<Option<Digest>> {
        self.inner.resolve(repository, tag, ctx).await
    }

    async fn list_tags(&self, repository: &Repository, ctx: &CallContext) -> Result<Vec<String>> {
        self.inner.list_tags(repository, ctx).await
    }

    async fn delete_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<()> {
        self.inner.delete_tag(repository, tag, ctx).await
    }

    async fn create_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        self.inner.create_tag(repository, tag, digest, ctx).await
    }

    async fn pull(
        &self,
        repository: &Repository,
        reference: &Reference,
        into: &Path,
        ctx: &CallContext,
    ) -> Result<Option<BuiltImage>> {
        self.inner.pull(repository, reference, into, ctx).await
    }

    async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Vec<Descriptor>> {
        self.inner
            .referrers(repository, digest, artifact_type, ctx)
            .await
    }
}
