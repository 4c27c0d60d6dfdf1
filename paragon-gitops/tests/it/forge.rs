//! The forge adapters against local servers that answer as GitHub's,
//! Gitea's and GitLab's REST API documentation describes (status codes,
//! bodies, the "already exists" answers), and one end to end with a real
//! bare git remote.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use paragon_core::plugin::deploy::{Deployment, GitOpsTarget};
use paragon_core::retry::RetryPolicy;
use paragon_core::{CallContext, Error, Secret};
use paragon_gitops::forge::{MergeRequests, PullRequests};
use paragon_gitops::{ChangeRequest, ChangeRequests, WriteMode};
use serde_json::{json, Value};

use crate::support::Remote;

/// One request the fake forge received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// Path and query, as sent.
    uri: String,
    headers: HeaderMap,
    body: Value,
}

/// A scripted answer: for requests whose method and path match, this
/// status and body. A path with `?fragment` matches only requests whose
/// query contains the fragment; the first match answers.
type Script = Vec<(Method, &'static str, u16, Value)>;

struct Fake {
    api: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Serves `script` under `/api` on a loopback port; an unscripted
    /// request is answered 404 as the forges do.
    async fn start(script: Script) -> Fake {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let script = Arc::new(script);
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (log, script) = (log.clone(), script.clone());
                async move {
                    log.lock().unwrap().push(Seen {
                        method: method.clone(),
                        uri: uri.to_string(),
                        headers,
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let answer = script.iter().find(|(m, path, _, _)| {
                        let (path, fragment) = path.split_once('?').unwrap_or((path, ""));
                        *m == method
                            && path == uri.path()
                            && uri.query().unwrap_or("").contains(fragment)
                    });
                    match answer {
                        Some((_, _, status, body)) => (
                            StatusCode::from_u16(*status).unwrap(),
                            axum::Json(body.clone()),
                        )
                            .into_response(),
                        None => (
                            StatusCode::NOT_FOUND,
                            axum::Json(json!({"message": "Not Found"})),
                        )
                            .into_response(),
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fake { api, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A fake forge answering one scripted request.
async fn answering(method: Method, path: &'static str, status: u16, body: Value) -> Fake {
    Fake::start(vec![(method, path, status, body)]).await
}

fn github_at(api: &str, repository: &str) -> PullRequests {
    PullRequests::github_enterprise(api, repository, Secret::new(TOKEN)).unwrap()
}

async fn open(forge: &impl ChangeRequests) -> paragon_core::Result<String> {
    forge.open(&request(), &CallContext::new()).await
}

fn header<'a>(s: &'a Seen, name: &str) -> &'a str {
    s.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn request() -> ChangeRequest {
    ChangeRequest {
        source_branch: "paragon/prod/shop-8.0.0".into(),
        target_branch: "main".into(),
        title: "Deploy shop 8.0.0 to prod".into(),
        description: "-  tag: \"7.9.0\"\n+  tag: \"8.0.0\"".into(),
    }
}

const TOKEN: &str = "ghp_0123456789abcdefSECRET";

fn pull(url: &str, head: &str, base: &str) -> Value {
    json!({"number": 1, "html_url": url, "head": {"ref": head}, "base": {"ref": base}})
}

#[tokio::test]
async fn github_opens_a_pull_request() {
    let url = "https://github.com/shop/deploy/pull/42";
    let fake = answering(
        Method::POST,
        "/api/repos/shop/deploy/pulls",
        201,
        json!({"number": 42, "html_url": url, "state": "open"}),
    )
    .await;
    let github = github_at(&fake.api, "shop/deploy");
    let opened = open(&github).await.unwrap();
    assert_eq!(opened, url);
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(header(s, "authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(header(s, "accept"), "application/vnd.github+json");
    assert_eq!(header(s, "x-github-api-version"), "2022-11-28");
    assert!(header(s, "user-agent").starts_with("paragon/"));
    assert_eq!(
        s.body,
        json!({
            "title": "Deploy shop 8.0.0 to prod",
            "head": "paragon/prod/shop-8.0.0",
            "base": "main",
            "body": request().description,
        })
    );
}

#[tokio::test]
async fn github_finds_the_open_pull_request_when_one_exists() {
    let url = "https://github.com/shop/deploy/pull/7";
    let fake = Fake::start(vec![
        (
            Method::POST,
            "/api/repos/shop/deploy/pulls",
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "code": "custom",
                            "message": "A pull request already exists for shop:paragon/prod/shop-8.0.0."}],
                "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
            }),
        ),
        (
            Method::GET,
            "/api/repos/shop/deploy/pulls",
            200,
            json!([
                pull("https://github.com/shop/deploy/pull/6", "paragon/prod/shop-8.0.0", "release"),
                pull(url, "paragon/prod/shop-8.0.0", "main"),
            ]),
        ),
    ])
    .await;
    let github = github_at(&fake.api, "shop/deploy");
    assert_eq!(open(&github).await.unwrap(), url);
    let seen = fake.seen();
    assert_eq!(seen[1].method, Method::GET);
    assert!(
        seen[1]
            .uri
            .contains("head=shop%3Aparagon%2Fprod%2Fshop-8.0.0")
            && seen[1].uri.contains("base=main")
            && seen[1].uri.contains("state=open"),
        "{}",
        seen[1].uri
    );
    // A 422 for another reason, with no open request to find, is an error
    // carrying GitHub's message.
    let fake = Fake::start(vec![
        (
            Method::POST,
            "/api/repos/shop/deploy/pulls",
            422,
            json!({"message": "Validation Failed",
                   "errors": [{"resource": "PullRequest", "field": "base", "code": "invalid"}]}),
        ),
        (Method::GET, "/api/repos/shop/deploy/pulls", 200, json!([])),
    ])
    .await;
    let github = github_at(&fake.api, "shop/deploy");
    let err = open(&github).await.unwrap_err();
    match &err {
        Error::Http {
            service,
            status,
            message,
            ..
        } => {
            assert_eq!((service.as_str(), *status), ("github", 422));
            assert!(message.contains("Validation Failed"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_open_request_is_found_on_a_later_page() {
    let url = "https://gitea.example/shop/deploy/pulls/77";
    let others: Vec<Value> = (0..50)
        .map(|i| {
            pull(
                &format!("https://gitea.example/shop/deploy/pulls/{i}"),
                &format!("feature-{i}"),
                "main",
            )
        })
        .collect();
    let fake = Fake::start(vec![
        (
            Method::POST,
            "/api/repos/shop/deploy/pulls",
            409,
            json!({"message": "pull request already exists for these targets"}),
        ),
        (
            Method::GET,
            "/api/repos/shop/deploy/pulls?page=1",
            200,
            Value::Array(others),
        ),
        (
            Method::GET,
            "/api/repos/shop/deploy/pulls?page=2",
            200,
            json!([pull(url, "paragon/prod/shop-8.0.0", "main")]),
        ),
    ])
    .await;
    let gitea = PullRequests::gitea(&fake.api, "shop/deploy", Secret::new(TOKEN)).unwrap();
    assert_eq!(open(&gitea).await.unwrap(), url);
    assert_eq!(fake.seen().len(), 3, "one POST, two pages");
    // Not on any page: the 409 stands, with Gitea's message.
    let fake = Fake::start(vec![
        (
            Method::POST,
            "/api/repos/shop/deploy/pulls",
            409,
            json!({"message": "pull request already exists for these targets"}),
        ),
        (Method::GET, "/api/repos/shop/deploy/pulls", 200, json!([])),
    ])
    .await;
    let gitea = PullRequests::gitea(&fake.api, "shop/deploy", Secret::new(TOKEN)).unwrap();
    let err = open(&gitea).await.unwrap_err();
    assert!(
        matches!(&err, Error::Http { status: 409, message, .. } if message.contains("already exists")),
        "{err:?}"
    );
}

#[tokio::test]
async fn gitea_sends_its_token_scheme_and_handles_409() {
    let url = "https://gitea.example/shop/deploy/pulls/3";
    let fake = Fake::start(vec![
        (
            Method::POST,
            "/api/repos/shop/deploy/pulls",
            409,
            json!({"message": "pull request already exists for these targets [id: 3, issue_id: 9, head_repo_id: 1, base_repo_id: 1, head_branch: paragon/prod/shop-8.0.0, base_branch: main]", "url": "https://gitea.example/api/swagger"}),
        ),
        (
            Method::GET,
            "/api/repos/shop/deploy/pulls",
            200,
            json!([
                pull("https://gitea.example/shop/deploy/pulls/2", "feature", "main"),
                pull(url, "paragon/prod/shop-8.0.0", "main"),
            ]),
        ),
    ])
    .await;
    let gitea = PullRequests::gitea(&fake.api, "shop/deploy", Secret::new(TOKEN)).unwrap();
    assert_eq!(open(&gitea).await.unwrap(), url);
    for s in fake.seen() {
        assert_eq!(header(&s, "authorization"), format!("token {TOKEN}"));
    }
}

#[tokio::test]
async fn gitlab_opens_a_merge_request_in_a_nested_project() {
    let url = "https://gitlab.example/platform/apps/deploy/-/merge_requests/5";
    let fake = answering(
        Method::POST,
        "/api/projects/platform%2Fapps%2Fdeploy/merge_requests",
        201,
        json!({"id": 81, "iid": 5, "web_url": url, "state": "opened"}),
    )
    .await;
    let gitlab =
        MergeRequests::with_api(&fake.api, "platform/apps/deploy", Secret::new(TOKEN)).unwrap();
    assert_eq!(open(&gitlab).await.unwrap(), url);
    let s = &fake.seen()[0];
    assert_eq!(header(s, "private-token"), TOKEN);
    assert_eq!(header(s, "authorization"), "");
    assert_eq!(
        s.body,
        json!({
            "source_branch": "paragon/prod/shop-8.0.0",
            "target_branch": "main",
            "title": "Deploy shop 8.0.0 to prod",
            "description": request().description,
            "remove_source_branch": true,
        })
    );
}

#[tokio::test]
async fn gitlab_finds_the_open_merge_request_on_409() {
    let url = "https://gitlab.example/platform/deploy/-/merge_requests/9";
    let fake = Fake::start(vec![
        (
            Method::POST,
            "/api/projects/platform%2Fdeploy/merge_requests",
            409,
            json!({"message": ["Another open merge request already exists for this source branch: !9"]}),
        ),
        (
            Method::GET,
            "/api/projects/platform%2Fdeploy/merge_requests",
            200,
            json!([{"iid": 9, "web_url": url, "source_branch": "paragon/prod/shop-8.0.0", "target_branch": "main"}]),
        ),
    ])
    .await;
    let gitlab = MergeRequests::with_api(&fake.api, "platform/deploy", Secret::new(TOKEN))
        .unwrap()
        .keep_source_branch();
    assert_eq!(open(&gitlab).await.unwrap(), url);
    let seen = fake.seen();
    assert_eq!(seen[0].body["remove_source_branch"], json!(false));
    assert!(
        seen[1].uri.contains("state=opened")
            && seen[1]
                .uri
                .contains("source_branch=paragon%2Fprod%2Fshop-8.0.0"),
        "{}",
        seen[1].uri
    );
}

#[tokio::test]
async fn refusals_and_garbage_are_typed_errors_without_the_token() {
    // 401 is Unauthorized naming the host.
    let fake = answering(
        Method::POST,
        "/api/projects/g%2Fp/merge_requests",
        401,
        json!({"message": "401 Unauthorized"}),
    )
    .await;
    let gitlab = MergeRequests::with_api(&fake.api, "g/p", Secret::new(TOKEN)).unwrap();
    let err = open(&gitlab).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    // 403 and 404 are Http errors with the forge's message.
    let fake = answering(
        Method::POST,
        "/api/repos/o/r/pulls",
        403,
        json!({"message": "Resource not accessible by personal access token"}),
    )
    .await;
    let github = github_at(&fake.api, "o/r");
    let err = open(&github).await.unwrap_err();
    assert!(
        matches!(&err, Error::Http { status: 403, message, .. } if message.contains("not accessible")),
        "{err:?}"
    );
    let github = github_at(&fake.api, "o/missing");
    let err = open(&github).await.unwrap_err();
    assert!(matches!(&err, Error::Http { status: 404, .. }), "{err:?}");
    // A success without the URL.
    let fake = answering(
        Method::POST,
        "/api/repos/o/r/pulls",
        201,
        json!({"number": 1}),
    )
    .await;
    let github = github_at(&fake.api, "o/r");
    let err = open(&github).await.unwrap_err();
    assert!(err.to_string().contains("html_url"), "{err}");
    // Nothing listens: an Http error with status 0.
    let github =
        PullRequests::github_enterprise("http://127.0.0.1:9/api", "o/r", Secret::new(TOKEN))
            .unwrap();
    let err = open(&github).await.unwrap_err();
    assert!(matches!(&err, Error::Http { status: 0, .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_token_goes_to_plain_http_only_on_this_machine_unless_allowed() {
    // 0.0.0.0 is not loopback, yet a connection to it reaches this machine
    // (where nothing listens on port 9): the refusal comes before anything
    // is sent, and once allowed the request fails on the closed port.
    let api = "http://0.0.0.0:9/api";
    let github = PullRequests::github_enterprise(api, "o/r", Secret::new(TOKEN)).unwrap();
    let gitlab = MergeRequests::with_api(api, "g/p", Secret::new(TOKEN)).unwrap();
    for (err, allowing) in [
        (
            open(&github).await.unwrap_err(),
            "PullRequests::allow_http(true)",
        ),
        (
            open(&gitlab).await.unwrap_err(),
            "MergeRequests::allow_http(true)",
        ),
    ] {
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
        assert!(err.to_string().contains(allowing), "{err}");
        assert!(err.to_string().contains("0.0.0.0"), "{err}");
        assert!(!format!("{err} {err:?}").contains(TOKEN), "{err:?}");
    }
    for err in [
        open(&github.allow_http(true)).await.unwrap_err(),
        open(&gitlab.allow_http(true)).await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::Http { status: 0, .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(TOKEN), "{err:?}");
    }
}

#[tokio::test]
async fn change_request_mode_opens_a_real_pull_request_end_to_end() {
    let url = "https://github.com/shop/deploy/pull/100";
    let fake = answering(
        Method::POST,
        "/api/repos/shop/deploy/pulls",
        201,
        json!({"number": 100, "html_url": url}),
    )
    .await;
    let remote = Remote::new();
    let github = github_at(&fake.api, "shop/deploy");
    let target = crate::git::helm(&remote)
        .with_mode(WriteMode::ChangeRequest)
        .with_change_requests(Arc::new(github));
    let d = target
        .deploy(&crate::git::release("prod", "8.0.0"), &CallContext::new())
        .await
        .unwrap();
    assert!(matches!(d, Deployment::Changed(_)), "{d:?}");
    assert_eq!(d.change().unwrap().change_request.as_deref(), Some(url));
    let body = &fake.seen()[0].body;
    assert_eq!(body["head"], json!("paragon/prod/shop-8.0.0"));
    assert_eq!(body["base"], json!("main"));
    assert!(
        body["body"].as_str().unwrap().contains("8.0.0"),
        "the description carries the diff: {body}"
    );
    assert!(remote
        .show("paragon/prod/shop-8.0.0", "charts/shop/values-prod.yaml")
        .contains("8.0.0"));
}

/// GitHub's and GitLab's APIs behind the fault proxy: opening a change
/// request ends in an error naming the forge under every fault of
/// `service_faults`, within the request timeout, never showing the token;
/// without faults it opens the request.
#[tokio::test]
async fn forge_faults_are_errors_naming_the_forge() {
    use paragon_core::conformance::faults::{each_fault_fails, service_faults, FaultProxy};
    use std::time::Duration;
    let fake = Fake::start(vec![
        (
            Method::POST,
            "/api/repos/shop/deploy/pulls",
            201,
            json!({"number": 42, "html_url": "https://github.com/shop/deploy/pull/42"}),
        ),
        (
            Method::POST,
            "/api/projects/platform%2Fdeploy/merge_requests",
            201,
            json!({"iid": 5, "web_url": "https://gitlab.example/platform/deploy/-/merge_requests/5"}),
        ),
    ])
    .await;
    let upstream = fake
        .api
        .trim_start_matches("http://")
        .trim_end_matches("/api");
    let proxy = FaultProxy::start(Some(upstream));
    let api = format!("{}/api", proxy.url());
    let timeout = Duration::from_millis(500);
    // Reads are retried once, quickly: every fault also meets the retry.
    let retry = RetryPolicy::new(2, Duration::from_millis(10), Duration::from_millis(10));
    let github = github_at(&api, "shop/deploy")
        .with_request_timeout(timeout)
        .with_retry(retry);
    let gitlab = MergeRequests::with_api(&api, "platform/deploy", Secret::new(TOKEN))
        .unwrap()
        .with_request_timeout(timeout)
        .with_retry(retry);
    let within = Duration::from_secs(5);
    let mut errors = each_fault_fails(&proxy, "github", &service_faults(), within, || {
        open(&github)
    })
    .await;
    errors.extend(
        each_fault_fails(&proxy, "gitlab", &service_faults(), within, || {
            open(&gitlab)
        })
        .await,
    );
    for (fault, e) in errors {
        assert!(!format!("{e} {e:?}").contains(TOKEN), "{fault:?}: {e:?}");
    }
}

const SHA: &str = "4b6f0e5c1f0d9c3a2b7e8f6d5c4b3a2918171615";
const SARIF_ID: &str = "47177e22-5596-11eb-80a1-c1e54ef945c6";

fn code_scanning(api: &str) -> paragon_gitops::forge::CodeScanning {
    paragon_gitops::forge::CodeScanning::github_enterprise(api, "shop/app", Secret::new(TOKEN))
        .unwrap()
        .with_poll_interval(std::time::Duration::from_millis(10))
}

/// GitHub's documented answers: 202 with the upload's `id` and `url`, then
/// the status with `processing_status` and `analyses_url`.
#[tokio::test]
async fn a_sarif_log_is_uploaded_to_code_scanning_and_awaited() {
    use base64::Engine as _;
    use std::io::Read as _;
    let status_path: &'static str =
        "/api/repos/shop/app/code-scanning/sarifs/47177e22-5596-11eb-80a1-c1e54ef945c6";
    let fake = Fake::start(vec![
        (
            Method::POST,
            "/api/repos/shop/app/code-scanning/sarifs",
            202,
            json!({"id": SARIF_ID, "url": format!("https://api.github.com/repos/shop/app/code-scanning/sarifs/{SARIF_ID}")}),
        ),
        (
            Method::GET,
            status_path,
            200,
            json!({"processing_status": "complete", "analyses_url": "https://api.github.com/repos/shop/app/code-scanning/analyses?sarif_id=47177e22"}),
        ),
    ])
    .await;
    let github = code_scanning(&fake.api);
    let sarif = r#"{"version":"2.1.0","runs":[]}"#;
    let ctx = CallContext::new();
    let upload = github
        .upload_sarif(sarif, SHA, "refs/heads/main", &ctx)
        .await
        .unwrap();
    assert_eq!(upload.id, SARIF_ID);
    let analyses = github
        .wait(&upload.id, std::time::Duration::from_secs(5), &ctx)
        .await
        .unwrap();
    assert!(analyses.unwrap().contains("sarif_id="));
    let seen = fake.seen();
    let post = &seen[0];
    assert_eq!(post.method, Method::POST);
    assert_eq!(header(post, "authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(header(post, "x-github-api-version"), "2022-11-28");
    assert_eq!(post.body["commit_sha"], SHA);
    assert_eq!(post.body["ref"], "refs/heads/main");
    assert_eq!(post.body["tool_name"], "paragon");
    let gz = base64::engine::general_purpose::STANDARD
        .decode(post.body["sarif"].as_str().unwrap())
        .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, sarif);
    assert_eq!(seen[1].uri, status_path);
}

#[tokio::test]
async fn code_scanning_failures_are_clear() {
    let status_path: &'static str =
        "/api/repos/shop/app/code-scanning/sarifs/47177e22-5596-11eb-80a1-c1e54ef945c6";
    let ctx = CallContext::new();
    // Processing failed: GitHub's errors, named.
    let fake = answering(
        Method::GET,
        status_path,
        200,
        json!({"processing_status": "failed", "errors": ["locationFromSarifResult: expected artifact location"]}),
    )
    .await;
    let err = code_scanning(&fake.api)
        .wait(SARIF_ID, std::time::Duration::from_secs(5), &ctx)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("expected artifact location"),
        "{err}"
    );
    // Still pending past the limit: an error naming the upload.
    let fake = answering(
        Method::GET,
        status_path,
        200,
        json!({"processing_status": "pending"}),
    )
    .await;
    let err = code_scanning(&fake.api)
        .wait(SARIF_ID, std::time::Duration::from_millis(50), &ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(SARIF_ID), "{err}");
    assert_eq!(err.kind(), paragon_core::ErrorKind::Timeout);
    // Code scanning not enabled: GitHub's 403 and its message.
    let fake = answering(
        Method::POST,
        "/api/repos/shop/app/code-scanning/sarifs",
        403,
        json!({"message": "Advanced Security must be enabled for this repository to use code scanning."}),
    )
    .await;
    let github = code_scanning(&fake.api);
    let err = github
        .upload_sarif("{}", SHA, "refs/heads/main", &ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Advanced Security"), "{err}");
    assert!(!format!("{err} {err:?} {github:?}").contains(TOKEN));
    // Bad input, refused before anything is sent.
    let before = fake.seen().len();
    for (sha, r) in [("abc", "refs/heads/main"), (SHA, "main")] {
        let err = github.upload_sarif("{}", sha, r, &ctx).await.unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    }
    assert_eq!(fake.seen().len(), before);
}
