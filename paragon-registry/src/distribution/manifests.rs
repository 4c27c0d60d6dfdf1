//! Manifests: read, checked, written, and the tags that name them
//! verified.

use bytes::Bytes;
use paragon_core::model::oci::{
    Descriptor, Digest, OciLayout, MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use paragon_core::plugin::build::BuiltImage;
use paragon_core::plugin::registry::{Pushed, Repository, Tag};
use paragon_core::{CallContext, Error, ErrorKind, Result};
use reqwest::header::{HeaderName, ACCEPT, CONTENT_TYPE, ETAG, IF_MATCH, LINK};
use reqwest::{Method, StatusCode};

use super::auth::{scope, Access};
use super::blobs::Payload;
use super::DistributionRegistry;

/// The largest manifest (or index, or referrers list) read: the
/// distribution spec lets registries refuse manifests over 4 MiB.
pub(super) const MAX_MANIFEST: usize = 4 << 20;

/// A manifest, index or referrers list as the registry answered it.
pub(super) struct Document {
    pub(super) bytes: Bytes,
    /// The answer's `Content-Type`, without parameters.
    pub(super) content_type: Option<String>,
    /// Its `ETag`, for a conditional write of the same reference.
    pub(super) etag: Option<String>,
    /// Its `Link` header (the next page of a list).
    pub(super) link: Option<String>,
}

impl DistributionRegistry {
    /// `GET url` (a manifest or a referrers list of `repository`) with
    /// `accept`, retried; `None` on 404. An answer over [`MAX_MANIFEST`]
    /// is an error.
    pub(super) async fn get_document(
        &self,
        op: &str,
        url: &str,
        accept: &str,
        repository: &str,
        ctx: &CallContext,
    ) -> Result<Option<Document>> {
        let scopes = [scope(repository, Access::Pull)];
        let headers: [(HeaderName, &str); 1] = [(ACCEPT, accept)];
        let too_large = || {
            self.registry_error(
                op,
                None,
                format!("the manifest is larger than {MAX_MANIFEST} bytes"),
                false,
            )
        };
        self.retrying(op, ctx, || async {
            let res = self
                .execute(op, Method::GET, url, &headers, None, &scopes, None)
                .await?;
            if res.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let res = self.expect_success(res, op).await?;
            if res
                .content_length()
                .is_some_and(|n| n > MAX_MANIFEST as u64)
            {
                return Err(too_large());
            }
            let header = |name: HeaderName| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (etag, link) = (header(ETAG), header(LINK));
            let content_type = content_type(&res);
            let bytes = res.bytes().await.map_err(|e| self.request_error(op, e))?;
            if bytes.len() > MAX_MANIFEST {
                return Err(too_large());
            }
            Ok(Some(Document {
                bytes,
                content_type,
                etag,
                link,
            }))
        })
        .await
    }

    /// `GET …/manifests/<digest>`: the manifest's bytes and media type.
    pub(super) async fn get_manifest(
        &self,
        repository: &str,
        digest: &Digest,
        op: &str,
    ) -> Result<(Bytes, Option<String>)> {
        let url = format!("{}/v2/{repository}/manifests/{digest}", self.base());
        let res = self
            .send(
                op,
                Method::GET,
                &url,
                Some(ACCEPT_MANIFESTS),
                repository,
                Access::Pull,
            )
            .await?;
        let res = self.expect_success(res, op).await?;
        let content_type = content_type(&res);
        let body = res.bytes().await.map_err(|e| self.request_error(op, e))?;
        Ok((body, content_type))
    }

    pub(super) async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Digest>> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base());
        let op = format!("resolve {repository}:{reference}");
        let res = self
            .send(
                &op,
                Method::HEAD,
                &url,
                Some(ACCEPT_MANIFESTS),
                repository,
                Access::Pull,
            )
            .await?;
        match res.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let header = res
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|h| h.to_str().ok())
                    .ok_or_else(|| {
                        self.registry_error(
                            &op,
                            Some(s.as_u16()),
                            "no Docker-Content-Digest header in the answer".into(),
                            false,
                        )
                    })?;
                header.parse().map(Some)
            }
            _ => Err(self.response_error(&op, res).await),
        }
    }

    /// `PUT …/manifests/<reference>` (a tag or a digest): the answer's
    /// headers.
    pub(super) async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        body: &Bytes,
        media_type: &str,
        ctx: &CallContext,
    ) -> Result<reqwest::header::HeaderMap> {
        let put = self.put_manifest_if(repository, reference, body, media_type, None, ctx);
        Ok(put.await?.unwrap_or_default())
    }

    /// [`put_manifest`](Self::put_manifest) with `If-Match: etag` when one
    /// is given: `None` when the registry refused the write because the
    /// manifest under `reference` changed (412).
    pub(super) async fn put_manifest_if(
        &self,
        repository: &str,
        reference: &str,
        body: &Bytes,
        media_type: &str,
        etag: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Option<reqwest::header::HeaderMap>> {
        let op = format!("put manifest {repository}:{reference}");
        if reqwest::header::HeaderValue::from_str(media_type).is_err() {
            return Err(Error::Layout {
                path: Default::default(),
                message: format!("invalid media type `{media_type}`"),
            });
        }
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base());
        let scopes = [scope(repository, Access::Push)];
        let mut headers = vec![(CONTENT_TYPE, media_type)];
        if let Some(etag) = etag {
            headers.push((IF_MATCH, etag));
        }
        self.retrying(&op, ctx, || async {
            let res = self
                .execute(
                    &op,
                    Method::PUT,
                    &url,
                    &headers,
                    Some(&Payload::Bytes(body)),
                    &scopes,
                    None,
                )
                .await?;
            if etag.is_some() && res.status() == StatusCode::PRECONDITION_FAILED {
                return Ok(None);
            }
            self.expect_success(res, &op)
                .await
                .map(|res| Some(res.headers().clone()))
        })
        .await
    }

    /// Points `tag` at a manifest the repository already holds (`digest`):
    /// the manifest is fetched by digest and PUT under the tag, which moves
    /// the tag if it exists.
    pub async fn tag_existing(
        &self,
        repository: &Repository,
        digest: &Digest,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<()> {
        let (repository, tag) = (repository.as_str(), tag.as_str());
        self.put_existing(repository, digest, tag, ctx).await?;
        self.verify_tag(repository, tag, digest, ctx).await
    }

    /// Fetches the manifest `digest` of `repository` and PUTs it under
    /// `tag`, unverified.
    pub(super) async fn put_existing(
        &self,
        repository: &str,
        digest: &Digest,
        tag: &str,
        ctx: &CallContext,
    ) -> Result<()> {
        let op = format!("fetch manifest {repository}@{digest}");
        let (body, content_type) = self
            .retrying(&op, ctx, || self.get_manifest(repository, digest, &op))
            .await?;
        if Digest::of(&body) != *digest {
            return Err(self.registry_error(
                op,
                None,
                "the manifest received does not match its digest".into(),
                false,
            ));
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
            .or(content_type.filter(|t| is_manifest(t)))
            .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.to_owned());
        self.put_manifest(repository, tag, &body, &media_type, ctx)
            .await
            .map(drop)
    }

    /// Checks that `tag` resolves to `digest` in `repository`: a
    /// [`Conflict`](ErrorKind::Conflict) when another writer's manifest
    /// is there instead.
    pub(super) async fn verify_tag(
        &self,
        repository: &str,
        tag: &str,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<()> {
        let held = self
            .retrying(&format!("resolve {repository}:{tag}"), ctx, || {
                self.head_manifest(repository, tag)
            })
            .await?;
        let (what, kind) = match held {
            Some(held) if held == *digest => return Ok(()),
            Some(held) => (held.to_string(), ErrorKind::Conflict),
            None => ("nothing".to_owned(), ErrorKind::Other),
        };
        Err(self.protocol_error(
            format!("verify {repository}:{tag}"),
            format!("the registry holds {what} under the tag, not the pushed {digest}"),
            kind,
        ))
    }
}

pub(super) const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The answer's `Content-Type`, without its parameters.
pub(super) fn content_type(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned())
}

pub(super) fn is_manifest(media_type: &str) -> bool {
    matches!(
        media_type,
        MEDIA_TYPE_MANIFEST
            | MEDIA_TYPE_INDEX
            | MEDIA_TYPE_DOCKER_MANIFEST
            | MEDIA_TYPE_DOCKER_LIST
    )
}

/// How many times a push sends the blobs again when the registry answers
/// a manifest with `MANIFEST_BLOB_UNKNOWN`.
pub(super) const BLOB_UNKNOWN_RETRIES: usize = 2;

/// Whether `e` is the registry refusing a manifest because a blob it names
/// is unknown (`MANIFEST_BLOB_UNKNOWN`, a 400 with the distribution spec's
/// error code).
pub(super) fn blob_unknown(e: &paragon_core::Error) -> bool {
    matches!(
        e.downcast_ref::<crate::Error>(),
        Some(crate::Error::Distribution { status: Some(400), message, .. })
            if message.contains("MANIFEST_BLOB_UNKNOWN")
    )
}

impl DistributionRegistry {
    /// Sends `image`'s blobs (those the registry lacks), then its child
    /// manifests by digest, then the root (`body`) under each tag, or by
    /// digest when there is none: no tag can name an image whose parts
    /// are missing. Counts the uploads in `pushed`, and on the first
    /// `attempt` the blobs the registry had. The headers of the last
    /// manifest answer.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn put_image(
        &self,
        layout: &OciLayout,
        closure: &[Descriptor],
        image: &BuiltImage,
        body: &Bytes,
        repository: &str,
        tags: &[String],
        pushed: &mut Pushed,
        attempt: usize,
        ctx: &CallContext,
    ) -> Result<reqwest::header::HeaderMap> {
        for blob in closure.iter().filter(|d| !is_manifest(&d.media_type)) {
            if self.push_one_blob(layout, repository, blob, ctx).await? {
                pushed.uploaded += 1;
            } else if attempt == 0 {
                // On a later attempt, what is there this push sent or
                // counted already.
                pushed.skipped += 1;
            }
        }
        for m in closure
            .iter()
            .filter(|d| is_manifest(&d.media_type) && d.digest != image.digest)
        {
            let child = Bytes::from(layout.read_blob(&m.digest)?);
            self.put_manifest(repository, m.digest.as_str(), &child, &m.media_type, ctx)
                .await?;
        }
        if tags.is_empty() {
            return self
                .put_manifest(
                    repository,
                    image.digest.as_str(),
                    body,
                    &image.media_type,
                    ctx,
                )
                .await;
        }
        let mut answered = reqwest::header::HeaderMap::new();
        for t in tags {
            answered = self
                .put_manifest(repository, t, body, &image.media_type, ctx)
                .await?;
        }
        Ok(answered)
    }
}
