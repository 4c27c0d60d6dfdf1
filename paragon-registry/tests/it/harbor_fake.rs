//! A Harbor in front of a real `docker-registry`, for the registry
//! conformance suite: it answers the REST API v2.0 calls `HarborRegistry`
//! makes as Harbor's swagger documents them (projects, the artifact listing
//! with tags, tag creation and deletion), from the registry's own state,
//! and serves the distribution API on the same address by forwarding it to
//! the registry, as Harbor's core does. Like Harbor, it keeps tags in its
//! own database: a deleted tag is gone from the listing and from
//! `/v2/…/manifests/<tag>` although distribution 2.8 cannot delete one tag.
//!
//! It serves the referrers API as the OCI distribution spec 1.1 has it
//! (as Harbor does): a manifest pushed with a `subject` is answered with
//! `OCI-Subject` and listed by `GET /v2/<name>/referrers/<digest>`, an
//! image index of descriptors with the manifest's `artifactType` (its
//! config's media type when it has none) and annotations, filtered by
//! `?artifactType=` with `OCI-Filters-Applied`, two per page linked by
//! `Link: <…>; rel="next"`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::support::{PASSWORD, USER};

const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Default)]
struct State {
    projects: BTreeSet<String>,
    /// (repository, tag) pairs deleted through the API.
    deleted: BTreeSet<(String, String)>,
    /// The referrers of each (repository, subject digest).
    referrers: BTreeMap<(String, String), Vec<serde_json::Value>>,
    /// Requests to the referrers API.
    pub(crate) referrers_requests: usize,
}

#[derive(Clone)]
struct Fake {
    state: Arc<Mutex<State>>,
    /// Held across a tag creation's check and write: Harbor's database
    /// keeps a tag unique within a repository, so of concurrent creations
    /// of one tag exactly one succeeds.
    tagging: Arc<tokio::sync::Mutex<()>>,
    registry: String,
    origin: String,
    http: reqwest::Client,
}

/// A running fake Harbor; its URL serves both APIs.
pub(crate) struct FakeHarbor {
    pub(crate) url: String,
    state: Arc<Mutex<State>>,
}

impl FakeHarbor {
    /// Starts one in front of the registry at `registry` (`host:port`, with
    /// the test user's htpasswd credentials).
    pub(crate) async fn start(registry: &str) -> FakeHarbor {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state: Arc<Mutex<State>> = Arc::default();
        let fake = Fake {
            state: state.clone(),
            tagging: Arc::default(),
            registry: format!("http://{registry}"),
            origin: origin.clone(),
            http: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let fake = fake.clone();
            async move { fake.handle(req).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeHarbor { url: origin, state }
    }

    /// How many requests the referrers API has answered.
    pub(crate) fn referrers_requests(&self) -> usize {
        self.state.lock().unwrap().referrers_requests
    }
}

/// The referrers list entry of a pushed manifest with a subject, as the
/// distribution spec has it, and its subject's digest.
fn referrer(body: &[u8], content_type: &str) -> Option<(String, serde_json::Value)> {
    use sha2::Digest as _;
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let subject = doc["subject"]["digest"].as_str()?.to_owned();
    let mut entry = json!({
        "mediaType": doc["mediaType"].as_str().unwrap_or(content_type),
        "digest": format!("sha256:{:x}", sha2::Sha256::digest(body)),
        "size": body.len(),
    });
    let artifact_type = doc["artifactType"]
        .as_str()
        .filter(|t| !t.is_empty())
        .or(doc["config"]["mediaType"].as_str());
    if let Some(t) = artifact_type {
        entry["artifactType"] = json!(t);
    }
    if let Some(a) = doc.get("annotations") {
        entry["annotations"] = a.clone();
    }
    Some((subject, entry))
}

fn harbor_error(status: StatusCode, code: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "errors": [{ "code": code, "message": message }] }).to_string(),
        ))
        .unwrap()
}

fn manifest_unknown(reference: &str) -> Response {
    Response::builder()
        .status(404)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "errors": [{ "code": "MANIFEST_UNKNOWN", "message": "manifest unknown",
                "detail": { "Tag": reference } }] })
            .to_string(),
        ))
        .unwrap()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

impl Fake {
    async fn handle(&self, req: Request<Body>) -> Response {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        if let Some((repository, digest)) = path
            .strip_prefix("/v2/")
            .and_then(|p| p.rsplit_once("/referrers/"))
            .filter(|(_, digest)| digest.starts_with("sha256:") && !digest.contains('/'))
        {
            if !self.admin(&parts.headers) {
                return harbor_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized");
            }
            return self.referrers(repository, digest, &query);
        }
        if path.starts_with("/v2/") || path == "/v2" {
            return self
                .distribution(parts.method, &path, &query, parts.headers, body)
                .await;
        }
        if !self.admin(&parts.headers) {
            return harbor_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized");
        }
        let Some(rest) = path.strip_prefix("/api/v2.0/") else {
            return harbor_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such API");
        };
        let segments: Vec<&str> = rest.split('/').collect();
        match (parts.method.as_str(), segments.as_slice()) {
            ("HEAD", ["projects"]) => {
                let name = decode(param(&query, "project_name").unwrap_or(""));
                let status = if self.state.lock().unwrap().projects.contains(&name) {
                    200
                } else {
                    404
                };
                Response::builder()
                    .status(status)
                    .body(Body::empty())
                    .unwrap()
            }
            ("POST", ["projects"]) => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let Some(name) = v["project_name"].as_str() else {
                    return harbor_error(
                        StatusCode::BAD_REQUEST,
                        "BAD_REQUEST",
                        "project_name is required",
                    );
                };
                if !self.state.lock().unwrap().projects.insert(name.to_owned()) {
                    return harbor_error(
                        StatusCode::CONFLICT,
                        "CONFLICT",
                        &format!("the project named {name} already exists"),
                    );
                }
                Response::builder()
                    .status(201)
                    .header("location", format!("/api/v2.0/projects/{name}"))
                    .body(Body::empty())
                    .unwrap()
            }
            (method, ["projects", project, "repositories", repo, "artifacts", rest @ ..]) => {
                // The repository arrives encoded twice (`team%252Fapp`).
                let repository = format!("{}/{}", decode(project), decode(&decode(repo)));
                match (method, rest) {
                    ("GET", []) => self.artifacts(&repository, &query).await,
                    ("POST", [reference, "tags"]) => {
                        let v: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        let tag = v["name"].as_str().unwrap_or_default().to_owned();
                        self.add_tag(&repository, &decode(reference), &tag).await
                    }
                    ("DELETE", [_reference, "tags", tag]) => {
                        self.delete_tag(&repository, &decode(tag)).await
                    }
                    _ => harbor_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route"),
                }
            }
            _ => harbor_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route"),
        }
    }

    /// `GET /v2/<repository>/referrers/<digest>`.
    fn referrers(&self, repository: &str, digest: &str, query: &str) -> Response {
        let mut s = self.state.lock().unwrap();
        s.referrers_requests += 1;
        let wanted = param(query, "artifactType").map(decode);
        let all = s
            .referrers
            .get(&(repository.to_owned(), digest.to_owned()))
            .cloned()
            .unwrap_or_default();
        let listed: Vec<_> = all
            .into_iter()
            .filter(|d| wanted.as_deref().is_none_or(|w| d["artifactType"] == w))
            .collect();
        let page: usize = param(query, "page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let chunk: Vec<_> = listed.iter().skip(page * 2).take(2).cloned().collect();
        let mut out = Response::builder()
            .status(200)
            .header("content-type", "application/vnd.oci.image.index.v1+json");
        if wanted.is_some() {
            out = out.header("oci-filters-applied", "artifactType");
        }
        if listed.len() > (page + 1) * 2 {
            let mut next = format!("/v2/{repository}/referrers/{digest}?page={}", page + 1);
            if let Some(w) = param(query, "artifactType") {
                next.push_str(&format!("&artifactType={w}"));
            }
            out = out.header("link", format!("<{next}>; rel=\"next\""));
        }
        let body = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": chunk,
        });
        out.body(Body::from(body.to_string())).unwrap()
    }

    fn admin(&self, headers: &HeaderMap) -> bool {
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
    }

    /// A request to the registry with the test user's credentials.
    fn to_registry(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.registry))
            .basic_auth(USER, Some(PASSWORD))
    }

    /// The repository's tags as the registry holds them, less the deleted.
    async fn live_tags(&self, repository: &str) -> Vec<String> {
        let res = self
            .to_registry(Method::GET, &format!("/v2/{repository}/tags/list"))
            .send()
            .await
            .unwrap();
        if res.status() == 404 {
            return Vec::new();
        }
        assert!(res.status().is_success(), "tags/list: {}", res.status());
        let v: serde_json::Value = res.json().await.unwrap();
        let state = self.state.lock().unwrap();
        v["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
            .filter(|t| {
                !state
                    .deleted
                    .contains(&(repository.to_owned(), (*t).to_owned()))
            })
            .map(str::to_owned)
            .collect()
    }

    async fn digest_of(&self, repository: &str, reference: &str) -> Option<String> {
        let res = self
            .to_registry(
                Method::HEAD,
                &format!("/v2/{repository}/manifests/{reference}"),
            )
            .header("accept", MANIFEST_TYPES)
            .send()
            .await
            .unwrap();
        if !res.status().is_success() {
            return None;
        }
        res.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// `GET …/artifacts?with_tag=true&page=&page_size=`: one artifact per
    /// digest with its tags, paginated with `Link` and `X-Total-Count`.
    async fn artifacts(&self, repository: &str, query: &str) -> Response {
        let mut by_digest: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for tag in self.live_tags(repository).await {
            if let Some(d) = self.digest_of(repository, &tag).await {
                by_digest.entry(d).or_default().push(tag);
            }
        }
        let all: Vec<serde_json::Value> = by_digest
            .into_iter()
            .map(|(digest, tags)| {
                json!({ "digest": digest,
                        "tags": tags.iter().map(|t| json!({ "name": t })).collect::<Vec<_>>() })
            })
            .collect();
        let page: usize = param(query, "page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let size: usize = param(query, "page_size")
            .and_then(|p| p.parse().ok())
            .unwrap_or(10);
        let items: Vec<&serde_json::Value> =
            all.iter().skip((page - 1) * size).take(size).collect();
        let mut res = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("x-total-count", all.len());
        if page * size < all.len() {
            let (project, repo) = repository.split_once('/').unwrap();
            let repo = repo.replace('/', "%252F");
            res = res.header(
                "link",
                format!(
                    "</api/v2.0/projects/{project}/repositories/{repo}/artifacts?with_tag=true&page={}&page_size={size}>; rel=\"next\"",
                    page + 1
                ),
            );
        }
        res.body(Body::from(serde_json::to_vec(&items).unwrap()))
            .unwrap()
    }

    /// `POST …/artifacts/{reference}/tags`: 409 when the tag exists, else
    /// the registry gets the artifact's manifest under the tag.
    async fn add_tag(&self, repository: &str, reference: &str, tag: &str) -> Response {
        let _unique = self.tagging.lock().await;
        if self.live_tags(repository).await.iter().any(|t| t == tag) {
            return harbor_error(
                StatusCode::CONFLICT,
                "CONFLICT",
                &format!("the tag {tag} already exists"),
            );
        }
        let got = self
            .to_registry(
                Method::GET,
                &format!("/v2/{repository}/manifests/{reference}"),
            )
            .header("accept", MANIFEST_TYPES)
            .send()
            .await
            .unwrap();
        if !got.status().is_success() {
            return harbor_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("artifact {reference} not found"),
            );
        }
        let media_type = got.headers()["content-type"].clone();
        let manifest = got.bytes().await.unwrap();
        let put = self
            .to_registry(Method::PUT, &format!("/v2/{repository}/manifests/{tag}"))
            .header("content-type", media_type)
            .body(manifest)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "retag: {}", put.status());
        self.state
            .lock()
            .unwrap()
            .deleted
            .remove(&(repository.to_owned(), tag.to_owned()));
        Response::builder().status(201).body(Body::empty()).unwrap()
    }

    /// `DELETE …/artifacts/{reference}/tags/{tag}`: 404 for a tag that is
    /// not there.
    async fn delete_tag(&self, repository: &str, tag: &str) -> Response {
        if !self.live_tags(repository).await.iter().any(|t| t == tag) {
            return harbor_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("tag {tag} not found"),
            );
        }
        self.state
            .lock()
            .unwrap()
            .deleted
            .insert((repository.to_owned(), tag.to_owned()));
        Response::builder().status(200).body(Body::empty()).unwrap()
    }

    /// The distribution API, forwarded to the registry; manifests by a
    /// deleted tag are unknown, and a manifest put under a tag brings it
    /// back.
    async fn distribution(
        &self,
        method: Method,
        path: &str,
        query: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let tag_ref = path
            .strip_prefix("/v2/")
            .and_then(|p| p.rsplit_once("/manifests/"))
            .filter(|(_, r)| !r.starts_with("sha256:"))
            .map(|(repo, tag)| (repo.to_owned(), tag.to_owned()));
        let manifest_repo = path
            .strip_prefix("/v2/")
            .and_then(|p| p.rsplit_once("/manifests/"))
            .map(|(repo, _)| repo.to_owned());
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if let Some(key) = &tag_ref {
            let deleted = self.state.lock().unwrap().deleted.contains(key);
            if deleted && (method == Method::GET || method == Method::HEAD) {
                return manifest_unknown(&key.1);
            }
        }
        let url = if query.is_empty() {
            format!("{}{path}", self.registry)
        } else {
            format!("{}{path}?{query}", self.registry)
        };
        let mut req = self.http.request(method.clone(), url).body(body.clone());
        for (k, v) in &headers {
            if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                req = req.header(k, v);
            }
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let mut took_subject = None;
        if method == Method::PUT && status.is_success() {
            let mut s = self.state.lock().unwrap();
            if let Some(key) = tag_ref {
                s.deleted.remove(&key);
            }
            if let (Some(repo), Some((subject, entry))) =
                (manifest_repo, referrer(&body, &content_type))
            {
                let listed = s.referrers.entry((repo, subject.clone())).or_default();
                if !listed.iter().any(|d| d["digest"] == entry["digest"]) {
                    listed.push(entry);
                }
                took_subject = Some(subject);
            }
        }
        let mut out = Response::builder().status(status);
        if let Some(subject) = took_subject {
            out = out.header("oci-subject", subject);
        }
        for (k, v) in res.headers() {
            if k == "location" {
                let moved = v.to_str().unwrap().replace(&self.registry, &self.origin);
                out = out.header(k, moved);
            } else if !matches!(
                k.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                out = out.header(k, v);
            }
        }
        out.body(Body::from(res.bytes().await.unwrap())).unwrap()
    }
}
