//! The OCI distribution adapter: any registry speaking the
//! [distribution spec](https://github.com/opencontainers/distribution-spec)
//! (CNCF distribution, Harbor, GHCR, ECR, Artifactory…), spoken directly
//! over `reqwest`.
//!
//! A push uploads every blob the image needs (skipping those the registry
//! already has, mounting from other repositories where configured), then
//! the manifests, then one manifest PUT per tag, and finally checks that
//! every tag resolves to the digest the layout holds. Tags are moved by
//! manifest PUT, so `latest` moves on registries (Harbor) whose tag API
//! refuses existing tags.
//!
//! Referrers (OCI 1.1): a manifest pushed with a `subject` (an SBOM
//! [`Artifact`](paragon_core::plugin::registry::Artifact)) is listed by
//! the registry when it answers the PUT with `OCI-Subject`; otherwise the
//! push adds it to the image index under the `sha256-<hex>` referrers tag,
//! read again after the [tag-settle wait](DistributionRegistry::with_tag_settle)
//! and written again when another writer's list replaced it, with
//! `If-Match` where the registry gives an `ETag`; pushes made at once
//! through one registry value (or its clones) share one write and one
//! wait (a write waits, up to the settle wait, for the pushes of the same
//! list that began before it). A tag holding anything but an index is
//! never written over. cosign's signature and attestation
//! images are read back after the same wait by the signing code
//! ([`tag_settle`](Registry::tag_settle)). `referrers` asks
//! `GET /v2/<name>/referrers/<digest>` (every page), and reads the
//! referrers tag when that answers 404.
//!
//! Transient failures (no answer, 5xx, 429) are retried with exponential
//! backoff, a bounded number of times; 401/403/404 never are. Plain http is
//! used for loopback hosts by default and for other hosts only with
//! [`DistributionRegistry::allow_http`].
//!
//! Auth: basic credentials or a static bearer token go with every request.
//! When the registry answers `401` with a `WWW-Authenticate: Bearer`
//! challenge, a token is asked of its token service (the distribution
//! token flow: `GET realm?service=…&scope=repository:NAME:pull,push`, with
//! the basic credentials), kept until shortly before it expires, and sent
//! instead. A cross-repository mount asks for a token covering both
//! repositories. A token service that refuses the credentials is
//! [`Error::Unauthorized`] naming it; one that does not answer (or answers
//! 5xx/429) is a retryable [`Error::Distribution`](crate::Error::Distribution). Neither the credentials nor
//! a token ever reach a log, an
//! error or `Debug` output; a token service on plain http is refused under
//! the same rule as the registry, before anything is sent to it, with a
//! final [`Error::Distribution`](crate::Error::Distribution) naming it.
//!
//! ```no_run
//! # async fn demo(image: paragon_core::BuiltImage) -> paragon_core::Result<()> {
//! use paragon_core::plugin::registry::Registry;
//! use paragon_core::{CallContext, Secret};
//! use paragon_registry::{Credentials, DistributionRegistry};
//!
//! let registry = DistributionRegistry::new("registry.example.com")?
//!     .with_credentials(Credentials::basic("ci", Secret::new("…")));
//! let tags = paragon_core::plugin::registry::tags(["1.4.2", "latest"])?;
//! let pushed = registry.push(&image, &"shop/app".parse()?, &tags, &CallContext::new()).await?;
//! println!("{}", pushed.reference());
//! # Ok(()) }
//! ```

mod auth;
mod blobs;
mod errors;
mod manifests;
mod pull;
mod referrers;
mod requests;
mod tags;

pub use blobs::UPLOAD_RATE_FLOOR;

/// The call that allows plain http beyond this machine, which a refusal
/// names.
const ALLOWING: &str = "DistributionRegistry::allow_http(true)";
pub(crate) use errors::retry_after;
pub(crate) use tags::{next_link, MAX_TAG_PAGES};

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use paragon_core::model::oci::{Digest, OciLayout};
use paragon_core::plugin::build::BuiltImage;
use paragon_core::plugin::registry::referrers::referrer_of;
use paragon_core::plugin::registry::{referrers_tag, Pushed, Reference, Registry, Repository, Tag};
use paragon_core::retry::RetryPolicy;
use paragon_core::transport::{is_loopback, require_https_beyond_loopback};
use paragon_core::{CallContext, Error, Result};
use reqwest::{Method, StatusCode};

use crate::credentials::Credentials;

use auth::{Access, Token};
use blobs::MIN_CHUNK;
use manifests::{blob_unknown, BLOB_UNKNOWN_RETRIES};

/// A registry speaking the OCI distribution API (see the [module docs](self)).
#[derive(Clone)]
pub struct DistributionRegistry {
    host: String,
    scheme: &'static str,
    allow_http: bool,
    credentials: Credentials,
    retry: RetryPolicy,
    page_size: usize,
    mount_from: Vec<String>,
    /// Blobs larger than this go up in chunks of this size.
    chunk: Option<u64>,
    timeout: Duration,
    /// How long `create_tag` waits after its write before it checks who
    /// holds the tag.
    settle: Duration,
    http: reqwest::Client,
    /// Tokens from the registry's token service, by the scopes they cover
    /// (space-separated).
    tokens: Arc<Mutex<HashMap<String, Token>>>,
    /// The referrers lists this value is writing, by `repository:tag`:
    /// concurrent additions to one list are written together.
    lists: Arc<referrers::Lists>,
}

impl fmt::Debug for DistributionRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistributionRegistry")
            .field("host", &self.host)
            .field("scheme", &self.scheme)
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl DistributionRegistry {
    /// A registry at `address`: `host[:port]` or a URL
    /// (`https://registry.example.com`, `http://127.0.0.1:5000`). Without a
    /// scheme, https is used, except for loopback hosts (plain http). An
    /// `http://` address of a host other than this machine is refused at
    /// the first request unless [`allow_http`](Self::allow_http) allows it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an address that is neither, or one with
    /// credentials or a path in it.
    pub fn new(address: &str) -> Result<DistributionRegistry> {
        DistributionRegistry::create(address, false)
    }

    /// Allows (or, with `false`, refuses again) plain http to a host other
    /// than this machine: credentials and images then cross the network
    /// unencrypted. Plain http to a loopback address is always allowed.
    #[must_use]
    pub fn allow_http(mut self, yes: bool) -> DistributionRegistry {
        self.allow_http = yes;
        self
    }

    /// Refuses plain http beyond this machine unless allowed (see
    /// [`allow_http`](Self::allow_http)); every request asks first.
    pub(super) fn check_transport(&self) -> Result<()> {
        require_https_beyond_loopback(
            "registry",
            self.scheme,
            Some(&self.host),
            self.allow_http,
            ALLOWING,
        )
    }

    fn create(address: &str, allow_http: bool) -> Result<DistributionRegistry> {
        let invalid = |message: String| Error::InvalidConfig {
            component: "registry".into(),
            message,
        };
        let (scheme, rest) = if let Some(r) = address.strip_prefix("https://") {
            ("https", r)
        } else if let Some(r) = address.strip_prefix("http://") {
            ("http", r)
        } else if address.contains("://") {
            return Err(invalid(format!(
                "`{address}`: only http:// and https:// registries are supported"
            )));
        } else {
            ("", address)
        };
        if rest.contains('@') {
            return Err(invalid(
                "give credentials with `with_credentials`, not in the registry address".into(),
            ));
        }
        let host = rest.trim_end_matches('/').to_owned();
        if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
            return Err(invalid(format!(
                "`{address}` is not a registry address (`host[:port]` or `https://host[:port]`)"
            )));
        }
        let scheme = match scheme {
            "" if is_loopback(&host) => "http",
            "" => "https",
            s => s,
        };
        let mut registry = DistributionRegistry {
            host,
            scheme,
            allow_http,
            credentials: Credentials::Anonymous,
            retry: RetryPolicy::default(),
            page_size: 100,
            mount_from: Vec::new(),
            chunk: None,
            timeout: Duration::from_secs(60),
            settle: Duration::from_secs(1),
            http: reqwest::Client::new(),
            tokens: Arc::default(),
            lists: Arc::default(),
        };
        registry.rebuild()?;
        Ok(registry)
    }

    fn rebuild(&mut self) -> Result<()> {
        self.http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(self.timeout)
            // reqwest is built without its `cookies` feature: no cookie is ever kept.
            .build()
            .map_err(|e| Error::InvalidConfig {
                component: "registry".into(),
                message: format!("cannot create the HTTP client: {e}"),
            })?;
        Ok(())
    }

    /// Sets the credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> DistributionRegistry {
        self.credentials = credentials;
        // Tokens were issued to the old credentials.
        self.tokens = Arc::default();
        self
    }

    /// Takes the credentials for this host from a Docker `config.json`
    /// (anonymous when it has none for the host).
    pub fn with_docker_config(self, path: &std::path::Path) -> Result<DistributionRegistry> {
        let found = Credentials::from_docker_config(path, &self.host)?;
        Ok(self.with_credentials(found.unwrap_or_default()))
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> DistributionRegistry {
        self.retry = RetryPolicy {
            attempts: retry.attempts.max(1),
            ..retry
        };
        self
    }

    /// Sets how many tags to ask for per page when listing (default 100).
    pub fn with_page_size(mut self, n: usize) -> DistributionRegistry {
        self.page_size = n.max(1);
        self
    }

    /// Uploads blobs larger than `bytes` in chunks of `bytes` (one `PATCH`
    /// per chunk with its `Content-Range`, then the closing `PUT`), for
    /// registries behind proxies that cap request bodies (Cloudflare's is
    /// 100 MB). Off by default: one `PUT` per blob, which every registry
    /// accepts (ECR mishandles chunks). At least 1 MiB.
    pub fn with_chunked_uploads(mut self, bytes: u64) -> DistributionRegistry {
        self.chunk = Some(bytes.max(MIN_CHUNK));
        self
    }

    /// Tries to mount missing blobs from these repositories of the same
    /// registry before uploading them (cross-repository blob mount).
    pub fn with_mount_from(mut self, repositories: &[&str]) -> DistributionRegistry {
        self.mount_from = repositories.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    /// The timeout of one request (default 60 s; connecting has 10 s of
    /// it). A request that carries a blob (or a chunk of one) gets one more
    /// second per [`UPLOAD_RATE_FLOOR`] bytes it carries, so a large layer
    /// on a slow link is not cut off while it moves. A request still
    /// unanswered is reported (a `tracing` warning) every 15 s, and each
    /// retry with its wait and cause.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Result<DistributionRegistry> {
        self.timeout = timeout;
        self.rebuild()?;
        Ok(self)
    }

    /// How long [`create_tag`](Registry::create_tag) waits between its
    /// write and the check of who holds the tag, a referrers-tag update
    /// between its write and the check that its entry stayed, and a
    /// signature or attestation write between its write and the check
    /// that its layers stayed ([`tag_settle`](Registry::tag_settle);
    /// default 1 s). Zero gives up these checks: writers racing on one
    /// tag may then each be told they succeeded while one write was lost.
    ///
    /// The distribution API has no write-if-absent, so `create_tag` checks
    /// the tag is absent, writes it, waits this long and reads it back:
    /// of writers that all found it absent, each learns whether its write
    /// is the one that stayed, so long as every write lands within this
    /// window after its own check (one request, retries included). Only
    /// the writer whose digest the tag holds at the end gets `Ok(true)`.
    pub fn with_tag_settle(mut self, settle: Duration) -> DistributionRegistry {
        self.settle = settle;
        self
    }

    /// `host[:port]`.
    pub fn host(&self) -> &str {
        &self.host
    }
}

#[async_trait]
impl Registry for DistributionRegistry {
    fn name(&self) -> &str {
        "distribution"
    }

    fn location(&self) -> String {
        self.host.clone()
    }

    /// The [tag-settle wait](DistributionRegistry::with_tag_settle): the
    /// distribution API has no conditional manifest write.
    fn tag_settle(&self) -> Duration {
        self.settle
    }

    #[tracing::instrument(name = "push", skip_all, fields(registry = %self.host, %repository, digest = %image.digest))]
    async fn push(
        &self,
        image: &BuiltImage,
        repository: &Repository,
        tags: &[Tag],
        ctx: &CallContext,
    ) -> Result<Pushed> {
        let repository = repository.as_str();
        let tags: Vec<String> = tags.iter().map(Tag::to_string).collect();
        let tags = tags.as_slice();
        if ctx.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        let layout = OciLayout::open(&image.layout)?;
        let closure = layout.closure(&image.descriptor())?;
        let mut pushed = Pushed::new(&self.host, repository, image.digest.clone(), tags.to_vec());
        let body = Bytes::from(layout.read_blob(&image.digest)?);
        // A manifest with a subject may be added to a referrers list after
        // its upload: it is announced now, so that a turn on that list
        // which starts meanwhile waits for it and writes it too.
        let referrer = referrer_of(&body, &image.media_type, &image.digest)?;
        let coming = referrer.as_ref().map(|(subject, _)| {
            self.list_writer(repository, referrers_tag(subject).as_str())
                .expect()
        });
        let mut attempt = 0;
        let answered = loop {
            let put = self
                .put_image(
                    &layout,
                    &closure,
                    image,
                    &body,
                    repository,
                    tags,
                    &mut pushed,
                    attempt,
                    ctx,
                )
                .await;
            match put {
                // The registry lost a blob it had taken, or read it while a
                // concurrent upload of the same blob rewrote it (the CNCF
                // registry's filesystem storage rewrites a blob's link in
                // place): the blobs are checked and sent again.
                Err(e) if attempt < BLOB_UNKNOWN_RETRIES && blob_unknown(&e) => {
                    attempt += 1;
                    tracing::info!(registry = %self.host, %repository, error = %e, "the registry did not find a blob of the manifest; sending the blobs again");
                }
                other => break other?,
            }
        };
        for t in tags {
            self.verify_tag(repository, t, &image.digest, ctx).await?;
        }
        // A manifest with a subject: listed by the registry when it says
        // so (`OCI-Subject`), else added to the referrers tag's list.
        if let (Some((subject, referrer)), Some(coming)) = (referrer, coming) {
            if !referrers::took_subject(&answered, &subject) {
                pushed.referrers_tag = Some(
                    self.add_referrer(repository, &subject, &referrer, coming, ctx)
                        .await?,
                );
            }
        }
        tracing::info!(tags = ?tags, uploaded = pushed.uploaded, skipped = pushed.skipped, "pushed");
        Ok(pushed)
    }

    async fn resolve(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<Option<Digest>> {
        let repository = repository.as_str();
        let tag = tag.as_str();
        let op = format!("resolve {repository}:{tag}");
        self.bounded(
            ctx,
            self.retrying(&op, ctx, || self.head_manifest(repository, tag)),
        )
        .await
    }

    async fn list_tags(&self, repository: &Repository, ctx: &CallContext) -> Result<Vec<String>> {
        let repository = repository.as_str();
        self.bounded(ctx, self.tags_paged(repository, ctx)).await
    }

    /// Deletes the tag with `DELETE /v2/<name>/manifests/<tag>` (distribution
    /// spec 1.1). Registries that delete manifests only by digest, which
    /// would remove every tag naming the image, answer 400/405: that is
    /// [`Error::Unsupported`].
    /// Over the OCI distribution API, which has no conditional write: the
    /// tag is checked absent, written, then checked to name `digest`. A
    /// writer that lost a race in between learns it (`Ok(false)`) when the
    /// other write came after its own; when it came in the moment between
    /// the check and the write, both may report `true`.
    async fn create_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        let repository = repository.as_str();
        let tag = tag.as_str();
        let op = format!("resolve {repository}:{tag}");
        if self
            .retrying(&op, ctx, || self.head_manifest(repository, tag))
            .await?
            .is_some()
        {
            return Ok(false);
        }
        self.put_existing(repository, digest, tag, ctx).await?;
        // Writers that found the tag absent at the same moment write
        // within the window; read back after it, only the last one's
        // digest is there.
        tokio::select! {
            _ = tokio::time::sleep(self.settle) => {}
            _ = ctx.cancel.cancelled() => return Err(self.cancelled()),
        }
        let held = self
            .retrying(&op, ctx, || self.head_manifest(repository, tag))
            .await?;
        // Another digest under the tag: another writer came after us.
        Ok(held.as_ref() == Some(digest))
    }

    async fn delete_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
        ctx: &CallContext,
    ) -> Result<()> {
        let repository = repository.as_str();
        let tag = tag.as_str();
        if ctx.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base());
        let op = format!("delete tag {repository}:{tag}");
        let res = self
            .retrying(&op, ctx, || async {
                self.send(&op, Method::DELETE, &url, None, repository, Access::Push)
                    .await
            })
            .await?;
        match res.status() {
            s if s.is_success() => Ok(()),
            StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED => Err(Error::Unsupported {
                component: format!("registry {}", self.host),
                operation: "deleting a tag (it deletes manifests only by digest)".into(),
            }),
            _ => Err(self.response_error(&op, res).await),
        }
    }

    #[tracing::instrument(name = "pull", skip_all, fields(registry = %self.host, %repository, %reference))]
    async fn pull(
        &self,
        repository: &Repository,
        reference: &Reference,
        into: &std::path::Path,
        ctx: &CallContext,
    ) -> Result<Option<BuiltImage>> {
        self.bounded(
            ctx,
            self.pull_into(repository.as_str(), reference, into, ctx),
        )
        .await
    }

    /// From `GET /v2/<name>/referrers/<digest>` (every page, following
    /// `Link`), or, when the registry answers it with 404, from the index
    /// under the referrers tag. A referrers API answer that is not an image
    /// index is an error naming the host; a referrers tag that holds
    /// something else means no referrers (as the distribution spec says),
    /// with a warning.
    #[tracing::instrument(name = "referrers", skip_all, fields(registry = %self.host, %repository, %digest))]
    async fn referrers(
        &self,
        repository: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
        ctx: &CallContext,
    ) -> Result<Vec<paragon_core::model::oci::Descriptor>> {
        if ctx.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        self.bounded(
            ctx,
            self.list_referrers(repository.as_str(), digest, artifact_type, ctx),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};

    use super::auth::{bearer_challenge, Challenge};
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, v.parse().unwrap());
            h
        };
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        // An IMF-fixdate in the past is no wait; one ahead is its distance.
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO)
        );
        let ahead = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let imf = ahead
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .unwrap();
        let wait = retry_after(&headers(&imf)).unwrap();
        assert!(
            (Duration::from_secs(28)..=Duration::from_secs(30)).contains(&wait),
            "{wait:?}"
        );
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn addresses_and_schemes() {
        let r = DistributionRegistry::new("127.0.0.1:5000").unwrap();
        assert_eq!((r.scheme, r.host()), ("http", "127.0.0.1:5000"));
        let r = DistributionRegistry::new("localhost").unwrap();
        assert_eq!(r.scheme, "http");
        let r = DistributionRegistry::new("registry.example.com").unwrap();
        assert_eq!(r.scheme, "https");
        let r = DistributionRegistry::new("https://registry.example.com/").unwrap();
        assert_eq!(r.host(), "registry.example.com");
        let r = DistributionRegistry::new("http://registry.example.com").unwrap();
        let err = r.check_transport().unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
        assert!(
            err.to_string().contains("http://registry.example.com"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("DistributionRegistry::allow_http(true)"),
            "{err}"
        );
        let r = r.allow_http(true);
        assert_eq!(r.scheme, "http");
        r.check_transport().unwrap();
        assert!(DistributionRegistry::new("ftp://x").is_err());
        assert!(DistributionRegistry::new("https://u:p@x").is_err());
        assert!(DistributionRegistry::new("x/y").is_err());
    }

    #[test]
    fn bearer_challenges() {
        let headers = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(WWW_AUTHENTICATE, v.parse().unwrap());
            }
            h
        };
        let harbor = headers(&[
            r#"Bearer realm="https://harbor.example.com/service/token",service="harbor-registry",scope="repository:shop/app:pull,push""#,
        ]);
        assert_eq!(
            bearer_challenge(&harbor),
            Some(Challenge {
                realm: "https://harbor.example.com/service/token".into(),
                service: Some("harbor-registry".into()),
            })
        );
        // Scheme and parameter names are case-insensitive; a Basic
        // challenge beside it is skipped.
        let mixed = headers(&[
            r#"Basic realm="registry""#,
            r#"bearer Realm="https://auth.example.com/token""#,
        ]);
        assert_eq!(
            bearer_challenge(&mixed),
            Some(Challenge {
                realm: "https://auth.example.com/token".into(),
                service: None,
            })
        );
        assert_eq!(bearer_challenge(&headers(&[r#"Basic realm="x""#])), None);
        assert_eq!(
            bearer_challenge(&headers(&["Bearer service=\"x\""])),
            None,
            "no realm"
        );
        assert_eq!(
            bearer_challenge(&headers(&["Bearer realm=\"unterminated"])),
            None
        );
        assert_eq!(bearer_challenge(&HeaderMap::new()), None);
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/app/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/app/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://h/x?p=1>; rel="prev", <https://h/x?p=3>; rel="next""#).as_deref(),
            Some("https://h/x?p=3")
        );
        assert_eq!(next_link("garbage"), None);
    }
}
