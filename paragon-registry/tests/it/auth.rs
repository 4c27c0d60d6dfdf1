//! The bearer-token flow against the real registry configured for token
//! auth (a local token service signs the tokens the registry verifies),
//! and the retry rules against a proxy that answers scripted statuses
//! before it forwards to the real registry.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use paragon_core::plugin::build::{BuildSpec, Builder, BuiltImage};
use paragon_core::plugin::registry::Registry;
use paragon_core::{CallContext, Error, Secret};
use paragon_registry::{Credentials, DistributionRegistry, NativeBuilder, RetryPolicy};

use crate::support::{
    demo_app, logs_of, names, repo, skopeo_digest, skopeo_tags, tag, tags, TestRegistry, PASSWORD,
    TOKEN_ISSUER, TOKEN_SERVICE, USER,
};

fn retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        ..RetryPolicy::default()
    }
}

fn client(addr: &str, password: &str) -> DistributionRegistry {
    DistributionRegistry::new(addr)
        .unwrap()
        .with_credentials(Credentials::basic(USER, Secret::new(password)))
        .with_retry(retry())
}

async fn build(dir: &Path) -> BuiltImage {
    let src = dir.join("src");
    demo_app(&src, "1.0.0");
    NativeBuilder::new()
        .build(
            &BuildSpec::new(&src, dir.join("layout")),
            &CallContext::new(),
        )
        .await
        .unwrap()
}

/// A token service as the distribution token spec describes it: `GET
/// /token?service=…&scope=repository:NAME:ACTIONS` with basic credentials
/// answers `{"token": JWT}`, the JWT signed with an ES256 key whose
/// self-signed certificate the registry trusts (sent in `x5c`).
struct TokenService {
    realm: String,
    cert_pem: tempfile::NamedTempFile,
    /// The scopes of each token issued.
    issued: Arc<Mutex<Vec<String>>>,
    /// Each token issued.
    tokens: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct Signer {
    key: Arc<jsonwebtoken::EncodingKey>,
    x5c: String,
    issued: Arc<Mutex<Vec<String>>>,
    tokens: Arc<Mutex<Vec<String>>>,
}

#[derive(serde::Serialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(serde::Serialize)]
struct Claims {
    iss: &'static str,
    sub: &'static str,
    aud: &'static str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

async fn token(
    State(signer): State<Signer>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
            .into_response();
    }
    let service = params.iter().find(|(k, _)| k == "service");
    assert_eq!(service.map(|(_, v)| v.as_str()), Some(TOKEN_SERVICE));
    let access: Vec<Access> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(Access {
                kind: kind.to_owned(),
                name: name.to_owned(),
                actions: actions.split(',').map(str::to_owned).collect(),
            })
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut issued = signer.issued.lock().unwrap();
    let claims = Claims {
        iss: TOKEN_ISSUER,
        sub: USER,
        aud: TOKEN_SERVICE,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: format!("token-{}", issued.len()),
        access,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![signer.x5c.clone()]);
    let jwt = jsonwebtoken::encode(&header, &claims, &signer.key).unwrap();
    signer.tokens.lock().unwrap().push(jwt.clone());
    issued.push(
        params
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    axum::Json(serde_json::json!({ "token": jwt, "expires_in": 300 })).into_response()
}

impl TokenService {
    async fn start() -> TokenService {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["paragon-token-service".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let mut cert_pem = tempfile::NamedTempFile::new().unwrap();
        cert_pem.write_all(cert.pem().as_bytes()).unwrap();
        let issued = Arc::new(Mutex::new(Vec::new()));
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let signer = Signer {
            key: Arc::new(
                jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
            ),
            x5c: base64::engine::general_purpose::STANDARD.encode(cert.der()),
            issued: issued.clone(),
            tokens: tokens.clone(),
        };
        let app = axum::Router::new()
            .route("/token", axum::routing::get(token))
            .with_state(signer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TokenService {
            realm,
            cert_pem,
            issued,
            tokens,
        }
    }
}

/// A token service, a registry that trusts it, and an image to push
/// (`None` when the registry binary is missing and tools are optional).
async fn token_registry() -> (TokenService, TestRegistry, tempfile::TempDir, BuiltImage) {
    let service = TokenService::start().await;
    let registry = TestRegistry::start_with_token(&service.realm, service.cert_pem.path());
    let dir = tempfile::tempdir().unwrap();
    let image = build(dir.path()).await;
    (service, registry, dir, image)
}

// Multi-threaded: skopeo blocks one worker while the token service answers
// it on another.
#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_flow_pushes_resolves_and_lists() {
    let (service, registry, _dir, image) = token_registry().await;
    let r = client(&registry.addr, PASSWORD);
    let pushed = r
        .push(
            &image,
            &repo("shop/app"),
            &tags(&["1.0.0", "latest"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(pushed.digest, image.digest);
    assert_eq!(
        r.resolve(&repo("shop/app"), &tag("latest"), &CallContext::new())
            .await
            .unwrap(),
        Some(image.digest.clone())
    );
    assert_eq!(
        r.list_tags(&repo("shop/app"), &CallContext::new())
            .await
            .unwrap(),
        names(&["1.0.0", "latest"])
    );
    // The registry accepted only tokens from the service, scoped to the
    // repository.
    let issued = service.issued.lock().unwrap().clone();
    assert!(!issued.is_empty());
    assert!(
        issued
            .iter()
            .any(|s| s.contains("repository:shop/app:") && s.contains("push")),
        "{issued:?}"
    );
    // A push to another repository mounts the blobs from this one, with
    // one token covering both.
    let mounted = client(&registry.addr, PASSWORD)
        .with_mount_from(&["shop/app"])
        .push(
            &image,
            &repo("shop/copy"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(mounted.uploaded, 0, "{mounted:?}");
    let issued = service.issued.lock().unwrap().clone();
    assert!(
        issued
            .iter()
            .any(|s| s.contains("repository:shop/copy:pull,push")
                && s.contains("repository:shop/app:pull")),
        "{issued:?}"
    );
    // skopeo does its own token flow and sees the same digest.
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/app:1.0.0").as_deref(),
        Some(image.digest.as_str())
    );
    assert_eq!(
        skopeo_tags(&registry.addr, "shop/app"),
        names(&["1.0.0", "latest"])
    );
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_or_token_reaches_the_logs() {
    let (service, registry, _dir, image) = token_registry().await;
    let r = client(&registry.addr, PASSWORD).with_mount_from(&["shop/base"]);
    let (result, logs) = logs_of(async {
        r.push(
            &image,
            &repo("shop/app"),
            &tags(&["1.0.0", "latest"]),
            &CallContext::new(),
        )
        .await?;
        r.tag_existing(
            &repo("shop/app"),
            &image.digest,
            &tag("stable"),
            &CallContext::new(),
        )
        .await?;
        r.list_tags(&repo("shop/app"), &CallContext::new()).await
    })
    .await;
    assert_eq!(result.unwrap(), names(&["1.0.0", "latest", "stable"]));
    let issued = service.tokens.lock().unwrap().clone();
    assert!(!issued.is_empty(), "the push went through the token flow");
    assert!(logs.contains("shop/app"), "the logs were captured: {logs}");
    assert!(!logs.contains(PASSWORD), "the password is logged:\n{logs}");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert!(!logs.contains(&basic), "the basic credentials are logged");
    for token in &issued {
        // A JWT's signature is its secret part; its header is public.
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token is logged:\n{logs}");
    }
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn a_token_service_refusing_the_password_is_unauthorized() {
    let (service, registry, _dir, image) = token_registry().await;
    let wrong = "not-the-password";
    let err = client(&registry.addr, wrong)
        .push(
            &image,
            &repo("shop/app"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&registry.addr), "{text}");
    assert!(
        text.contains(&service.realm) && text.contains("refused the credentials"),
        "the error says who refused: {text}"
    );
    assert!(!text.contains(wrong) && !format!("{err:?}").contains(wrong));
    assert!(service.issued.lock().unwrap().is_empty());
}

/// Pushes to a registry that trusts `service`'s certificate but sends
/// clients to `realm` for tokens; the registry's address and the error.
async fn push_failing_via(realm: &str, service: &TokenService) -> (String, Error) {
    let registry = TestRegistry::start_with_token(realm, service.cert_pem.path());
    let dir = tempfile::tempdir().unwrap();
    let image = build(dir.path()).await;
    let err = client(&registry.addr, PASSWORD)
        .push(
            &image,
            &repo("shop/app"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    (registry.addr.clone(), err)
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn a_token_service_answering_garbage_is_a_final_error_naming_it() {
    let service = TokenService::start().await;
    // The registry trusts the real service's certificate but sends clients
    // to a realm that answers 200 with a body that is no token.
    let app = axum::Router::new()
        .route(
            "/token",
            axum::routing::get(|| async { "<html>maintenance</html>" }),
        )
        .route(
            "/empty",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"token": ""})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    for realm in [
        format!("http://{addr}/token"),
        format!("http://{addr}/empty"),
    ] {
        let (addr, err) = push_failing_via(&realm, &service).await;
        match err.downcast_ref() {
            Some(paragon_registry::Error::Distribution { message, .. }) => {
                assert!(message.contains(&realm), "{message}");
                assert!(
                    message.contains("is not a token") || message.contains("holds no token"),
                    "{message}"
                );
                assert!(!err.is_retryable(), "{err:?}");
            }
            _ => panic!("{realm}: {err:?}"),
        }
        assert!(err.to_string().contains(&addr), "{err}");
    }
    // A token service that does not answer is worth retrying.
    let realm = "http://127.0.0.1:9/token";
    let (_, err) = push_failing_via(realm, &service).await;
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains(realm), "{err}");
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn a_token_service_on_plain_http_beyond_this_machine_gets_no_credentials() {
    let service = TokenService::start().await;
    // A name that never resolves: were the credentials sent, the error
    // would say the service gave no answer, and it would be retryable.
    let realm = "http://token.paragon.invalid/token";
    let (addr, err) = push_failing_via(realm, &service).await;
    match err.downcast_ref() {
        Some(paragon_registry::Error::Distribution { message, .. }) => {
            assert!(message.contains(realm), "{message}");
            assert!(message.contains("in clear"), "{message}");
            assert!(
                message.contains("DistributionRegistry::allow_http(true)"),
                "{message}"
            );
            assert!(!err.is_retryable(), "{err:?}");
        }
        _ => panic!("{err:?}"),
    }
    assert!(err.to_string().contains(&addr), "{err}");
    assert!(!format!("{err:?}").contains(PASSWORD), "{err:?}");
}

/// A proxy that answers the first connections with the scripted statuses
/// (one request each, then the connection closes) and forwards every later
/// connection to `target`. Returns its address and the numbers of scripted
/// answers given and connections forwarded.
fn scripted_proxy(
    target: String,
    script: Vec<Scripted429>,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (answered, forwarded) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (a, f) = (answered.clone(), forwarded.clone());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            let n = a.load(Ordering::SeqCst);
            if let Some((status, retry_after)) = script.get(n) {
                // Read the request head, then answer and close.
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                let reason = match status {
                    429 => "Too Many Requests",
                    503 => "Service Unavailable",
                    403 => "Forbidden",
                    404 => "Not Found",
                    _ => "Scripted",
                };
                // Counted before the answer goes out, so a client that has
                // the answer sees the count.
                a.fetch_add(1, Ordering::SeqCst);
                let extra = match retry_after {
                    Some(wait) => format!("Retry-After: {wait}\r\n"),
                    None => String::new(),
                };
                let _ = write!(
                    client,
                    "HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = client.shutdown(std::net::Shutdown::Both);
                continue;
            }
            let Ok(server) = TcpStream::connect(&target) else {
                continue;
            };
            f.fetch_add(1, Ordering::SeqCst);
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
                let _ = s_write.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (addr, answered, forwarded)
}

/// A scripted answer: its status, and the `Retry-After` it gives.
type Scripted429 = (u16, Option<&'static str>);

/// Scripted answers with these statuses, a 429 asking to retry at once.
fn statuses(s: &[u16]) -> Vec<Scripted429> {
    s.iter().map(|&c| (c, (c == 429).then_some("0"))).collect()
}

/// A real registry, an image built for it, and a scripted proxy in front.
struct Scripted {
    registry: TestRegistry,
    image: BuiltImage,
    via: String,
    answered: Arc<AtomicUsize>,
    forwarded: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl Scripted {
    async fn start(script: Vec<Scripted429>) -> Scripted {
        let registry = TestRegistry::start();
        let dir = tempfile::tempdir().unwrap();
        let image = build(dir.path()).await;
        let (via, answered, forwarded) = scripted_proxy(registry.addr.clone(), script);
        Scripted {
            registry,
            image,
            via,
            answered,
            forwarded,
            _dir: dir,
        }
    }

    /// Pushes the image as `repository:1.0.0` through the proxy.
    async fn push(&self, repository: &str) -> paragon_core::Result<()> {
        client(&self.via, PASSWORD)
            .push(
                &self.image,
                &repo(repository),
                &tags(&["1.0.0"]),
                &CallContext::new(),
            )
            .await
            .map(|_| ())
    }

    /// (scripted answers given, connections forwarded)
    fn counts(&self) -> (usize, usize) {
        (
            self.answered.load(Ordering::SeqCst),
            self.forwarded.load(Ordering::SeqCst),
        )
    }

    /// What skopeo, asking the registry directly, finds at `reference`.
    fn seen(&self, reference: &str) -> Option<String> {
        skopeo_digest(&self.registry.addr, reference)
    }
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn answers_503_and_429_are_retried_until_the_push_lands() {
    let s = Scripted::start(statuses(&[503, 429])).await;
    s.push("shop/retried").await.unwrap();
    let (answered, forwarded) = s.counts();
    assert_eq!(answered, 2);
    assert!(forwarded >= 1);
    assert_eq!(
        s.seen("shop/retried:1.0.0").as_deref(),
        Some(s.image.digest.as_str())
    );
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn a_503_that_lasts_gives_up_after_the_attempts() {
    let s = Scripted::start(statuses(&[503; 10])).await;
    let err = s.push("shop/down").await.unwrap_err();
    match err.downcast_ref() {
        Some(paragon_registry::Error::Distribution { status, .. }) => {
            assert_eq!(*status, Some(503));
            assert!(err.is_retryable());
        }
        _ => panic!("expected a registry error, got {err:?}"),
    }
    assert!(err.to_string().contains(&s.via), "{err}");
    // Three attempts (the policy), no more.
    assert_eq!(s.counts(), (3, 0));
    assert_eq!(s.seen("shop/down:1.0.0"), None);
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn a_403_is_not_retried() {
    // Were the 403 retried, the next attempt would be forwarded and land.
    let s = Scripted::start(statuses(&[403])).await;
    let err = s.push("shop/denied").await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(s.counts(), (1, 0));
    assert_eq!(s.seen("shop/denied:1.0.0"), None);
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn a_404_is_an_answer_not_a_retry() {
    let s = Scripted::start(statuses(&[404])).await;
    client(&s.registry.addr, PASSWORD)
        .push(
            &s.image,
            &repo("shop/app"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    // The tag exists: were the scripted 404 retried, the next attempt would
    // be forwarded and find it.
    let r = client(&s.via, PASSWORD);
    assert_eq!(
        r.resolve(&repo("shop/app"), &tag("1.0.0"), &CallContext::new())
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.counts(), (1, 0));
    assert_eq!(
        r.resolve(&repo("shop/app"), &tag("1.0.0"), &CallContext::new())
            .await
            .unwrap(),
        Some(s.image.digest.clone())
    );
}

/// `Retry-After` is honoured: the retry waits at least what the registry
/// asked (in seconds, or as an HTTP date), and a wait longer than the
/// policy allows ends the push with the registry's answer.
#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn retry_after_is_waited_for_up_to_the_policy() {
    let s = Scripted::start(vec![(503, Some("1")), (429, Some("1"))]).await;
    let started = std::time::Instant::now();
    s.push("shop/later").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "retried after {:?}, before the 2 s asked",
        started.elapsed()
    );
    assert_eq!(s.counts().0, 2);
    assert_eq!(
        s.seen("shop/later:1.0.0").as_deref(),
        Some(s.image.digest.as_str())
    );

    let date = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let date: &'static str = Box::leak(
        date.format(&time::format_description::well_known::Rfc2822)
            .unwrap()
            .into_boxed_str(),
    );
    let s = Scripted::start(vec![(503, Some(date))]).await;
    let started = std::time::Instant::now();
    s.push("shop/dated").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    let s = Scripted::start(vec![(503, Some("3600"))]).await;
    let started = std::time::Instant::now();
    let err = s.push("shop/tomorrow").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.retry_after(),
        Some(Duration::from_secs(3600)),
        "{err:?}"
    );
    assert_eq!(s.counts(), (1, 0));
}
