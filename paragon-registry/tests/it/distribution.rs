//! The distribution adapter against the real CNCF registry with htpasswd
//! auth; skopeo checks every push independently.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paragon_core::conformance;
use paragon_core::plugin::build::{BuildSpec, Builder, BuiltImage, LayerSpec};
use paragon_core::plugin::registry::Registry;
use paragon_core::{CallContext, Error, Secret};
use paragon_registry::{Credentials, DistributionRegistry, NativeBuilder, RetryPolicy};

use crate::support::{
    client, demo_app, names, repo, skopeo_digest, skopeo_tags, tag, tags, TestRegistry, PASSWORD,
    USER,
};

async fn build(version: &str, dir: &std::path::Path) -> BuiltImage {
    let src = dir.join(format!("src-{version}"));
    demo_app(&src, version);
    NativeBuilder::new()
        .build(
            &BuildSpec::new(&src, dir.join(format!("layout-{version}"))).with_ref_name(version),
            &CallContext::new(),
        )
        .await
        .unwrap()
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn distribution_registry_conforms() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    conformance::registry::all(
        &client(&registry.addr),
        dir.path(),
        "paragon/conformance",
        // distribution 2.8 deletes manifests by digest only, never one tag;
        // the distribution API has no conditional manifest write.
        conformance::registry::Capabilities::full()
            .delete_tags(false)
            .conditional_pushes(false),
    )
    .await;
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn pushes_are_seen_by_skopeo_at_the_layout_digest() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = build("1.2.3", dir.path()).await;
    let r = client(&registry.addr);
    let pushed = r
        .push(
            &image,
            &repo("shop/app"),
            &tags(&["1.2.3", "latest"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(pushed.digest, image.digest);
    assert_eq!(pushed.uploaded, 2, "config and one layer");
    for t in ["1.2.3", "latest"] {
        assert_eq!(
            skopeo_digest(&registry.addr, &format!("shop/app:{t}")).as_deref(),
            Some(image.digest.as_str()),
            "skopeo sees {t} at the pushed digest"
        );
    }
    assert_eq!(
        skopeo_tags(&registry.addr, "shop/app"),
        names(&["1.2.3", "latest"])
    );
    // Pushing again uploads nothing; a second version moves latest only.
    let again = r
        .push(
            &image,
            &repo("shop/app"),
            &tags(&["1.2.3"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!((again.uploaded, again.skipped), (0, 2));
    let next = build("1.2.4", dir.path()).await;
    r.push(
        &next,
        &repo("shop/app"),
        &tags(&["1.2.4", "latest"]),
        &CallContext::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/app:latest").as_deref(),
        Some(next.digest.as_str())
    );
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/app:1.2.3").as_deref(),
        Some(image.digest.as_str())
    );
    // Moving a tag to an image already there (a rollback of latest).
    r.tag_existing(
        &repo("shop/app"),
        &image.digest,
        &tag("latest"),
        &CallContext::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/app:latest").as_deref(),
        Some(image.digest.as_str())
    );
    // Cross-repository mount: the blobs come from shop/app.
    let mounted = client(&registry.addr)
        .with_mount_from(&["shop/app"])
        .push(
            &image,
            &repo("shop/mirror"),
            &tags(&["1.2.3"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!((mounted.uploaded, mounted.skipped), (0, 2));
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/mirror:1.2.3").as_deref(),
        Some(image.digest.as_str())
    );
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_corrupt_layer_is_a_layout_error_naming_the_file_and_nothing_is_tagged() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = build("2.0.0", dir.path()).await;
    let layout = paragon_core::model::oci::OciLayout::open(&image.layout).unwrap();
    let layer = layout.manifest(&image.digest).unwrap().layers[0]
        .digest
        .clone();
    let path = layout.blob_path(&layer);
    // Same size, one byte changed: only the digest can tell.
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let r = client(&registry.addr);
    let (tags, ctx, corrupt) = (tags(&["2.0.0"]), CallContext::new(), repo("shop/corrupt"));
    let push = || r.push(&image, &corrupt, &tags, &ctx);
    let err = push().await.unwrap_err();
    match &err {
        Error::Layout { path: p, message } => {
            assert_eq!(p, &path);
            assert!(message.contains("does not match its digest"), "{message}");
        }
        other => panic!("expected a layout error, got {other:?}"),
    }
    assert_eq!(skopeo_digest(&registry.addr, "shop/corrupt:2.0.0"), None);
    // Truncated: the size differs from the descriptor's.
    std::fs::write(&path, &bytes[..last]).unwrap();
    let err = push().await.unwrap_err();
    assert!(matches!(err, Error::Layout { .. }), "{err:?}");
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_multi_platform_index_is_pushed_whole() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    demo_app(&src, "4.0.0");
    let image = NativeBuilder::new()
        .build(
            &BuildSpec::new(&src, dir.path().join("layout")).with_platforms(vec![
                "linux/amd64".parse().unwrap(),
                "linux/arm64".parse().unwrap(),
            ]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    client(&registry.addr)
        .push(
            &image,
            &repo("shop/multi"),
            &tags(&["4.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/multi:4.0.0").as_deref(),
        Some(image.digest.as_str())
    );
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn a_wrong_password_is_unauthorized_naming_the_host() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = build("1.0.0", dir.path()).await;
    let r = DistributionRegistry::new(&registry.addr)
        .unwrap()
        .with_credentials(Credentials::basic(USER, Secret::new("wrong-password-123")));
    let err = r
        .push(
            &image,
            &repo("shop/app"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(err.is_unauthorized());
    let text = format!("{err} {err:?}");
    assert!(text.contains(&registry.addr), "{text}");
    assert!(!text.contains("wrong-password-123"), "{text}");
    let anonymous = DistributionRegistry::new(&registry.addr).unwrap();
    let err = anonymous
        .list_tags(&repo("shop/app"), &CallContext::new())
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn credentials_come_from_a_docker_config() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        &config,
        format!(
            r#"{{"auths":{{"http://{}":{{"auth":"{auth}"}}}}}}"#,
            registry.addr
        ),
    )
    .unwrap();
    let image = build("1.0.0", dir.path()).await;
    let r = DistributionRegistry::new(&registry.addr)
        .unwrap()
        .with_docker_config(&config)
        .unwrap();
    r.push(
        &image,
        &repo("shop/cfg"),
        &tags(&["1.0.0"]),
        &CallContext::new(),
    )
    .await
    .unwrap();
    assert_eq!(skopeo_tags(&registry.addr, "shop/cfg"), names(&["1.0.0"]));
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn tags_are_listed_across_pages() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = build("1.0.0", dir.path()).await;
    let all = tags(&["a", "b", "c", "d", "e"]);
    let r = client(&registry.addr).with_page_size(2);
    r.push(&image, &repo("shop/paged"), &all, &CallContext::new())
        .await
        .unwrap();
    assert_eq!(
        r.list_tags(&repo("shop/paged"), &CallContext::new())
            .await
            .unwrap(),
        names(&["a", "b", "c", "d", "e"])
    );
    assert!(r
        .list_tags(&repo("shop/none"), &CallContext::new())
        .await
        .unwrap()
        .is_empty());
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn concurrent_pushes_to_one_repository_both_land() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let a = build("5.0.0", dir.path()).await;
    let b = build("5.0.1", dir.path()).await;
    let r = client(&registry.addr);
    let (ta, tb, ctx) = (tags(&["5.0.0"]), tags(&["5.0.1"]), CallContext::new());
    let race = repo("shop/race");
    let (x, y) = tokio::join!(r.push(&a, &race, &ta, &ctx), r.push(&b, &race, &tb, &ctx));
    x.unwrap();
    y.unwrap();
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/race:5.0.0").as_deref(),
        Some(a.digest.as_str())
    );
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/race:5.0.1").as_deref(),
        Some(b.digest.as_str())
    );
}

/// Called once, when the upload passes the threshold.
type Hook = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

/// Forwards loopback connections to `target`, counting the bytes clients
/// send; calls `on_threshold` once when they pass `threshold`.
fn proxy(target: String, threshold: u64, on_threshold: Hook) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let sent = Arc::new(AtomicU64::new(0));
    let fired = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(&target) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            let (sent, fired, hook) = (sent.clone(), fired.clone(), on_threshold.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match c_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                    if total > threshold && !fired.swap(true, Ordering::SeqCst) {
                        if let Some(f) = hook.lock().unwrap().take() {
                            f();
                        }
                    }
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

/// An image with 8 MiB of incompressible data in its layer.
async fn big_image(dir: &std::path::Path) -> BuiltImage {
    let src = dir.join("big");
    std::fs::create_dir_all(&src).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let data: Vec<u8> = (0..8 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(src.join("blob.bin"), &data).unwrap();
    NativeBuilder::new()
        .build(
            &BuildSpec::new(&src, dir.join("layout"))
                .with_layer(LayerSpec::copy("blob.bin", "/data/blob.bin")),
            &CallContext::new(),
        )
        .await
        .unwrap()
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn chunked_uploads_land_whole() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = big_image(dir.path()).await;
    // That the layer goes up in chunks is shown against a scripted
    // registry below; here, that the real one takes them.
    let pushed = client(&registry.addr)
        .with_chunked_uploads(1 << 20)
        .push(
            &image,
            &repo("shop/chunked"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(pushed.digest, image.digest);
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/chunked:1.0.0").as_deref(),
        Some(image.digest.as_str())
    );
}

/// A scripted registry: blobs are missing, a mount opens an upload
/// session instead (202), and each `PATCH` is answered with a `Range` that
/// never advances past the first chunk (as ECR has been seen to answer).
/// It records each request as `METHOD path [content-range]`.
async fn stale_range_registry() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    // The body is read whole, as a registry does, before the answer.
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, _body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                let range = headers
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                log.lock().unwrap().push(
                    format!("{method} {} {range}", uri.path())
                        .trim_end()
                        .to_owned(),
                );
                let session = "/v2/shop/app/blobs/uploads/u1";
                let mount_session = "/v2/shop/app/blobs/uploads/m1";
                let mount = uri.query().is_some_and(|q| q.contains("mount="));
                match method {
                    Method::HEAD => StatusCode::NOT_FOUND.into_response(),
                    Method::POST if mount => {
                        (StatusCode::ACCEPTED, [("location", mount_session)]).into_response()
                    }
                    Method::POST => (StatusCode::ACCEPTED, [("location", session)]).into_response(),
                    Method::DELETE => StatusCode::NO_CONTENT.into_response(),
                    Method::PATCH => (
                        StatusCode::ACCEPTED,
                        [("location", session), ("range", "0-1048575")],
                    )
                        .into_response(),
                    Method::PUT if uri.path() == session => StatusCode::CREATED.into_response(),
                    _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

/// The push stops at the chunk the registry did not keep, instead of
/// closing an upload that lost data; the mount's session was cancelled.
#[tokio::test]
async fn a_chunk_the_registry_did_not_keep_stops_the_push() {
    let (addr, seen) = stale_range_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let image = big_image(dir.path()).await;
    let err = client(&addr)
        .with_chunked_uploads(1 << 20)
        .with_mount_from(&["shop/base"])
        .push(
            &image,
            &repo("shop/app"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&"DELETE /v2/shop/app/blobs/uploads/m1".to_owned()),
        "the mount's session is cancelled: {seen:?}"
    );
    // The layer went up in 1 MiB chunks: the first two were sent.
    let patches: Vec<&String> = seen.iter().filter(|r| r.starts_with("PATCH")).collect();
    assert!(
        patches.iter().any(|r| r.ends_with(" 0-1048575"))
            && patches.iter().any(|r| r.ends_with(" 1048576-2097151")),
        "{seen:?}"
    );
    match err.downcast_ref() {
        Some(paragon_registry::Error::Distribution { message, .. }) => {
            assert!(
                message.contains("1048576-2097151") && message.contains("holds `0-1048575`"),
                "{message}"
            );
            assert!(!err.is_retryable());
        }
        _ => panic!("{err:?}"),
    }
}

/// A blob upload that takes longer than the request timeout is not cut
/// off: a request carrying a blob gets more time with its size. (The
/// registry here takes a second over the whole blob before it answers.)
#[tokio::test]
async fn a_long_blob_upload_outlasts_the_request_timeout() {
    use axum::http::{Method, StatusCode, Uri};
    use axum::response::IntoResponse;
    let dir = tempfile::tempdir().unwrap();
    let image = big_image(dir.path()).await;
    let digest = image.digest.to_string();
    let session = "/v2/shop/app/blobs/uploads/u1";
    let app = axum::Router::new()
        .fallback(move |method: Method, uri: Uri, body: axum::body::Bytes| {
            let digest = digest.clone();
            async move {
                let manifest = uri.path().contains("/manifests/");
                match method {
                    Method::HEAD if manifest => {
                        (StatusCode::OK, [("docker-content-digest", digest)]).into_response()
                    }
                    Method::HEAD => StatusCode::NOT_FOUND.into_response(),
                    Method::POST => (StatusCode::ACCEPTED, [("location", session)]).into_response(),
                    Method::PUT if uri.path() == session && body.len() > 1 << 20 => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        StatusCode::CREATED.into_response()
                    }
                    Method::PUT => StatusCode::CREATED.into_response(),
                    _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        })
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let r = client(&addr)
        .with_request_timeout(Duration::from_millis(500))
        .unwrap();
    let pushed = r
        .push(
            &image,
            &repo("shop/app"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(pushed.digest, image.digest);
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_registry_stopped_mid_push_leaves_no_tag() {
    let registry = TestRegistry::start();
    let registry = Arc::new(Mutex::new(registry));
    let dir = tempfile::tempdir().unwrap();
    let image = big_image(dir.path()).await;
    let addr = registry.lock().unwrap().addr.clone();
    let stopper = registry.clone();
    let hook: Hook = Arc::new(Mutex::new(Some(Box::new(move || {
        stopper.lock().unwrap().stop()
    }))));
    let via = proxy(addr.clone(), 2 * 1024 * 1024, hook);
    let err = client(&via)
        .push(
            &image,
            &repo("shop/partial"),
            &tags(&["1.0.0", "latest"]),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref(),
            Some(paragon_registry::Error::Distribution { .. })
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&via), "{text}");
    // The message gives the cause, not the upload URL cut off.
    assert!(!text.contains("_state="), "{text}");
    assert!(
        [
            "broke off",
            "cannot connect",
            "the request failed",
            "no answer"
        ]
        .iter()
        .any(|c| text.contains(c)),
        "{text}"
    );
    assert!(!text.ends_with("..."), "{text}");
    registry.lock().unwrap().restart();
    let direct = client(&addr);
    assert_eq!(
        direct
            .resolve(&repo("shop/partial"), &tag("1.0.0"), &CallContext::new())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        direct
            .resolve(&repo("shop/partial"), &tag("latest"), &CallContext::new())
            .await
            .unwrap(),
        None
    );
    assert_eq!(skopeo_digest(&addr, "shop/partial:latest"), None);
    // Once the registry is back, the same push completes.
    direct
        .push(
            &image,
            &repo("shop/partial"),
            &tags(&["1.0.0", "latest"]),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        skopeo_digest(&addr, "shop/partial:latest").as_deref(),
        Some(image.digest.as_str())
    );
}

/// A registry that accepts connections and never answers: each request
/// times out, is retried by the policy, and the push ends with an error
/// that says there was no answer.
#[tokio::test]
async fn a_registry_that_never_answers_times_out_with_warnings() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let held = std::thread::spawn(move || {
        // Accept and hold every connection, answering nothing.
        let mut open = Vec::new();
        for c in listener.incoming().take(8) {
            open.push(c);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let image = paragon_core::plugin::build::testing::minimal_image(dir.path(), "silent").unwrap();
    let registry = DistributionRegistry::new(&addr)
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 2,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(10),
            ..RetryPolicy::default()
        })
        .with_request_timeout(Duration::from_millis(300))
        .unwrap();
    let started = std::time::Instant::now();
    let err = registry
        .push(
            &image,
            &repo("shop/silent"),
            &tags(&["1.0.0"]),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        err.to_string().contains("no answer before the timeout"),
        "{err}"
    );
    // Two attempts of 300 ms each.
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(err.kind(), paragon_core::ErrorKind::Timeout);
    // The registry's error is the source, and the HTTP client's error its
    // source, to be asked what happened.
    let registry_error = std::error::Error::source(&err).expect("a source");
    assert!(registry_error.is::<paragon_registry::Error>());
    let http = registry_error
        .source()
        .and_then(|s| s.downcast_ref::<reqwest::Error>())
        .expect("a reqwest::Error");
    assert!(http.is_timeout(), "{http:?}");
    assert!(http.url().is_none(), "{http:?}");
    drop(held);
}

/// A registry whose tag list never ends (each page links to the next,
/// forever) gives an error after the page limit, never a short list.
#[tokio::test]
async fn a_tag_list_that_never_ends_is_an_error() {
    let app = axum::Router::new().route(
        "/v2/shop/app/tags/list",
        axum::routing::get(|| async {
            (
                [(
                    "link",
                    "</v2/shop/app/tags/list?n=100&last=a>; rel=\"next\"",
                )],
                axum::Json(serde_json::json!({ "name": "shop/app", "tags": ["a"] })),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let err = DistributionRegistry::new(&addr)
        .unwrap()
        .list_tags(&repo("shop/app"), &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref(),
            Some(paragon_registry::Error::Distribution { .. })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("did not end after 10000 pages"),
        "{err}"
    );
}
