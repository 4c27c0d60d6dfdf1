//! The distribution adapter under faults: a fault-injecting proxy
//! (`paragon_core::conformance::faults`) in front of the real CNCF registry
//! answers 500s and 429s (with `Retry-After` in seconds and as a date),
//! cuts uploads and answers mid-body, loses answers after the registry
//! acted, delays, and never answers. Each test asserts the documented
//! outcome: retries stay within the policy, and the registry's own state,
//! read by skopeo directly (not through the proxy), agrees with what the
//! caller was told: after `Ok`, every tag names the pushed image; after an
//! error, every tag that exists names an image skopeo copies whole.

use std::time::{Duration, Instant};

use paragon_core::conformance::faults::{Fault, FaultProxy, Rule};
use paragon_core::plugin::build::{BuildSpec, Builder, BuiltImage};
use paragon_core::plugin::registry::{Pushed, Registry};
use paragon_core::{CallContext, Result};
use paragon_registry::{DistributionRegistry, NativeBuilder};

use crate::support::{
    self, demo_app, repo, skopeo_copies_whole, skopeo_digest, tag, tags, TestRegistry,
};

const REPO: &str = "shop/faults";
const TAGS: [&str; 2] = ["1.0.0", "latest"];

/// A real registry, the proxy in front of it and an image to push.
struct Rig {
    registry: TestRegistry,
    proxy: FaultProxy,
    image: BuiltImage,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let registry = TestRegistry::start();
    let proxy = FaultProxy::start(Some(&registry.addr));
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    demo_app(&src, "1.0.0");
    let image = NativeBuilder::new()
        .build(
            &BuildSpec::new(&src, dir.path().join("layout")).with_ref_name("1.0.0"),
            &CallContext::new(),
        )
        .await
        .unwrap();
    Rig {
        registry,
        proxy,
        image,
        _dir: dir,
    }
}

/// The adapter for `addr` (see `support::client`) with a request timeout
/// of `timeout`.
fn client(addr: &str, timeout: Duration) -> DistributionRegistry {
    support::client(addr).with_request_timeout(timeout).unwrap()
}

impl Rig {
    /// The adapter, through the proxy.
    fn client(&self) -> DistributionRegistry {
        client(self.proxy.address(), Duration::from_secs(5))
    }

    async fn push(&self, r: &DistributionRegistry) -> Result<Pushed> {
        let tags = tags(&TAGS);
        r.push(&self.image, &repo(REPO), &tags, &CallContext::new())
            .await
    }

    /// What the registry holds under each of `TAGS`, read by skopeo
    /// directly; every tag that exists must name an image skopeo copies
    /// whole (all its blobs there, each matching its digest).
    fn state(&self) -> Vec<(&'static str, Option<String>)> {
        TAGS.iter()
            .map(|t| {
                let reference = format!("{REPO}:{t}");
                let held = skopeo_digest(&self.registry.addr, &reference);
                if held.is_some() {
                    assert!(
                        skopeo_copies_whole(&self.registry.addr, &reference),
                        "{reference} names an incomplete image"
                    );
                }
                (*t, held)
            })
            .collect()
    }

    /// The caller's result agrees with the registry: after `Ok`, every
    /// tag names the pushed image; after an error, no tag names another
    /// image. The state, for further checks.
    fn assert_truthful(&self, result: &Result<Pushed>) -> Vec<(&'static str, Option<String>)> {
        let state = self.state();
        let ours = self.image.digest.to_string();
        for (tag, held) in &state {
            match result {
                Ok(pushed) => {
                    assert_eq!(pushed.digest.as_str(), ours);
                    assert_eq!(held.as_deref(), Some(ours.as_str()), "{tag} after Ok");
                }
                Err(_) => assert!(
                    held.as_deref().is_none_or(|d| d == ours),
                    "{tag} names {held:?} after an error"
                ),
            }
        }
        state
    }

    fn count(&self, method: &str, part: &str) -> usize {
        self.proxy.seen_matching(method, part).len()
    }
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn transient_500s_are_retried_within_the_policy() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::status(500))
            .method("PUT")
            .path_contains("/manifests/")
            .times(2),
    );
    let result = rig.push(&rig.client()).await;
    assert!(result.is_ok(), "{result:?}");
    rig.assert_truthful(&result);
    // The first tag's PUT failed twice, then went through; `latest` once.
    assert_eq!(rig.count("PUT", "/manifests/1.0.0"), 3);
    assert_eq!(rig.count("PUT", "/manifests/latest"), 1);
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_persistent_500_ends_after_the_policy_with_only_complete_tags() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::status(500))
            .method("PUT")
            .path_contains("/manifests/latest"),
    );
    let result = rig.push(&rig.client()).await;
    match result.as_ref().map_err(|e| e.downcast_ref()) {
        Err(Some(paragon_registry::Error::Distribution {
            host,
            status: Some(500),
            operation,
            ..
        })) => {
            assert_eq!(host, rig.proxy.address());
            assert!(operation.contains("latest"), "{operation}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rig.count("PUT", "/manifests/latest"), 3, "three attempts");
    let state = rig.assert_truthful(&result);
    // The version tag landed before `latest` failed; the caller learns
    // which tags moved from `resolve`, which agrees with skopeo.
    assert_eq!(state[0].1.as_deref(), Some(rig.image.digest.as_str()));
    assert_eq!(state[1].1, None);
    let direct = client(&rig.registry.addr, Duration::from_secs(5));
    assert_eq!(
        direct
            .resolve(&repo(REPO), &tag("1.0.0"), &CallContext::new())
            .await
            .unwrap(),
        Some(rig.image.digest.clone())
    );
    assert_eq!(
        direct
            .resolve(&repo(REPO), &tag("latest"), &CallContext::new())
            .await
            .unwrap(),
        None
    );
}

/// The gap between the first two requests matching `method` and `part`.
fn gap(rig: &Rig, method: &str, part: &str) -> Duration {
    let seen = rig.proxy.seen_matching(method, part);
    assert!(seen.len() >= 2, "{seen:?}");
    seen[1].at - seen[0].at
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn retry_after_in_seconds_on_a_429_is_waited_for() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::status(429).with_retry_after("2"))
            .method("HEAD")
            .path_contains("/blobs/")
            .times(1),
    );
    let result = rig.push(&rig.client()).await;
    assert!(result.is_ok(), "{result:?}");
    rig.assert_truthful(&result);
    // The policy's own wait is 50 ms; the registry asked for 2 s.
    let waited = gap(&rig, "HEAD", "/blobs/");
    assert!(waited >= Duration::from_millis(1950), "{waited:?}");
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn retry_after_as_a_date_on_a_503_is_waited_for() {
    let rig = rig().await;
    let (start, start_wall) = (std::time::Instant::now(), time::OffsetDateTime::now_utc());
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let due = (start_wall + Duration::from_secs(4))
        .replace_nanosecond(0)
        .unwrap();
    let date = due.format(&format).unwrap();
    rig.proxy.add(
        Rule::new(Fault::status(503).with_retry_after(&date))
            .method("PUT")
            .path_contains("/manifests/latest")
            .times(1),
    );
    let result = rig.push(&rig.client()).await;
    assert!(result.is_ok(), "{result:?}");
    rig.assert_truthful(&result);
    // However long the push took to reach `latest`, the retry came no
    // earlier than the date the registry named (to the clock's precision).
    let seen = rig.proxy.seen_matching("PUT", "/manifests/latest");
    assert!(seen.len() >= 2, "{seen:?}");
    let retried = start_wall + (seen[1].at - start);
    assert!(
        retried + Duration::from_millis(50) >= due,
        "retried at {retried} for {date}"
    );
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_retry_after_beyond_the_limit_ends_the_push_at_once() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::status(429).with_retry_after("3600"))
            .method("PUT")
            .path_contains("/manifests/"),
    );
    let started = Instant::now();
    let result = rig.push(&rig.client()).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    match &result {
        Err(e)
            if e.downcast_ref::<paragon_registry::Error>()
                .and_then(|e| e.status())
                == Some(429) =>
        {
            assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
            assert!(e.to_string().contains("429"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rig.count("PUT", "/manifests/"), 1, "no retry");
    let state = rig.assert_truthful(&result);
    assert!(state.iter().all(|(_, held)| held.is_none()), "{state:?}");
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn an_upload_cut_mid_body_is_sent_again_whole() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::CutRequest)
            .method("PUT")
            .path_contains("/blobs/uploads/")
            .times(1),
    );
    let result = rig.push(&rig.client()).await;
    assert!(result.is_ok(), "{result:?}");
    rig.assert_truthful(&result);
    // Each blob once, and the cut one again with a new upload session.
    let blobs = result.as_ref().unwrap().uploaded;
    assert_eq!(rig.count("PUT", "/blobs/uploads/"), blobs + 1);
    assert_eq!(rig.count("POST", "/blobs/uploads/"), blobs + 1);
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn an_answer_cut_mid_body_is_retried_and_a_persistent_one_is_an_error() {
    let rig = rig().await;
    let r = rig.client();
    rig.push(&r).await.unwrap();
    // Tagging fetches the manifest by digest: its answer breaks off once.
    rig.proxy.add(
        Rule::new(Fault::CutAnswer { after: 20 })
            .method("GET")
            .path_contains("/manifests/sha256:")
            .times(1),
    );
    r.tag_existing(
        &repo(REPO),
        &rig.image.digest,
        &tag("stable"),
        &CallContext::new(),
    )
    .await
    .unwrap();
    assert_eq!(rig.count("GET", "/manifests/sha256:"), 2);
    assert_eq!(
        skopeo_digest(&rig.registry.addr, &format!("{REPO}:stable")).as_deref(),
        Some(rig.image.digest.as_str())
    );
    // A tag list that always breaks off is an error, never a short list.
    rig.proxy.add(
        Rule::new(Fault::CutAnswer { after: 8 })
            .method("GET")
            .path_contains("/tags/list"),
    );
    let err = r
        .list_tags(&repo(REPO), &CallContext::new())
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
        err.to_string().contains("the answer could not be read"),
        "{err}"
    );
    assert_eq!(rig.count("GET", "/tags/list"), 3);
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn answers_lost_after_the_registry_acted_are_retried() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::LoseAnswer)
            .method("PUT")
            .path_contains("/blobs/uploads/")
            .times(1),
    );
    rig.proxy.add(
        Rule::new(Fault::LoseAnswer)
            .method("PUT")
            .path_contains("/manifests/1.0.0")
            .times(1),
    );
    let result = rig.push(&rig.client()).await;
    assert!(result.is_ok(), "{result:?}");
    rig.assert_truthful(&result);
    assert_eq!(rig.count("PUT", "/manifests/1.0.0"), 2);
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn an_answer_lost_every_time_is_an_error_though_the_registry_acted() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::LoseAnswer)
            .method("PUT")
            .path_contains("/manifests/latest"),
    );
    let r = rig.client();
    let result = rig.push(&r).await;
    let err = result.as_ref().unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(rig.count("PUT", "/manifests/latest"), 3);
    // The registry did take `latest`: the caller was told the push
    // failed, and `resolve` says what is there, as skopeo does.
    let state = rig.assert_truthful(&result);
    let ours = Some(rig.image.digest.to_string());
    assert_eq!(state[1].1, ours);
    assert_eq!(
        r.resolve(&repo(REPO), &tag("latest"), &CallContext::new())
            .await
            .unwrap()
            .map(|d| d.to_string()),
        ours
    );
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn delays_within_the_timeout_only_slow_the_push() {
    let rig = rig().await;
    rig.proxy
        .add(Rule::new(Fault::Delay(Duration::from_millis(150))));
    let started = Instant::now();
    let result = rig.push(&rig.client()).await;
    assert!(result.is_ok(), "{result:?}");
    rig.assert_truthful(&result);
    let requests = rig.proxy.seen().len();
    assert_eq!(rig.proxy.faults_applied(), requests);
    assert!(started.elapsed() >= Duration::from_millis(150) * requests as u32);
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn delays_beyond_the_timeout_are_retried_then_reported() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::Delay(Duration::from_secs(5)))
            .method("PUT")
            .path_contains("/manifests/"),
    );
    let r = client(rig.proxy.address(), Duration::from_millis(400));
    let started = Instant::now();
    let result = rig.push(&r).await;
    let took = started.elapsed();
    let err = result.as_ref().unwrap_err();
    assert!(
        err.to_string().contains("no answer before the timeout"),
        "{err}"
    );
    // Three attempts of 400 ms and two waits: well under the 5 s delay.
    assert!(took >= Duration::from_millis(1200), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(rig.count("PUT", "/manifests/"), 3);
    // The delayed PUTs may still reach the registry after the client gave
    // up: whatever did is complete.
    tokio::time::sleep(Duration::from_secs(5)).await;
    rig.assert_truthful(&result);
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_registry_that_stops_answering_is_bounded_and_cancellable() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(Fault::Silent)
            .method("PUT")
            .path_contains("/manifests/"),
    );
    let r = client(rig.proxy.address(), Duration::from_millis(300));
    let started = Instant::now();
    let result = rig.push(&r).await;
    assert!(started.elapsed() < Duration::from_secs(4));
    let err = result.as_ref().unwrap_err();
    assert!(
        err.to_string().contains("no answer before the timeout"),
        "{err}"
    );
    assert_eq!(rig.count("PUT", "/manifests/"), 3);
    let state = rig.assert_truthful(&result);
    assert!(state.iter().all(|(_, held)| held.is_none()), "{state:?}");

    // With a long timeout, cancelling ends the wait at once.
    let r = client(rig.proxy.address(), Duration::from_secs(60));
    let ctx = CallContext::new();
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let tags = tags(&["1.0.0"]);
    let err = r
        .push(&rig.image, &repo(REPO), &tags, &ctx)
        .await
        .unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        skopeo_digest(&rig.registry.addr, &format!("{REPO}:1.0.0")),
        None
    );
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_version_reserved_under_faults_is_reserved_once() {
    let rig = rig().await;
    let r = rig.client();
    r.push(&rig.image, &repo(REPO), &[], &CallContext::new())
        .await
        .unwrap();
    // The tag's PUT reaches the registry but its answer is lost, then a
    // 503: the retry finds the write done, and the reservation holds.
    rig.proxy.add(
        Rule::new(Fault::LoseAnswer)
            .method("PUT")
            .path_contains("/manifests/2.0.0")
            .times(1),
    );
    rig.proxy.add(
        Rule::new(Fault::status(503))
            .method("HEAD")
            .path_contains("/manifests/2.0.0")
            .after(1)
            .times(1),
    );
    let created = r
        .create_tag(
            &repo(REPO),
            &tag("2.0.0"),
            &rig.image.digest,
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        skopeo_digest(&rig.registry.addr, &format!("{REPO}:2.0.0")).as_deref(),
        Some(rig.image.digest.as_str())
    );
    // A second reservation of the same version is refused.
    assert!(!r
        .create_tag(
            &repo(REPO),
            &tag("2.0.0"),
            &rig.image.digest,
            &CallContext::new()
        )
        .await
        .unwrap());
}

/// The distribution spec's answer to a manifest naming a blob the
/// registry does not hold, as the CNCF registry gives it when it reads a
/// blob's link while a concurrent upload of the same blob rewrites it.
fn blob_unknown() -> Fault {
    Fault::Answer {
        status: 400,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:e8af923825e67a8cf71c33d4edf0bb30aa0b461a12ffbbe90e5f223cddcb2f41"}]}"#.to_vec(),
    }
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn a_manifest_whose_blob_the_registry_lost_is_sent_again_after_the_blobs() {
    let rig = rig().await;
    rig.proxy.add(
        Rule::new(blob_unknown())
            .method("PUT")
            .path_contains("/manifests/")
            .times(1),
    );
    let result = rig.push(&rig.client()).await;
    assert!(result.is_ok(), "{result:?}");
    rig.assert_truthful(&result);
    // The blobs were checked again before the manifest was sent again,
    // and counted once.
    let heads = rig.count("HEAD", "/blobs/");
    let pushed = result.as_ref().unwrap();
    assert_eq!(pushed.uploaded + pushed.skipped, 2, "{pushed:?}");
    assert_eq!(heads, 2 * 2, "{pushed:?}");

    // A registry that keeps saying so: an error naming the code, after
    // two more tries, and no tag.
    let again = self::rig().await;
    again.proxy.add(
        Rule::new(blob_unknown())
            .method("PUT")
            .path_contains("/manifests/"),
    );
    let result = again.push(&again.client()).await;
    let err = result.as_ref().unwrap_err().to_string();
    assert!(err.contains("MANIFEST_BLOB_UNKNOWN"), "{err}");
    assert_eq!(again.count("PUT", "/manifests/"), 3);
    let state = again.assert_truthful(&result);
    assert!(state.iter().all(|(_, held)| held.is_none()), "{state:?}");
}
