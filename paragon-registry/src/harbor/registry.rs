//! [`HarborRegistry`]: the `Registry` plugin on Harbor.

use async_trait::async_trait;
use paragon_core::model::oci::Digest;
use paragon_core::plugin::build::BuiltImage;
use paragon_core::plugin::registry::{Pushed, Reference, Registry, Repository, Tag};
use paragon_core::{CallContext, Result, Secret};

use crate::credentials::Credentials;
use crate::distribution::DistributionRegistry;

use super::api::{split_repository, HarborApi, TagOutcome};

/// Harbor as a registry: pushes through Harbor's distribution endpoint,
/// ensures the project first, lists and deletes tags through the REST API.
///
/// Repositories are `project/name…`.
#[derive(Debug, Clone)]
pub struct HarborRegistry {
    pub(super) api: HarborApi,
    pub(super) distribution: DistributionRegistry,
    pub(super) create_projects: bool,
}

impl HarborRegistry {
    /// Harbor at `url`, pushing with `credentials` (a user or a robot
    /// account) through the distribution endpoint of the same host. Plain
    /// http to a host other than this machine is refused at the first
    /// request unless [`allow_http`](Self::allow_http) allows it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`](paragon_core::Error::InvalidConfig) as
    /// [`HarborApi::new`] and [`DistributionRegistry::new`] give it.
    pub fn new(url: &str, username: &str, password: Secret) -> Result<HarborRegistry> {
        let api = HarborApi::new(url, username, password.clone())?;
        let distribution = DistributionRegistry::new(url)?
            .with_credentials(Credentials::basic(username, password));
        Ok(HarborRegistry::from_parts(api, distribution))
    }

    /// Allows (or, with `false`, refuses again) plain http to a host other
    /// than this machine, for the REST API and the distribution endpoint
    /// both.
    #[must_use]
    pub fn allow_http(mut self, yes: bool) -> HarborRegistry {
        self.api = self.api.allow_http(yes);
        self.distribution = self.distribution.allow_http(yes);
        self
    }

    /// From a REST client and a distribution client (for Harbor behind a
    /// separate registry host, or for tests).
    pub fn from_parts(api: HarborApi, distribution: DistributionRegistry) -> HarborRegistry {
        HarborRegistry {
            api,
            distribution,
            create_projects: false,
        }
    }

    /// Creates missing projects before pushing (default: no, a missing
    /// project is an error).
    pub fn create_projects(mut self, yes: bool) -> HarborRegistry {
        self.create_projects = yes;
        self
    }

    /// The REST client.
    pub fn api(&self) -> &HarborApi {
        &self.api
    }

    /// Points `tag` at `digest`, already in the repository: through the
    /// tag API, or, when the tag exists (409), by a manifest PUT.
    pub async fn retag(&self, repository: &Repository, digest: &Digest, tag: &Tag) -> Result<()> {
        match self
            .api
            .add_tag(repository.as_str(), digest.as_str(), tag)
            .await?
        {
            TagOutcome::Created => Ok(()),
            TagOutcome::Exists => {
                self.distribution
                    .tag_existing(repository, digest, tag, &CallContext::new())
                    .await
            }
        }
    }
}

#[async_trait]
impl Registry for HarborRegistry {
    fn name(&self) -> &str {
        "harbor"
    }

    fn location(&self) -> String {
        self.api.host().to_owned()
    }

    /// Harbor writes manifests through its distribution endpoint, which has
    /// no conditional write: the distribution adapter's tag-settle wait.
    fn tag_settle(&self) -> std::time::Duration {
        self.distribution.tag_settle()
    }

    async fn push(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tags: &[Tag],
        ctx: &CallContext,
    ) -> Result<Pushed> {
        let (project, _) = split_repository(repository.as_str())?;
        self.api
            .ensure_project(project, self.create_projects)
            .await?;
        self.distribution.push(image, repository, tags, ctx).await
    }

    async fn resolve(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<Option<Digest>> {
        self.distribution.resolve(repository, tag, ctx).await
    }

    async fn list_tags(&self, repository: &Repository, ctx: &CallContext) -> Result<Vec<String>> {
        let repository = repository.as_str();
        ctx.run("harbor", self.api.list_tags(repository)).await
    }

    /// Through Harbor's tag API, which refuses a tag that exists (409):
    /// atomic against every other writer.
    async fn create_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        let repository = repository.as_str();
        let added = ctx.run("harbor", self.api.add_tag(repository, digest.as_str(), tag));
        match added.await? {
            TagOutcome::Created => Ok(true),
            TagOutcome::Exists => Ok(false),
        }
    }

    async fn delete_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<()> {
        let repository = repository.as_str();
        ctx.run("harbor", self.api.delete_tag(repository, tag))
            .await
    }

    /// Through Harbor's distribution endpoint.
    async fn pull(
        &self,
        repository: &Repository,
        reference: &Reference,
        into: &std::path::Path,
        ctx: &CallContext,
    ) -> Result<Option<BuiltImage>> {
        self.distribution
            .pull(repository, reference, into, ctx)
            .await
    }

    /// Through Harbor's distribution endpoint: its referrers API where it
    /// serves one (OCI distribution spec 1.1), else the referrers tag.
    async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Vec<paragon_core::model::oci::Descriptor>> {
        self.distribution
            .referrers(repository, digest, artifact_type, ctx)
            .await
    }
}
