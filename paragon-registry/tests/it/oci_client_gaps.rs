//! What `oci-client`, the ecosystem's registry client, does where
//! `DistributionRegistry` behaves otherwise: the reasons, recorded in
//! `DECISIONS.md`, why the distribution protocol is spoken over `reqwest`
//! here rather than on `oci-client`.
//!
//! Each test puts `oci-client` and `DistributionRegistry` before the same
//! local registry (an HTTP server answering as the distribution spec
//! documents, with the fault under test) and asserts what each does. When
//! an `oci-client` release closes a gap, its test fails: the decision is
//! then due again, and the move onto `oci-client` may be made for the
//! calls that no longer lose anything.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use paragon_core::model::oci::Digest;
use paragon_core::plugin::registry::Registry;
use paragon_core::CallContext;

use crate::support::{client, repo, tag, PASSWORD, USER};

/// A request the local registry received.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    /// Path and query.
    uri: String,
    authorization: Option<String>,
}

/// A local registry: its address and what it received.
struct Fake {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// A registry whose answers `answer` gives; `answer` is made from the
    /// registry's own address (token realms and `Link`s name it).
    async fn start<F>(answer: impl FnOnce(&str) -> F) -> Fake
    where
        F: Fn(&Method, &Uri, &HeaderMap) -> Response + Clone + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let answer = answer(&addr);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap| async move {
                log.lock().unwrap().push(Seen {
                    method: method.clone(),
                    uri: uri.to_string(),
                    authorization: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                });
                answer(&method, &uri, &headers)
            },
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fake { addr, seen }
    }

    fn seen(&self, method: &Method, part: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.method == *method && s.uri.contains(part))
            .cloned()
            .collect()
    }

    fn reference(&self, tag: &str) -> Reference {
        Reference::with_tag(self.addr.clone(), "shop/app".to_owned(), tag.to_owned())
    }

    /// The referrers of `subject` in `shop/app` as `oci-client` lists them.
    async fn oci_referrers(&self, subject: &Digest) -> oci_client::manifest::OciImageIndex {
        let image = Reference::with_digest(
            self.addr.clone(),
            "shop/app".to_owned(),
            subject.to_string(),
        );
        oci().pull_referrers(&image, None).await.unwrap()
    }

    /// The referrers of `subject` in `shop/app` as `DistributionRegistry`
    /// lists them.
    async fn referrers(
        &self,
        subject: &Digest,
    ) -> paragon_core::Result<Vec<paragon_core::model::oci::Descriptor>> {
        client(&self.addr)
            .referrers(&repo("shop/app"), subject, None, &CallContext::new())
            .await
    }
}

/// `oci-client` over plain http, otherwise as it comes.
fn oci() -> Client {
    Client::try_from(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    })
    .unwrap()
}

fn answer(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response {
    let mut res = Response::builder().status(status);
    for (name, value) in headers {
        res = res.header(*name, *value);
    }
    res.body(body.into()).unwrap()
}

/// `/v2/` answers 200: no authentication.
fn open(uri: &Uri) -> Option<Response> {
    (uri.path() == "/v2/").then(|| answer(200, &[], "{}"))
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SBOM_TYPE: &str = "application/vnd.cyclonedx+json";

/// A referrers index listing one SBOM artifact whose manifest is `name`.
fn index_of(name: &str) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": Digest::of(name.as_bytes()).to_string(),
            "size": 100,
            "artifactType": SBOM_TYPE,
        }],
    })
    .to_string()
}

#[tokio::test]
async fn a_wait_the_registry_asks_for_is_not_in_oci_clients_errors() {
    let fake = Fake::start(|_| {
        |method: &Method, uri: &Uri, _: &HeaderMap| {
            open(uri).unwrap_or_else(|| match *method {
                Method::HEAD => answer(429, &[("retry-after", "3600")], ""),
                _ => answer(503, &[("retry-after", "3600")], "busy"),
            })
        }
    })
    .await;
    let blob = Digest::of(b"layer").to_string();
    // A blob check's 429 is a `reqwest::Error`: a status, no headers.
    match oci().blob_exists(&fake.reference("1.0.0"), &blob).await {
        Err(OciDistributionError::RequestError(e)) => assert_eq!(e.status().unwrap(), 429),
        other => panic!("{other:?}"),
    }
    // A manifest push's 503 is a `ServerError`: these three fields, no
    // headers. (A field added to it stops this pattern compiling.)
    let manifest = serde_json::json!({"schemaVersion": 2}).to_string();
    match oci()
        .push_manifest_raw(
            &fake.reference("1.0.0"),
            manifest,
            "application/vnd.oci.image.manifest.v1+json"
                .parse()
                .unwrap(),
        )
        .await
    {
        Err(OciDistributionError::ServerError { code, url, message }) => {
            assert_eq!(code, 503);
            assert!(url.contains("/manifests/1.0.0"), "{url}");
            assert_eq!(message, "busy");
        }
        other => panic!("{other:?}"),
    }
    // The same answer to `DistributionRegistry` keeps the wait asked for
    // (an hour: beyond the policy's limit, so it is the error's).
    let err = client(&fake.addr)
        .resolve(&repo("shop/app"), &tag("1.0.0"), &CallContext::new())
        .await
        .unwrap_err();
    assert_eq!(
        err.retry_after(),
        Some(std::time::Duration::from_secs(3600))
    );
}

/// A plain-http forward proxy that answers every request with a token and
/// keeps each request's head.
fn token_answering_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let kept = heads.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => head.extend_from_slice(&buf[..k]),
                }
            }
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let body = r#"{"token":"opaque-token"}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, heads)
}

#[tokio::test]
async fn oci_client_sends_the_password_in_clear_to_a_token_service_elsewhere() {
    // The registry names a token service on plain http on another host.
    let realm = "http://token.paragon.invalid/token";
    let fake = Fake::start(|_| {
        move |_: &Method, _: &Uri, _: &HeaderMap| {
            let challenge = format!("Bearer realm=\"{realm}\",service=\"registry\"");
            answer(401, &[("www-authenticate", challenge.as_str())], "")
        }
    })
    .await;
    // The name does not resolve; a forward proxy stands where that host
    // would be and records what reaches it.
    let (proxy, heads) = token_answering_proxy();
    let oci = Client::try_from(ClientConfig {
        protocol: ClientProtocol::Http,
        http_proxy: Some(format!("http://{proxy}")),
        no_proxy: Some("127.0.0.1".to_owned()),
        ..ClientConfig::default()
    })
    .unwrap();
    let auth = RegistryAuth::Basic(USER.to_owned(), PASSWORD.to_owned());
    let token = oci
        .auth(&fake.reference("1.0.0"), &auth, RegistryOperation::Pull)
        .await
        .unwrap();
    assert_eq!(token.as_deref(), Some("opaque-token"));
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with(&format!("GET {realm}?")),
        "{}",
        heads[0]
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert!(
        heads[0]
            .lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Basic {basic}"))),
        "{}",
        heads[0]
    );

    // `DistributionRegistry` refuses before it sends anything.
    let err = client(&fake.addr)
        .list_tags(&repo("shop/app"), &CallContext::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in clear"), "{err}");
}

#[tokio::test]
async fn oci_client_goes_on_without_a_token_when_the_token_service_fails() {
    let fake = Fake::start(|addr| {
        let realm = format!("http://{addr}/token");
        move |_: &Method, uri: &Uri, headers: &HeaderMap| {
            let challenge = format!("Bearer realm=\"{realm}\",service=\"registry\"");
            match uri.path() {
                "/token" => answer(
                    200,
                    &[("content-type", "text/html")],
                    "<html>maintenance</html>",
                ),
                "/v2/" => answer(401, &[("www-authenticate", challenge.as_str())], ""),
                _ if headers
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes().starts_with(b"Bearer ")) =>
                {
                    answer(
                        200,
                        &[("content-type", "application/json")],
                        r#"{"name":"shop/app","tags":["1.0.0"]}"#,
                    )
                }
                _ => answer(
                    401,
                    &[
                        ("www-authenticate", challenge.as_str()),
                        ("content-type", "application/json"),
                    ],
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                ),
            }
        }
    })
    .await;
    let auth = RegistryAuth::Basic(USER.to_owned(), PASSWORD.to_owned());
    let err = oci()
        .list_tags(&fake.reference("1.0.0"), &auth, None, None)
        .await
        .unwrap_err();
    // The token service's garbage is dropped; the listing goes out without
    // a token and its 401 is what the caller learns.
    match &err {
        OciDistributionError::UnauthorizedError { url } => {
            assert!(url.contains("/tags/list"), "{url}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("/token"), "{err}");
    assert_eq!(fake.seen(&Method::GET, "/token").len(), 1);
    let listings = fake.seen(&Method::GET, "/tags/list");
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].authorization, None);

    // `DistributionRegistry` names the token service and what it answered.
    let err = client(&fake.addr)
        .list_tags(&repo("shop/app"), &CallContext::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("{}/token", fake.addr)), "{text}");
    assert!(text.contains("is not a token"), "{text}");
}

#[tokio::test]
async fn oci_client_reads_the_first_page_of_referrers_only() {
    let subject = Digest::of(b"image");
    let fake = Fake::start(|_| {
        let next = format!("</v2/shop/app/referrers/{subject}?last=a>; rel=\"next\"");
        move |_: &Method, uri: &Uri, _: &HeaderMap| {
            open(uri).unwrap_or_else(|| {
                if uri.query().is_some_and(|q| q.contains("last=a")) {
                    answer(200, &[("content-type", INDEX)], index_of("b"))
                } else {
                    answer(
                        200,
                        &[("content-type", INDEX), ("link", next.as_str())],
                        index_of("a"),
                    )
                }
            })
        }
    })
    .await;
    let listed = fake.oci_referrers(&subject).await;
    assert_eq!(listed.manifests.len(), 1, "{listed:?}");
    assert_eq!(fake.seen(&Method::GET, "/referrers/").len(), 1);

    // `DistributionRegistry` follows the `Link` to the second page.
    let listed = fake.referrers(&subject).await.unwrap();
    let names: Vec<String> = listed.iter().map(|d| d.digest.to_string()).collect();
    assert_eq!(
        names,
        [Digest::of(b"a").to_string(), Digest::of(b"b").to_string()]
    );
}

#[tokio::test]
async fn oci_client_reads_a_refused_referrers_tag_as_no_referrers() {
    let subject = Digest::of(b"image");
    for (status, code) in [(403, "DENIED"), (429, "TOOMANYREQUESTS")] {
        let fake = Fake::start(|_| {
            move |_: &Method, uri: &Uri, _: &HeaderMap| {
                open(uri).unwrap_or_else(|| {
                    if uri.path().contains("/referrers/") {
                        return answer(404, &[], "");
                    }
                    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"no"}}]}}"#);
                    answer(status, &[("content-type", "application/json")], body)
                })
            }
        })
        .await;
        let listed = fake.oci_referrers(&subject).await;
        assert!(listed.manifests.is_empty(), "{status}: {listed:?}");
        let fallback = format!("/manifests/{}", subject.to_string().replace(':', "-"));
        assert_eq!(fake.seen(&Method::GET, &fallback).len(), 1, "{status}");

        // `DistributionRegistry` says the registry refused.
        let err = fake.referrers(&subject).await.unwrap_err();
        assert!(err.to_string().contains(code), "{err}");
    }
}

#[tokio::test]
async fn oci_client_sends_the_rest_of_a_blob_after_the_registry_lost_a_chunk() {
    let fake = Fake::start(|_| {
        |method: &Method, uri: &Uri, _: &HeaderMap| {
            let session = "/v2/shop/app/blobs/uploads/session";
            open(uri).unwrap_or_else(|| match *method {
                Method::POST => answer(202, &[("location", session)], ""),
                // Two bytes sent, one kept.
                Method::PATCH => answer(202, &[("location", session), ("range", "0-0")], ""),
                Method::PUT => answer(201, &[("location", "/v2/shop/app/blobs/done")], ""),
                _ => answer(404, &[], ""),
            })
        }
    })
    .await;
    let data = b"ab".to_vec();
    let digest = Digest::of(&data).to_string();
    oci()
        .push_blob(&fake.reference("1.0.0"), data, &digest)
        .await
        .unwrap();
    assert_eq!(fake.seen(&Method::PATCH, "/uploads/").len(), 1);
    assert_eq!(
        fake.seen(&Method::PUT, "/uploads/").len(),
        1,
        "the upload was closed over the lost byte"
    );
}

#[tokio::test]
async fn oci_client_new_drops_a_configuration_it_cannot_build() {
    let fake = Fake::start(|_| {
        |_: &Method, uri: &Uri, _: &HeaderMap| {
            open(uri).unwrap_or_else(|| {
                answer(
                    200,
                    &[("content-type", "application/json")],
                    r#"{"name":"shop/app","tags":["1.0.0"]}"#,
                )
            })
        }
    })
    .await;
    let config = || ClientConfig {
        protocol: ClientProtocol::Http,
        http_proxy: Some("http://[::1".to_owned()),
        ..ClientConfig::default()
    };
    assert!(Client::try_from(config()).is_err());
    let list = |oci: Client| {
        let image = fake.reference("1.0.0");
        async move {
            oci.list_tags(&image, &RegistryAuth::Anonymous, None, None)
                .await
        }
    };
    // `new` logs a warning and builds a default client: https, so the
    // registry on plain http hears nothing it can read.
    let err = list(Client::new(config())).await.unwrap_err();
    assert!(
        matches!(err, OciDistributionError::RequestError(_)),
        "{err:?}"
    );
    assert!(fake.seen(&Method::GET, "/tags/list").is_empty());
    // Without the proxy the same configuration lists the tags.
    let listed = list(oci()).await.unwrap();
    assert_eq!(listed.tags, ["1.0.0"]);
}
