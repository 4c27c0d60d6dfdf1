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
//! Transient failures (no answer, 5xx, 429) are retried with exponential
//! backoff, a bounded number of times; 401/403/404 never are. Plain http is
//! used for loopback hosts by default and for other hosts only with
//! [`DistributionRegistry::new_allowing_http`].
//!
//! Auth: basic credentials or a static bearer token go with every request.
//! When the registry answers `401` with a `WWW-Authenticate: Bearer`
//! challenge, a token is asked of its token service (the distribution
//! token flow: `GET realm?service=…&scope=repository:NAME:pull,push`, with
//! the basic credentials), kept until shortly before it expires, and sent
//! instead. A cross-repository mount asks for a token covering both
//! repositories. A token service that refuses the credentials is
//! [`Error::Unauthorized`] naming it; one that does not answer (or answers
//! 5xx/429) is a retryable [`Error::Registry`]. Neither the credentials nor
//! a token ever reach a log, an
//! error or `Debug` output; a token service on plain http is refused under
//! the same rule as the registry, before anything is sent to it, with a
//! final [`Error::Registry`] naming it.
//!
//! ```no_run
//! # async fn demo(image: paragon_core::BuiltImage) -> paragon_core::Result<()> {
//! use paragon_core::plugin::registry::Registry;
//! use paragon_core::{CallContext, Secret};
//! use paragon_registry::{Credentials, DistributionRegistry};
//!
//! let registry = DistributionRegistry::new("registry.example.com")?
//!     .with_credentials(Credentials::basic("ci", Secret::new("…")));
//! let tags = ["1.4.2".to_string(), "latest".to_string()];
//! let pushed = registry.push(&image, "shop/app", &tags, &CallContext::new()).await?;
//! println!("{}", pushed.reference());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use paragon_core::model::oci::{
    Descriptor, Digest, OciLayout, MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use paragon_core::plugin::build::BuiltImage;
use paragon_core::plugin::registry::{
    validate_push, validate_repository, validate_tag, Pushed, Registry,
};
use paragon_core::retry::RetryPolicy;
use paragon_core::transport::{clear_text_refusal, is_loopback, require_https_beyond_loopback};
use paragon_core::{CallContext, Error, Result, Secret};
use reqwest::header::{
    HeaderMap, HeaderName, ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LINK, LOCATION,
    RANGE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};

use crate::credentials::Credentials;

const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// The most pages of a tag list followed; a list that goes on is an error.
pub(crate) const MAX_TAG_PAGES: usize = 10_000;

/// How often a request with no answer yet is reported as still waiting.
const STILL_WAITING: Duration = Duration::from_secs(15);

/// The wait a `Retry-After` header asks for: delta-seconds, or an HTTP
/// date (counted from now; a date in the past is no wait).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

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
}

/// What a request does to a repository: the actions of its token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Pull,
    Push,
}

/// The token scope of `access` to `repository`.
fn scope(repository: &str, access: Access) -> String {
    match access {
        Access::Pull => format!("repository:{repository}:pull"),
        Access::Push => format!("repository:{repository}:pull,push"),
    }
}

/// A bearer token from a token service.
struct Token {
    value: Secret,
    /// When to stop using it: a tenth of its lifetime before it expires.
    renew_at: Instant,
}

/// A `WWW-Authenticate: Bearer` challenge: where to ask for a token.
#[derive(Debug, PartialEq)]
struct Challenge {
    realm: String,
    service: Option<String>,
}

/// The bearer challenge among the `WWW-Authenticate` headers, if any.
fn bearer_challenge(headers: &HeaderMap) -> Option<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| http_auth::parse_challenges(v).ok())
        .flatten()
        .filter(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .find_map(|c| {
            let param = |name: &str| {
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            Some(Challenge {
                realm: param("realm").filter(|r| !r.is_empty())?,
                service: param("service").filter(|s| !s.is_empty()),
            })
        })
}

/// A request body that can be made again, for a second send after a
/// bearer challenge.
enum Payload<'a> {
    Bytes(&'a Bytes),
    /// `len` bytes of a file from `offset`, streamed from disk.
    File {
        path: &'a std::path::Path,
        offset: u64,
        len: u64,
    },
}

impl Payload<'_> {
    /// The body of one send; a file that cannot be read is
    /// [`Error::Layout`] naming it.
    fn body(&self, op: &str) -> Result<reqwest::Body> {
        match self {
            Payload::Bytes(b) => Ok(reqwest::Body::from((*b).clone())),
            Payload::File { path, offset, len } => {
                use std::io::Seek as _;
                use tokio::io::AsyncReadExt as _;
                let open = || -> std::io::Result<std::fs::File> {
                    let mut file = std::fs::File::open(path)?;
                    file.seek(std::io::SeekFrom::Start(*offset))?;
                    Ok(file)
                };
                let file = open().map_err(|e| Error::Layout {
                    path: path.to_path_buf(),
                    message: format!("cannot read the blob to {op}: {e}"),
                })?;
                let part = tokio::fs::File::from_std(file).take(*len);
                Ok(reqwest::Body::wrap_stream(
                    tokio_util::io::ReaderStream::with_capacity(part, UPLOAD_CHUNK),
                ))
            }
        }
    }
}

/// The smallest upload chunk [`DistributionRegistry::with_chunked_uploads`]
/// accepts.
const MIN_CHUNK: u64 = 1 << 20;

/// The slowest upload, in bytes per second, a blob request's timeout
/// allows for (512 KiB/s): see [`DistributionRegistry::with_request_timeout`].
pub const UPLOAD_RATE_FLOOR: u64 = 512 * 1024;

/// The read size when streaming a blob from disk.
const UPLOAD_CHUNK: usize = 1 << 20;

/// An open blob upload: where the next request goes, and what for.
struct Session<'a> {
    location: String,
    path: &'a std::path::Path,
    digest: &'a Digest,
    scopes: &'a [String],
    op: &'a str,
}

/// A token service's answer (the distribution token spec).
#[derive(serde::Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
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

/// A status worth retrying: the registry is busy (429) or failing (5xx).
fn is_transient(code: u16) -> bool {
    code == 429 || code >= 500
}

impl DistributionRegistry {
    /// A registry at `address`: `host[:port]` or a URL
    /// (`https://registry.example.com`, `http://127.0.0.1:5000`). Without a
    /// scheme, https is used, except for loopback hosts (plain http).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an address that is neither, one with
    /// credentials or a path in it, or plain http to a host other than
    /// this machine (see [`new_allowing_http`](Self::new_allowing_http)).
    pub fn new(address: &str) -> Result<DistributionRegistry> {
        DistributionRegistry::create(address, false)
    }

    /// Like [`new`](Self::new), but an `http://` address of a host that is
    /// not loopback is allowed (credentials and images then cross the
    /// network unencrypted).
    pub fn new_allowing_http(address: &str) -> Result<DistributionRegistry> {
        DistributionRegistry::create(address, true)
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
        };
        registry.rebuild()?;
        Ok(registry)
    }

    fn rebuild(&mut self) -> Result<()> {
        require_https_beyond_loopback(
            "registry",
            self.scheme,
            Some(&self.host),
            self.allow_http,
            "DistributionRegistry::new_allowing_http",
        )?;
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
    /// write and the check of who holds the tag (default 1 s).
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

    fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    fn redact(&self, text: &str) -> String {
        let mut t = text.to_owned();
        if let Some(s) = self.credentials.secret() {
            t = s.redact(&t);
        }
        if t.chars().count() > 300 {
            t = t.chars().take(297).collect::<String>() + "...";
        }
        t
    }

    /// An [`Error::Registry`] of `operation` on this registry.
    fn registry_error(
        &self,
        operation: impl Into<String>,
        status: Option<u16>,
        message: String,
        retryable: bool,
    ) -> Error {
        Error::Registry {
            host: self.host.clone(),
            operation: operation.into(),
            status,
            message,
            retryable,
            retry_after: None,
        }
    }

    /// An [`Error::Unauthorized`] from this registry.
    fn unauthorized(&self, message: String) -> Error {
        Error::Unauthorized {
            service: "registry".into(),
            host: self.host.clone(),
            message,
        }
    }

    fn request_error(&self, operation: &str, e: &reqwest::Error) -> Error {
        let status = e.status().map(|s| s.as_u16());
        if matches!(status, Some(401 | 403)) {
            return self.unauthorized(String::new());
        }
        // reqwest's own message holds the URL, which for an upload is long
        // (its session state): say what happened, then the causes.
        let mut message = if e.is_timeout() {
            "no answer before the timeout"
        } else if e.is_connect() {
            "cannot connect"
        } else if e.is_body() {
            "the request or answer body broke off"
        } else if e.is_decode() {
            "the answer could not be read"
        } else {
            "the request failed"
        }
        .to_owned();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        self.registry_error(
            operation,
            status,
            self.redact(&message),
            status.is_none_or(is_transient),
        )
    }

    /// An error for an answer with `status`, `body` and the registry's
    /// `Retry-After`, when it gave one.
    fn answer_error(
        &self,
        operation: &str,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &str,
    ) -> Error {
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.unauthorized(self.redact(body.trim()));
        }
        let code = status.as_u16();
        Error::Registry {
            host: self.host.clone(),
            operation: operation.into(),
            status: Some(code),
            message: self.redact(body.trim()),
            retryable: is_transient(code),
            retry_after,
        }
    }

    /// The error of an answer that is not a success (its body read).
    async fn response_error(&self, operation: &str, res: reqwest::Response) -> Error {
        let status = res.status();
        let wait = retry_after(res.headers());
        let body = res.text().await.unwrap_or_default();
        self.answer_error(operation, status, wait, &body)
    }

    /// Runs `op` with the retry policy ([`RetryPolicy::run`]), warning
    /// every [`STILL_WAITING`] while an attempt has no answer and stopping
    /// when `ctx` is cancelled.
    async fn retrying<T, F, Fut>(&self, operation: &str, ctx: &CallContext, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let what = format!("registry {}", self.host);
        self.retry
            .run(ctx, &what, |attempt| {
                let request = op();
                async move {
                    let started = Instant::now();
                    tokio::pin!(request);
                    let mut ticks = tokio::time::interval_at(
                        tokio::time::Instant::now() + STILL_WAITING,
                        STILL_WAITING,
                    );
                    loop {
                        tokio::select! {
                            r = &mut request => break r,
                            _ = ticks.tick() => tracing::warn!(
                                registry = %self.host,
                                %operation,
                                attempt,
                                waited_s = started.elapsed().as_secs(),
                                "no answer from the registry yet"
                            ),
                            _ = ctx.cancel.cancelled() => break Err(self.cancelled()),
                        }
                    }
                }
            })
            .await
    }

    /// One request to `repository` with the registry's auth (see the
    /// [module docs](self)).
    async fn send(
        &self,
        op: &str,
        method: Method,
        url: &str,
        accept: Option<&str>,
        repository: &str,
        access: Access,
    ) -> Result<reqwest::Response> {
        let headers: Vec<(HeaderName, &str)> = accept.map(|a| (ACCEPT, a)).into_iter().collect();
        self.execute(
            op,
            method,
            url,
            &headers,
            None,
            &[scope(repository, access)],
        )
        .await
    }

    /// One request with the registry's auth. A token already held for
    /// `scopes` is sent at once; otherwise the request goes with the
    /// credentials, and on a bearer challenge a token is fetched and the
    /// request sent again (`body` is made afresh for it).
    async fn execute(
        &self,
        op: &str,
        method: Method,
        url: &str,
        headers: &[(HeaderName, &str)],
        body: Option<&Payload<'_>>,
        scopes: &[String],
    ) -> Result<reqwest::Response> {
        let key = scopes.join(" ");
        let send = |bearer: Option<Secret>| {
            let mut req = self.http.request(method.clone(), url);
            for (name, value) in headers {
                req = req.header(name, *value);
            }
            let body = match body {
                Some(p) => {
                    if let Payload::File { len, .. } = p {
                        req = req
                            .header(CONTENT_LENGTH, *len)
                            .timeout(self.timeout + Duration::from_secs(len / UPLOAD_RATE_FLOOR));
                    }
                    p.body(op)
                }
                // An explicit empty body: registries want a length on POST
                // and PUT.
                None => Ok(reqwest::Body::from(Bytes::new())),
            };
            req = match (&bearer, &self.credentials) {
                (Some(token), _) => req.bearer_auth(token.expose()),
                (None, Credentials::Basic { username, password }) => {
                    req.basic_auth(username, Some(password.expose()))
                }
                (None, Credentials::Bearer(token)) => req.bearer_auth(token.expose()),
                (None, _) => req,
            };
            let with_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
            async move {
                let req = if with_body { req.body(body?) } else { req };
                req.send().await.map_err(|e| self.request_error(op, &e))
            }
        };
        if let Some(token) = self.held_token(&key) {
            let res = send(Some(token)).await?;
            if res.status() != StatusCode::UNAUTHORIZED {
                return Ok(res);
            }
            // Revoked or expired early: ask for a new one below.
            self.held_tokens().remove(&key);
        }
        let res = send(None).await?;
        if res.status() != StatusCode::UNAUTHORIZED {
            return Ok(res);
        }
        let Some(challenge) = bearer_challenge(res.headers()) else {
            return Ok(res);
        };
        let (token, lifetime) = self.fetch_token(op, &challenge, scopes).await?;
        let res = send(Some(token.clone())).await;
        let renew_at = Instant::now() + lifetime - lifetime / 10;
        self.held_tokens().insert(
            key,
            Token {
                value: token,
                renew_at,
            },
        );
        res
    }

    /// The token cache (a panic elsewhere while it was held leaves it
    /// usable: it only holds whole entries).
    fn held_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Token>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token held for `key`, unless it is due for renewal.
    fn held_token(&self, key: &str) -> Option<Secret> {
        let mut tokens = self.held_tokens();
        match tokens.get(key) {
            Some(t) if t.renew_at > Instant::now() => Some(t.value.clone()),
            Some(_) => {
                tokens.remove(key);
                None
            }
            None => None,
        }
    }

    /// Asks the token service of `challenge` for a token covering
    /// `scopes`, with the basic credentials when there are some. A refusal
    /// (401/403) is [`Error::Unauthorized`]; no answer or a 5xx/429 is a
    /// retryable [`Error::Registry`]; an answer that holds no token, or a
    /// token service on plain http beyond this machine when http is not
    /// allowed (asked nothing), is a final one. Errors name the token
    /// service, never the answer's body.
    async fn fetch_token(
        &self,
        op: &str,
        challenge: &Challenge,
        scopes: &[String],
    ) -> Result<(Secret, Duration)> {
        let realm_name = &challenge.realm;
        let failed = |status: Option<u16>, message: String, retryable: bool| {
            self.registry_error(
                op,
                status,
                format!("token service {realm_name}: {message}"),
                retryable,
            )
        };
        let realm = url::Url::parse(realm_name)
            .map_err(|e| failed(None, format!("not a URL: {e}"), false))?;
        if !matches!(realm.scheme(), "https" | "http") {
            return Err(failed(None, "refused: not an http(s) URL".into(), false));
        }
        // The rule the registry's own address is held to. What is refused
        // is the registry's answer, not the caller's configuration: a
        // registry error rather than a configuration one.
        if let Some(reason) = clear_text_refusal(
            realm.scheme(),
            realm.host_str(),
            self.allow_http,
            "DistributionRegistry::new_allowing_http",
        ) {
            return Err(failed(None, format!("refused: {reason}"), false));
        }
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = &challenge.service {
            query.push(("service", service));
        }
        for s in scopes {
            query.push(("scope", s));
        }
        let mut req = self.http.get(realm).query(&query);
        if let Credentials::Basic { username, password } = &self.credentials {
            req = req.basic_auth(username, Some(password.expose()));
        }
        let res = req
            .send()
            .await
            .map_err(|e| failed(None, format!("no answer: {e}"), true))?;
        let status = res.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(format!(
                "the token service {realm_name} refused the credentials ({status})"
            )));
        }
        if !status.is_success() {
            let code = status.as_u16();
            return Err(failed(
                Some(code),
                format!("answered {status}"),
                is_transient(code),
            ));
        }
        let body = res.bytes().await.map_err(|e| {
            failed(
                Some(status.as_u16()),
                format!("the answer broke off: {e}"),
                true,
            )
        })?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            failed(
                Some(status.as_u16()),
                format!("the answer is not a token: {e}"),
                false,
            )
        })?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                failed(
                    Some(status.as_u16()),
                    "the answer holds no token".into(),
                    false,
                )
            })?;
        // The spec's default lifetime, and its floor, is 60 s.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60).max(60));
        Ok((Secret::new(token), lifetime))
    }

    /// Resolves an upload session's `Location` (absolute, or a path on
    /// the registry).
    fn upload_location(&self, res: &reqwest::Response, op: &str) -> Result<String> {
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| {
                self.registry_error(
                    op,
                    Some(res.status().as_u16()),
                    "the upload session has no Location".into(),
                    false,
                )
            })?;
        url::Url::parse(&self.base())
            .and_then(|base| base.join(location))
            .map(String::from)
            .map_err(|e| {
                self.registry_error(
                    op,
                    Some(res.status().as_u16()),
                    format!("invalid upload Location `{location}`: {e}"),
                    false,
                )
            })
    }

    /// Fails with the answer's status and body unless it is a success.
    async fn expect_success(&self, res: reqwest::Response, op: &str) -> Result<reqwest::Response> {
        if res.status().is_success() {
            return Ok(res);
        }
        Err(self.response_error(op, res).await)
    }

    /// Uploads a blob from its file. `POST …/blobs/uploads/` opens a
    /// session; then either one `PUT` of the whole blob with its digest,
    /// or, for a blob larger than the chunk size, one `PATCH` per chunk
    /// (each at the `Location` the previous answer gave, with its
    /// `Content-Range`) and a closing `PUT` with the digest and no body.
    async fn upload_blob(
        &self,
        repository: &str,
        digest: &Digest,
        path: &std::path::Path,
        len: u64,
        op: &str,
    ) -> Result<()> {
        let scopes = [scope(repository, Access::Push)];
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base());
        let res = self
            .execute(op, Method::POST, &url, &[], None, &scopes)
            .await?;
        let res = self.expect_success(res, op).await?;
        let location = self.upload_location(&res, op)?;
        let whole = Payload::File {
            path,
            offset: 0,
            len,
        };
        // The closing PUT carries the whole blob, or nothing after chunks.
        let (location, last) = match self.chunk.filter(|&c| len > c) {
            Some(chunk) => {
                let session = Session {
                    location,
                    path,
                    digest,
                    scopes: &scopes,
                    op,
                };
                (self.upload_chunks(session, len, chunk).await?, None)
            }
            None => (location, Some(&whole)),
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let headers: &[(HeaderName, &str)] = match last {
            Some(_) => &[(CONTENT_TYPE, "application/octet-stream")],
            None => &[],
        };
        let res = self
            .execute(op, Method::PUT, &url, headers, last, &scopes)
            .await?;
        self.expect_success(res, op).await.map(drop)
    }

    /// Sends the blob in `chunk`-sized `PATCH`es, each at the `Location`
    /// the previous answer gave, and checks the `Range` each answer says
    /// it holds; the `Location` for the closing `PUT`.
    async fn upload_chunks(&self, session: Session<'_>, len: u64, chunk: u64) -> Result<String> {
        let Session {
            mut location,
            path,
            digest,
            scopes,
            op,
        } = session;
        let mut offset = 0;
        while offset < len {
            let n = chunk.min(len - offset);
            let end = offset + n - 1;
            let range = format!("{offset}-{end}");
            let headers = [
                (CONTENT_TYPE, "application/octet-stream"),
                (CONTENT_RANGE, range.as_str()),
            ];
            let part = Payload::File {
                path,
                offset,
                len: n,
            };
            let res = self
                .execute(op, Method::PATCH, &location, &headers, Some(&part), scopes)
                .await?;
            let res = self.expect_success(res, op).await?;
            // The registry says how much it holds: it must be all sent.
            let held = res.headers().get(RANGE).and_then(|h| h.to_str().ok());
            if let Some(held) = held {
                let held_end = held.rsplit('-').next().and_then(|e| e.trim().parse().ok());
                if held_end != Some(end) {
                    return Err(self.registry_error(
                        op,
                        Some(res.status().as_u16()),
                        format!("after the chunk {range}, the registry holds `{held}`"),
                        false,
                    ));
                }
            }
            location = self.upload_location(&res, op)?;
            tracing::debug!(%digest, range = %range, "chunk uploaded");
            offset += n;
        }
        Ok(location)
    }

    /// Asks the registry to mount `digest` from `from` into `repository`
    /// (`POST …/blobs/uploads/?mount=…&from=…`); true when it did (201).
    /// A registry that cannot mount opens an upload session instead (202):
    /// it is cancelled (`DELETE` at its `Location`), the blob is uploaded
    /// afresh.
    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> bool {
        let op = "mount blob";
        let scopes = [scope(repository, Access::Push), scope(from, Access::Pull)];
        let url = format!(
            "{}/v2/{repository}/blobs/uploads/?mount={digest}&from={from}",
            self.base()
        );
        let Ok(res) = self
            .execute(op, Method::POST, &url, &[], None, &scopes)
            .await
        else {
            return false;
        };
        if res.status() == StatusCode::ACCEPTED {
            if let Ok(session) = self.upload_location(&res, op) {
                let cancelled = self
                    .execute(op, Method::DELETE, &session, &[], None, &scopes)
                    .await;
                tracing::debug!(%digest, %from, cancelled = cancelled.is_ok(), "not mounted");
            }
        }
        res.status() == StatusCode::CREATED
    }

    /// `GET …/manifests/<digest>`: the manifest's bytes and media type.
    async fn get_manifest(
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
        let content_type = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned());
        let body = res.bytes().await.map_err(|e| self.request_error(op, &e))?;
        Ok((body, content_type))
    }

    async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base());
        let op = format!("check blob {digest}");
        let res = self
            .send(&op, Method::HEAD, &url, None, repository, Access::Push)
            .await?;
        match res.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.response_error(&op, res).await),
        }
    }

    async fn head_manifest(&self, repository: &str, reference: &str) -> Result<Option<Digest>> {
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

    async fn push_one_blob(
        &self,
        layout: &OciLayout,
        repository: &str,
        blob: &Descriptor,
        ctx: &CallContext,
    ) -> Result<bool> {
        let digest = &blob.digest;
        let exists = self
            .retrying(&format!("check blob {digest}"), ctx, || {
                self.blob_exists(repository, digest)
            })
            .await?;
        if exists {
            return Ok(false);
        }
        for from in &self.mount_from {
            if from == repository {
                continue;
            }
            if self.mount_blob(repository, from, digest).await
                && self.blob_exists(repository, digest).await.unwrap_or(false)
            {
                tracing::debug!(%digest, %from, "blob mounted");
                return Ok(false);
            }
        }
        // Streamed from disk, never held whole in memory: layers can be
        // gigabytes. Checked against its digest first, so that a corrupt
        // layout is reported as such, naming the file.
        let (path, len) = layout.verified_blob_file(digest)?;
        if len != blob.size {
            return Err(Error::Layout {
                path,
                message: format!(
                    "blob {digest} has {len} bytes, its descriptor says {}",
                    blob.size
                ),
            });
        }
        let op = format!("upload blob {digest} ({len} bytes) to {repository}");
        self.retrying(&op, ctx, || {
            self.upload_blob(repository, digest, &path, len, &op)
        })
        .await?;
        Ok(true)
    }

    /// `PUT …/manifests/<reference>` (a tag or a digest).
    async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        body: &Bytes,
        media_type: &str,
        ctx: &CallContext,
    ) -> Result<()> {
        let op = format!("put manifest {repository}:{reference}");
        if reqwest::header::HeaderValue::from_str(media_type).is_err() {
            return Err(Error::Layout {
                path: Default::default(),
                message: format!("invalid media type `{media_type}`"),
            });
        }
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base());
        let scopes = [scope(repository, Access::Push)];
        let headers = [(CONTENT_TYPE, media_type)];
        self.retrying(&op, ctx, || async {
            let res = self
                .execute(
                    &op,
                    Method::PUT,
                    &url,
                    &headers,
                    Some(&Payload::Bytes(body)),
                    &scopes,
                )
                .await?;
            self.expect_success(res, &op).await.map(drop)
        })
        .await
    }

    /// Points `tag` at a manifest the repository already holds (`digest`):
    /// the manifest is fetched by digest and PUT under the tag, which moves
    /// the tag if it exists.
    pub async fn tag_existing(
        &self,
        repository: &str,
        digest: &Digest,
        tag: &str,
        ctx: &CallContext,
    ) -> Result<()> {
        validate_repository(repository)?;
        validate_tag(tag)?;
        self.put_existing(repository, digest, tag, ctx).await?;
        self.verify_tag(repository, tag, digest, ctx).await
    }

    /// Fetches the manifest `digest` of `repository` and PUTs it under
    /// `tag`, unverified.
    async fn put_existing(
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
    }

    /// Checks that `tag` resolves to `digest` in `repository`.
    async fn verify_tag(
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
        if held.as_ref() == Some(digest) {
            return Ok(());
        }
        Err(self.registry_error(
            format!("verify {repository}:{tag}"),
            None,
            format!(
                "the registry holds {} under the tag, not the pushed {digest}",
                held.map_or("nothing".into(), |d| d.to_string())
            ),
            false,
        ))
    }

    /// Runs `work` within the context's timeout, when it sets one (the
    /// retries stop on cancellation by themselves).
    async fn bounded<T>(
        &self,
        ctx: &CallContext,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        ctx.run(&format!("registry {}", self.host), work).await
    }

    /// The error of a cancelled operation.
    fn cancelled(&self) -> Error {
        Error::Cancelled {
            tool: format!("registry {}", self.host),
        }
    }

    /// The tags of a repository, one page at a time, following the `Link`
    /// header of each answer (the distribution spec's pagination).
    async fn tags_paged(&self, repository: &str, ctx: &CallContext) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = format!(
            "{}/v2/{repository}/tags/list?n={}",
            self.base(),
            self.page_size
        );
        let mut tags = Vec::new();
        let op = format!("list tags of {repository}");
        for page in 1.. {
            if page > MAX_TAG_PAGES {
                // A `Link` that never ends (or loops): a short list would
                // be a false answer.
                return Err(self.registry_error(
                    &op,
                    None,
                    format!("the tag list did not end after {MAX_TAG_PAGES} pages"),
                    false,
                ));
            }
            let res = self
                .retrying(&op, ctx, || async {
                    let res = self
                        .send(&op, Method::GET, &url, None, repository, Access::Pull)
                        .await?;
                    let status = res.status();
                    if !status.is_success() && status != StatusCode::NOT_FOUND {
                        // A failure, retried when it is transient.
                        return Err(self.response_error(&op, res).await);
                    }
                    let link = res
                        .headers()
                        .get(LINK)
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_owned);
                    let body = res.text().await.map_err(|e| self.request_error(&op, &e))?;
                    Ok((status, link, body))
                })
                .await?;
            let (status, link, body) = res;
            if status == StatusCode::NOT_FOUND {
                return Ok(Vec::new());
            }
            let page: Page = serde_json::from_str(&body).map_err(|e| {
                self.registry_error(
                    &op,
                    Some(status.as_u16()),
                    format!("invalid tag list: {e}"),
                    false,
                )
            })?;
            tags.extend(page.tags.unwrap_or_default());
            match link.as_deref().and_then(next_link) {
                Some(next) if next.starts_with("http://") || next.starts_with("https://") => {
                    url = next
                }
                Some(next) => url = format!("{}{next}", self.base()),
                None => break,
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }
}

/// The target of `rel="next"` in a `Link` header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim();
        (is_next && target.starts_with('<') && target.ends_with('>'))
            .then(|| target[1..target.len() - 1].to_owned())
    })
}

fn is_manifest(media_type: &str) -> bool {
    matches!(
        media_type,
        MEDIA_TYPE_MANIFEST
            | MEDIA_TYPE_INDEX
            | MEDIA_TYPE_DOCKER_MANIFEST
            | MEDIA_TYPE_DOCKER_LIST
    )
}

#[async_trait]
impl Registry for DistributionRegistry {
    fn name(&self) -> &str {
        "distribution"
    }

    fn location(&self) -> String {
        self.host.clone()
    }

    #[tracing::instrument(name = "push", skip_all, fields(registry = %self.host, %repository, digest = %image.digest))]
    async fn push(
        &self,
        image: &BuiltImage,
        repository: &str,
        tags: &[String],
        ctx: &CallContext,
    ) -> Result<Pushed> {
        validate_push(repository, tags)?;
        if ctx.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        let layout = OciLayout::open(&image.layout)?;
        let closure = layout.closure(&image.descriptor())?;
        let mut pushed = Pushed::new(&self.host, repository, image.digest.clone(), tags.to_vec());
        // Blobs first, then child manifests by digest, then the root under
        // each tag: no tag can name an image whose parts are missing.
        for blob in closure.iter().filter(|d| !is_manifest(&d.media_type)) {
            if self.push_one_blob(&layout, repository, blob, ctx).await? {
                pushed.uploaded += 1;
            } else {
                pushed.skipped += 1;
            }
        }
        for m in closure
            .iter()
            .filter(|d| is_manifest(&d.media_type) && d.digest != image.digest)
        {
            let body = Bytes::from(layout.read_blob(&m.digest)?);
            self.put_manifest(repository, m.digest.as_str(), &body, &m.media_type, ctx)
                .await?;
        }
        let body = Bytes::from(layout.read_blob(&image.digest)?);
        if tags.is_empty() {
            self.put_manifest(
                repository,
                image.digest.as_str(),
                &body,
                &image.media_type,
                ctx,
            )
            .await?;
        }
        for t in tags {
            self.put_manifest(repository, t, &body, &image.media_type, ctx)
                .await?;
        }
        for t in tags {
            self.verify_tag(repository, t, &image.digest, ctx).await?;
        }
        tracing::info!(tags = ?tags, uploaded = pushed.uploaded, skipped = pushed.skipped, "pushed");
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
        let op = format!("resolve {repository}:{tag}");
        self.bounded(
            ctx,
            self.retrying(&op, ctx, || self.head_manifest(repository, tag)),
        )
        .await
    }

    async fn list_tags(&self, repository: &str, ctx: &CallContext) -> Result<Vec<String>> {
        validate_repository(repository)?;
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
        repository: &str,
        tag: &str,
        digest: &Digest,
        ctx: &CallContext,
    ) -> Result<bool> {
        validate_repository(repository)?;
        validate_tag(tag)?;
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

    async fn delete_tag(&self, repository: &str, tag: &str, ctx: &CallContext) -> Result<()> {
        validate_repository(repository)?;
        validate_tag(tag)?;
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
}

#[cfg(test)]
mod tests {
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
        let err = DistributionRegistry::new("http://registry.example.com").unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
        assert!(
            err.to_string().contains("http://registry.example.com"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("DistributionRegistry::new_allowing_http"),
            "{err}"
        );
        let r = DistributionRegistry::new_allowing_http("http://registry.example.com").unwrap();
        assert_eq!(r.scheme, "http");
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
