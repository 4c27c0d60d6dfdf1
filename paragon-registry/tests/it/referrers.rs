//! Referrers (OCI 1.1): the referrers tag schema on the real CNCF registry
//! (which has no referrers API), checked with skopeo; the referrers API on
//! the fake Harbor, which serves it; registries that answer it wrongly.

use std::time::Duration;

use axum::body::Body;
use axum::http::Uri;
use axum::response::Response;
use paragon_core::model::oci::{Digest, ImageIndex, ImageManifest};
use paragon_core::plugin::build::testing::minimal_image;
use paragon_core::plugin::registry::referrers::{
    attach, Artifact, Attached, ARTIFACT_TYPE_CYCLONEDX,
};
use paragon_core::plugin::registry::{referrers_tag, Registry};
use paragon_core::{CallContext, Error, ErrorKind, Secret};
use paragon_registry::{DistributionRegistry, HarborRegistry};

use crate::harbor_fake::FakeHarbor;
use crate::support::{client, repo, skopeo_raw, skopeo_tags, tags, TestRegistry, PASSWORD, USER};

const SBOM: &[u8] = br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#;

fn sbom_of(image: &paragon_core::BuiltImage) -> Artifact {
    Artifact::new(ARTIFACT_TYPE_CYCLONEDX, image.descriptor())
        .with_blob(ARTIFACT_TYPE_CYCLONEDX, SBOM.to_vec())
        .with_annotation("org.opencontainers.image.created", "2000-01-01T00:00:00Z")
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn without_the_referrers_api_the_list_is_kept_under_the_referrers_tag() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = minimal_image(&dir.path().join("image"), "app").unwrap();
    let r = client(&registry.addr).with_tag_settle(Duration::from_millis(300));
    let (app, ctx) = (repo("shop/app"), CallContext::new());
    r.push(&image, &app, &tags(&["1.0.0"]), &ctx).await.unwrap();
    let attached = attach(&r, &app, &sbom_of(&image), &ctx).await.unwrap();
    let tag = referrers_tag(&image.digest);
    assert_eq!(attached.pushed.referrers_tag.as_deref(), Some(tag.as_str()));
    assert_eq!(
        skopeo_tags(&registry.addr, "shop/app"),
        ["1.0.0", tag.as_str()]
    );

    // skopeo reads the list and the artifact as any client would.
    let raw = skopeo_raw(&registry.addr, &format!("shop/app:{tag}")).unwrap();
    let list: ImageIndex = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        list.media_type.as_deref(),
        Some("application/vnd.oci.image.index.v1+json")
    );
    assert_eq!(list.manifests.len(), 1);
    assert_eq!(list.manifests[0].digest, attached.digest);
    assert_eq!(
        list.manifests[0].artifact_type.as_deref(),
        Some(ARTIFACT_TYPE_CYCLONEDX)
    );
    assert_eq!(
        list.manifests[0].annotations["org.opencontainers.image.created"],
        "2000-01-01T00:00:00Z"
    );
    let raw = skopeo_raw(&registry.addr, &format!("shop/app@{}", attached.digest)).unwrap();
    let manifest: ImageManifest = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest.subject.unwrap().digest, image.digest);
    assert_eq!(
        manifest.artifact_type.as_deref(),
        Some(ARTIFACT_TYPE_CYCLONEDX)
    );
    assert_eq!(
        manifest.config.media_type,
        "application/vnd.oci.empty.v1+json"
    );

    // Six writers at once, on a registry with no conditional write: each
    // reads the list back after the settle wait and writes again when
    // another writer's list replaced its own.
    let parts: Vec<Artifact> = (0..6)
        .map(|i| {
            Artifact::new(
                format!("application/vnd.example.part{i}"),
                image.descriptor(),
            )
        })
        .collect();
    let attached_all =
        futures_util::future::join_all(parts.iter().map(|p| attach(&r, &app, p, &ctx))).await;
    let mut wanted = vec![attached.digest.clone()];
    for a in attached_all {
        wanted.push(a.unwrap().digest);
    }
    let listed = r.referrers(&app, &image.digest, None, &ctx).await.unwrap();
    let mut got: Vec<Digest> = listed.iter().map(|d| d.digest.clone()).collect();
    got.sort();
    wanted.sort();
    assert_eq!(got, wanted, "no writer lost its entry");
    let raw = skopeo_raw(&registry.addr, &format!("shop/app:{tag}")).unwrap();
    let list: ImageIndex = serde_json::from_slice(&raw).unwrap();
    assert_eq!(list.manifests.len(), 7, "skopeo sees the same list");
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_referrers_tag_that_names_an_image_is_left_as_it_is() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = minimal_image(&dir.path().join("image"), "app").unwrap();
    let squatter = minimal_image(&dir.path().join("squatter"), "squatter").unwrap();
    let r = client(&registry.addr);
    let (app, ctx) = (repo("shop/app"), CallContext::new());
    r.push(&image, &app, &tags(&["1.0.0"]), &ctx).await.unwrap();
    // An image pushed under the tag the referrers list of `image` would use.
    let tag = referrers_tag(&image.digest);
    r.push(&squatter, &app, std::slice::from_ref(&tag), &ctx)
        .await
        .unwrap();
    let err = attach(&r, &app, &sbom_of(&image), &ctx).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(tag.as_str()), "{text}");
    assert!(text.contains("not a referrers list"), "{text}");
    assert!(text.contains(&registry.addr), "{text}");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err:?}");
    assert_eq!(
        r.resolve(&app, &tag, &ctx).await.unwrap(),
        Some(squatter.digest.clone()),
        "the image under the tag is untouched"
    );
    // Listing: the distribution spec says such a tag means no referrers.
    let (listed, logs) =
        crate::support::logs_of(r.referrers(&app, &image.digest, None, &ctx)).await;
    assert!(listed.unwrap().is_empty());
    assert!(logs.contains("holds no image index"), "{logs}");
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn harbor_lists_referrers_through_its_api_page_by_page() {
    let registry = TestRegistry::start();
    let harbor = FakeHarbor::start(&registry.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let image = minimal_image(&dir.path().join("image"), "app").unwrap();
    let r = HarborRegistry::new(&harbor.url, USER, Secret::new(PASSWORD))
        .unwrap()
        .create_projects(true);
    let (app, ctx) = (repo("shop/app"), CallContext::new());
    r.push(&image, &app, &tags(&["1.0.0"]), &ctx).await.unwrap();
    let sbom = attach(&r, &app, &sbom_of(&image), &ctx).await.unwrap();
    assert_eq!(
        sbom.pushed.referrers_tag, None,
        "Harbor answered OCI-Subject: no referrers tag is written"
    );
    for i in 0..4 {
        let other = Artifact::new(
            format!("application/vnd.example.part{i}"),
            image.descriptor(),
        );
        attach(&r, &app, &other, &ctx).await.unwrap();
    }
    let before = harbor.referrers_requests();
    let all = r.referrers(&app, &image.digest, None, &ctx).await.unwrap();
    assert_eq!(all.len(), 5, "three pages of two: {all:?}");
    assert_eq!(
        harbor.referrers_requests() - before,
        3,
        "every page was read"
    );
    let only = r
        .referrers(&app, &image.digest, Some(ARTIFACT_TYPE_CYCLONEDX), &ctx)
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].digest, sbom.digest);
    assert_eq!(
        only[0].annotations["org.opencontainers.image.created"],
        "2000-01-01T00:00:00Z"
    );
    let listed_tags = r.list_tags(&app, &ctx).await.unwrap();
    assert_eq!(listed_tags, ["1.0.0"], "no referrers tag");
}

/// A registry whose referrers API answers `answer` to every listing.
async fn answering(answer: fn(&Uri) -> Response) -> DistributionRegistry {
    let app = axum::Router::new().fallback(move |uri: Uri| async move {
        if uri.path() == "/v2/" {
            return Response::new(Body::from("{}"));
        }
        answer(&uri)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    client(&addr)
}

fn json(content_type: &str, body: serde_json::Value, link: Option<&str>) -> Response {
    let mut res = Response::builder()
        .status(200)
        .header("content-type", content_type);
    if let Some(link) = link {
        res = res.header("link", link);
    }
    res.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn a_referrers_api_that_answers_no_index_is_an_error() {
    let subject = Digest::of(b"image");
    let ctx = CallContext::new();
    // An image manifest where the list should be.
    let r = answering(|_| {
        json(
            "application/vnd.oci.image.manifest.v1+json",
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
                "layers": []
            }),
            None,
        )
    })
    .await;
    let err = r
        .referrers(&repo("shop/app"), &subject, None, &ctx)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not an image index"), "{text}");
    assert!(text.contains(&r.location()), "names the host: {text}");
    assert!(!matches!(err, Error::Cancelled { .. }));

    // An HTML page.
    let r = answering(|_| {
        Response::builder()
            .status(200)
            .header("content-type", "text/html")
            .body(Body::from("<html>login</html>"))
            .unwrap()
    })
    .await;
    let err = r
        .referrers(&repo("shop/app"), &subject, None, &ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");

    // A next page on another host is not followed (credentials stay home).
    let r = answering(|_| {
        json(
            "application/vnd.oci.image.index.v1+json",
            serde_json::json!({"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}),
            Some("<http://198.51.100.7/v2/shop/app/referrers/x?page=2>; rel=\"next\""),
        )
    })
    .await;
    let err = r
        .referrers(&repo("shop/app"), &subject, None, &ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another host"), "{err}");

    // A list whose pages never end.
    let r = answering(|uri| {
        json(
            "application/vnd.oci.image.index.v1+json",
            serde_json::json!({"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}),
            Some(&format!("<{}>; rel=\"next\"", uri.path())),
        )
    })
    .await;
    let err = r
        .referrers(&repo("shop/app"), &subject, None, &ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did not end"), "{err}");
}

#[tokio::test]
async fn a_registry_without_either_lists_no_referrers() {
    // 404 from the referrers API and no referrers tag: none, as the spec says.
    let r = answering(|_| {
        Response::builder()
            .status(404)
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            ))
            .unwrap()
    })
    .await;
    let listed = r
        .referrers(
            &repo("shop/app"),
            &Digest::of(b"x"),
            None,
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert!(listed.is_empty());
}

/// A registry that keeps manifests in memory, answers `ETag` on reads and
/// honours `If-Match` on writes (412 when the manifest changed), has every
/// blob, and no referrers API. The first conditional write of a referrers
/// list meets another writer's list, written just before it.
#[derive(Default)]
struct Conditional {
    manifests: std::collections::HashMap<String, (String, Vec<u8>)>,
    refused: usize,
    interloper: Option<paragon_core::model::oci::Descriptor>,
}

async fn conditional_registry(
    state: std::sync::Arc<std::sync::Mutex<Conditional>>,
) -> DistributionRegistry {
    use axum::http::{HeaderMap, Method};
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let path = uri.path().to_owned();
                if path == "/v2/" {
                    return Response::new(Body::from("{}"));
                }
                if path.contains("/blobs/") {
                    return Response::builder().status(200).body(Body::empty()).unwrap();
                }
                let Some((_, reference)) = path.rsplit_once("/manifests/") else {
                    return Response::builder().status(404).body(Body::empty()).unwrap();
                };
                let mut s = state.lock().unwrap();
                match method {
                    Method::PUT => {
                        let etag = format!("\"{}\"", Digest::of(&body));
                        if let Some(wanted) = headers.get("if-match") {
                            let current = s
                                .manifests
                                .get(reference)
                                .map(|(_, b)| format!("\"{}\"", Digest::of(b)));
                            if s.refused == 0 {
                                // Another writer adds its entry first.
                                let mut list: ImageIndex = current
                                    .as_ref()
                                    .map(|_| {
                                        serde_json::from_slice(&s.manifests[reference].1).unwrap()
                                    })
                                    .unwrap_or_default();
                                list.manifests.push(s.interloper.clone().unwrap());
                                let bytes = serde_json::to_vec(&list).unwrap();
                                s.manifests.insert(
                                    reference.to_owned(),
                                    ("application/vnd.oci.image.index.v1+json".into(), bytes),
                                );
                                s.refused += 1;
                                return Response::builder()
                                    .status(412)
                                    .body(Body::empty())
                                    .unwrap();
                            }
                            if current.as_deref() != wanted.to_str().ok() {
                                s.refused += 1;
                                return Response::builder()
                                    .status(412)
                                    .body(Body::empty())
                                    .unwrap();
                            }
                        }
                        let media_type = headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        s.manifests
                            .insert(reference.to_owned(), (media_type.clone(), body.to_vec()));
                        s.manifests
                            .insert(Digest::of(&body).to_string(), (media_type, body.to_vec()));
                        Response::builder()
                            .status(201)
                            .header("docker-content-digest", Digest::of(&body).to_string())
                            .header("etag", etag)
                            .body(Body::empty())
                            .unwrap()
                    }
                    _ => match s.manifests.get(reference) {
                        None => Response::builder().status(404).body(Body::empty()).unwrap(),
                        Some((media_type, bytes)) => Response::builder()
                            .status(200)
                            .header("content-type", media_type.as_str())
                            .header("docker-content-digest", Digest::of(bytes).to_string())
                            .header("etag", format!("\"{}\"", Digest::of(bytes)))
                            .body(Body::from(bytes.clone()))
                            .unwrap(),
                    },
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    client(&addr).with_tag_settle(Duration::from_millis(20))
}

#[tokio::test]
async fn a_list_changed_since_it_was_read_is_read_again_where_the_registry_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let image = minimal_image(&dir.path().join("image"), "app").unwrap();
    let other = Artifact::new("application/vnd.example.other", image.descriptor())
        .write(&dir.path().join("other"))
        .unwrap();
    let state = std::sync::Arc::new(std::sync::Mutex::new(Conditional {
        interloper: Some(paragon_core::model::oci::Descriptor::new(
            "application/vnd.oci.image.manifest.v1+json",
            other.digest.clone(),
            other.size,
        )),
        ..Conditional::default()
    }));
    let r = conditional_registry(state.clone()).await;
    let (app, ctx) = (repo("shop/app"), CallContext::new());
    // A list exists, so the write is conditional on its ETag.
    let first = attach(
        &r,
        &app,
        &Artifact::new("application/vnd.example.first", image.descriptor()),
        &ctx,
    )
    .await
    .unwrap();
    let sbom = attach(&r, &app, &sbom_of(&image), &ctx).await.unwrap();
    assert_eq!(
        state.lock().unwrap().refused,
        1,
        "one write was refused (412)"
    );
    let listed: Vec<Digest> = r
        .referrers(&app, &image.digest, None, &ctx)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.digest)
        .collect();
    assert_eq!(listed, [first.digest, other.digest, sbom.digest]);
}

/// Six artifacts (blobs `0` to `5`) attached at once to one image through
/// one registry value with a 300 ms settle wait, the registry behind the
/// fault proxy given `rules` (`list` is the path part of the referrers
/// list's manifest): each artifact with the time its attach returned,
/// and the number of writes of the list. Every artifact is listed.
async fn six_at_once(
    rules: impl FnOnce(&str) -> Vec<paragon_core::conformance::faults::Rule>,
) -> (Vec<(Attached, std::time::Instant)>, usize) {
    use paragon_core::conformance::faults::FaultProxy;
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(Some(&registry.addr));
    let dir = tempfile::tempdir().unwrap();
    let image = minimal_image(&dir.path().join("image"), "shared").unwrap();
    let r = client(proxy.address()).with_tag_settle(Duration::from_millis(300));
    let (app, ctx) = (repo("shop/app"), CallContext::new());
    r.push(&image, &app, &tags(&["1.0.0"]), &ctx).await.unwrap();
    let list = format!("/manifests/{}", referrers_tag(&image.digest));
    for rule in rules(&list) {
        proxy.add(rule);
    }
    let artifacts: Vec<Artifact> = (0..6)
        .map(|i| {
            Artifact::new("application/vnd.example.test+json", image.descriptor()).with_blob(
                "application/vnd.example.test+json",
                format!("{i}").into_bytes(),
            )
        })
        .collect();
    let attaching = artifacts.iter().map(|a| async {
        let attached = attach(&r, &app, a, &ctx).await.unwrap();
        (attached, std::time::Instant::now())
    });
    let attached = futures_util::future::join_all(attaching).await;
    let listed = r.referrers(&app, &image.digest, None, &ctx).await.unwrap();
    assert_eq!(listed.len(), 6, "{listed:?}");
    for (a, _) in &attached {
        assert!(listed.iter().any(|d| d.digest == a.digest));
    }
    (attached, proxy.seen_matching("PUT", &list).len())
}

/// Attached at once through one registry value, artifacts take turns on
/// the referrers list, and a turn writes every entry waiting then: with
/// the first read of the list held back until all six wait, the list is
/// written once.
#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_attached_at_once_share_one_write_of_the_list() {
    use paragon_core::conformance::faults::{Fault, Rule};
    let (_, writes) = six_at_once(|list| {
        vec![Rule::new(Fault::Delay(Duration::from_millis(800)))
            .method("GET")
            .path_contains(list)
            .times(1)]
    })
    .await;
    assert_eq!(writes, 1, "one write of the list");
}

/// Nothing held back: a turn waits for the artifacts whose pushes began
/// before it, so the six are written in one turn all the same.
#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_pushed_at_once_are_written_in_one_turn() {
    let (_, writes) = six_at_once(|_| Vec::new()).await;
    assert_eq!(writes, 1, "one write of the list");
}

/// A turn waits for an artifact still uploading no longer than the
/// settle wait: with one artifact's blob check held back 3 s, the other
/// five are written and returned before it arrives, and it is written in
/// a turn of its own.
#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_artifact_holds_a_turn_no_longer_than_the_settle_wait() {
    use paragon_core::conformance::faults::{Fault, Rule};
    let slow = Digest::of(b"5").to_string();
    let (attached, writes) = six_at_once(|_| {
        vec![Rule::new(Fault::Delay(Duration::from_secs(3)))
            .method("HEAD")
            .path_contains(&slow)
            .times(1)]
    })
    .await;
    assert_eq!(writes, 2, "the five, then the slow one");
    let last = attached[5].1;
    for (a, done) in &attached[..5] {
        assert!(
            last.duration_since(*done) > Duration::from_millis(1500),
            "{} returned {:?} before the slow one",
            a.digest,
            last.duration_since(*done)
        );
    }
}
