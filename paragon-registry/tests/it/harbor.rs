//! Harbor's REST API v2.0 against a local server answering as Harbor's
//! swagger documents: project creation, robot accounts, the 409 on an
//! existing tag, the 412 of an immutability rule, a queued-then-finished
//! scan, and paginated listings. Pushes go to the real registry.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use paragon_core::conformance;
use paragon_core::plugin::build::{BuildSpec, Builder};
use paragon_core::plugin::registry::Registry;
use paragon_core::{CallContext, Error, FindingKind, ScanTarget, Scanner, Secret, Severity};
use paragon_registry::{
    Credentials, DistributionRegistry, HarborApi, HarborRegistry, HarborScanner, NativeBuilder,
    TagOutcome,
};

use crate::harbor_fake::FakeHarbor;
use crate::support::{demo_app, repo, skopeo_digest, tag, tags, TestRegistry, PASSWORD, USER};

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "Harbor12345-secret";

#[derive(Default)]
struct State {
    projects: BTreeSet<String>,
    tags: BTreeSet<String>,
    polls: usize,
    requests: Vec<(String, String)>,
    request_ids: BTreeSet<String>,
    cookies_seen: usize,
    missing_request_ids: usize,
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        // Harbor sets a session cookie; a client must not send it back.
        .header("set-cookie", "sid=abc123; Path=/; HttpOnly")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({ "errors": [{ "code": code, "message": message }] }),
    )
}

async fn harbor(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    s.requests
        .push((method.to_string(), format!("{path}?{query}")));
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) => {
            s.request_ids.insert(id.to_owned());
        }
        None => s.missing_request_ids += 1,
    }
    if headers.contains_key("cookie") {
        s.cookies_seen += 1;
    }
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN}:{ADMIN_PASSWORD}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "unauthorized");
    }
    let Some(rest) = path.strip_prefix("/api/v2.0") else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such API");
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("HEAD", ["projects"]) => {
            let name = query.strip_prefix("project_name=").unwrap_or("");
            if s.projects.contains(name) {
                json(StatusCode::OK, serde_json::json!(null))
            } else {
                Response::builder().status(404).body(Body::empty()).unwrap()
            }
        }
        ("POST", ["projects"]) => {
            s.projects.insert("shop".into());
            Response::builder()
                .status(201)
                .header("location", "/api/v2.0/projects/1")
                .body(Body::empty())
                .unwrap()
        }
        ("POST", ["robots"]) => json(
            StatusCode::CREATED,
            serde_json::json!({ "id": 7, "name": "robot$shop+ci", "secret": "robot-secret-xyz",
                "creation_time": "2026-11-27T08:00:00.000Z", "expires_at": -1 }),
        ),
        (_, ["projects", project, "repositories", repo, "artifacts", rest @ ..]) => {
            assert_eq!(*project, "shop");
            // The repository `team/app` arrives encoded twice.
            if *repo != "team%252Fapp" {
                return error(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    &format!("repository {repo} not found"),
                );
            }
            match (method.as_str(), rest) {
                ("GET", []) => {
                    // 5 artifacts with one tag each, paginated.
                    let page: usize = param(&query, "page").unwrap_or(1);
                    let size: usize = param(&query, "page_size").unwrap_or(10);
                    let all: Vec<String> = (1..=5).map(|i| format!("1.0.{i}")).collect();
                    let items: Vec<serde_json::Value> = all
                        .iter()
                        .skip((page - 1) * size)
                        .take(size)
                        .map(|t| serde_json::json!({ "digest": "sha256:00", "tags": [{ "name": t }] }))
                        .collect();
                    let mut res = json(StatusCode::OK, serde_json::Value::from(items));
                    res.headers_mut().insert("x-total-count", all.len().into());
                    if page * size < all.len() {
                        let link = format!(
                            "</api/v2.0/projects/shop/repositories/team%252Fapp/artifacts?with_tag=true&page={}&page_size={size}>; rel=\"next\"",
                            page + 1
                        );
                        res.headers_mut().insert("link", link.parse().unwrap());
                    }
                    res
                }
                ("GET", [_reference]) => {
                    if headers.get("x-accept-vulnerabilities").is_none() {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "BAD_REQUEST",
                            "no X-Accept-Vulnerabilities",
                        );
                    }
                    s.polls += 1;
                    let status = match s.polls {
                        1 => "Pending",
                        2 => "Running",
                        _ => "Success",
                    };
                    json(
                        StatusCode::OK,
                        serde_json::json!({ "digest": "sha256:00", "scan_overview": {
                            "application/vnd.security.vulnerability.report; version=1.1": {
                                "report_id": "r1", "scan_status": status, "severity": "High",
                                "summary": { "total": 2, "fixable": 1, "summary": { "High": 1, "Low": 1 } } } } }),
                    )
                }
                ("POST", [_reference, "scan"]) => {
                    Response::builder().status(202).body(Body::empty()).unwrap()
                }
                ("GET", [_reference, "additions", "vulnerabilities"]) => json(
                    StatusCode::OK,
                    serde_json::json!({ "application/vnd.security.vulnerability.report; version=1.1": {
                        "generated_at": "2026-11-27T08:00:00Z",
                        "scanner": { "name": "Trivy", "vendor": "Aqua Security", "version": "v0.59.1" },
                        "severity": "High",
                        "vulnerabilities": [
                            { "id": "CVE-2024-0001", "package": "openssl", "version": "3.0.1", "fix_version": "3.0.2",
                              "severity": "High", "description": "d", "links": ["https://nvd.nist.gov/vuln/detail/CVE-2024-0001"],
                              "preferred_cvss": { "score_v3": 8.1, "vector_v3": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H" } },
                            { "id": "CVE-2024-0002", "package": "zlib", "version": "1.2", "fix_version": "", "severity": "Low" }
                        ] } }),
                ),
                ("POST", [_reference, "tags"]) => {
                    // Harbor refuses to create a tag that exists.
                    let tag = "latest";
                    if s.tags.contains(tag) {
                        error(
                            StatusCode::CONFLICT,
                            "CONFLICT",
                            "the tag latest already exists",
                        )
                    } else {
                        s.tags.insert(tag.into());
                        Response::builder().status(201).body(Body::empty()).unwrap()
                    }
                }
                ("DELETE", [_reference, "tags", tag]) => {
                    if *tag == "1.0.0" {
                        error(
                            StatusCode::PRECONDITION_FAILED,
                            "PRECONDITION",
                            "the tag 1.0.0 is immutable, cannot be deleted",
                        )
                    } else {
                        json(StatusCode::OK, serde_json::json!(null))
                    }
                }
                _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route"),
    }
}

fn param(query: &str, key: &str) -> Option<usize> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
}

async fn serve() -> (String, Arc<Mutex<State>>) {
    let state = Arc::new(Mutex::new(State::default()));
    let s = state.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
        let s = s.clone();
        async move { harbor(s, method, uri, headers).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

fn api(url: &str) -> HarborApi {
    HarborApi::new(url, ADMIN, Secret::new(ADMIN_PASSWORD)).unwrap()
}

#[tokio::test]
async fn projects_robots_tags_and_immutability() {
    let (url, state) = serve().await;
    let api = api(&url).with_page_size(2);
    assert!(!api.project_exists("shop").await.unwrap());
    api.ensure_project("shop", true).await.unwrap();
    assert!(api.project_exists("shop").await.unwrap());
    let robot = api.create_robot("shop", "ci", None).await.unwrap();
    assert_eq!(robot.name, "robot$shop+ci");
    assert!(!format!("{robot:?}").contains("robot-secret-xyz"));
    assert!(matches!(robot.credentials(), Credentials::Basic { .. }));
    assert_eq!(
        api.list_tags("shop/team/app").await.unwrap(),
        ["1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5"],
        "three pages followed through Link"
    );
    assert!(api.list_tags("shop/other").await.unwrap().is_empty());
    assert_eq!(
        api.add_tag("shop/team/app", "sha256:00", &tag("latest"))
            .await
            .unwrap(),
        TagOutcome::Created
    );
    assert_eq!(
        api.add_tag("shop/team/app", "sha256:00", &tag("latest"))
            .await
            .unwrap(),
        TagOutcome::Exists,
        "409 on an existing tag"
    );
    let err = api
        .delete_tag("shop/team/app", &tag("1.0.0"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutability"), "{err}");
    assert!(
        matches!(
            err.downcast_ref(),
            Some(paragon_registry::Error::Harbor { status: 412, .. })
        ),
        "{err:?}"
    );
    api.delete_tag("shop/team/app", &tag("1.0.1"))
        .await
        .unwrap();
    let s = state.lock().unwrap();
    assert_eq!(
        s.missing_request_ids, 0,
        "every request has an X-Request-Id"
    );
    assert_eq!(
        s.request_ids.len(),
        s.requests.len(),
        "request ids are unique"
    );
    assert_eq!(s.cookies_seen, 0, "no cookie is sent back");
    assert!(s.requests.iter().any(|(_, p)| p
        .contains("/repositories/team%252Fapp/artifacts?with_tag=true&page=3&page_size=2")));
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized() {
    let (url, _) = serve().await;
    let api = HarborApi::new(&url, ADMIN, Secret::new("nope-wrong")).unwrap();
    let err = api.project_exists("shop").await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("nope-wrong"));
    assert!(HarborApi::new("ftp://x", ADMIN, Secret::new("p")).is_err());
    assert!(HarborApi::new("https://u:p@x", ADMIN, Secret::new("p")).is_err());
}

/// Plain http beyond this machine is refused before anything is sent,
/// naming the call that allows it; allowed, the request is attempted.
#[tokio::test]
async fn plain_http_goes_only_to_this_machine_unless_allowed() {
    let password = || Secret::new("pw-in-clear-1");
    // A documentation address (TEST-NET-1): nothing answers there.
    let far = "http://192.0.2.1:9";
    let quick = |api: HarborApi| {
        api.with_request_timeout(Duration::from_millis(300))
            .with_retry(paragon_core::retry::RetryPolicy::none())
    };
    let api = quick(HarborApi::new(far, ADMIN, password()).unwrap());
    let registry = HarborRegistry::new(far, ADMIN, password()).unwrap();
    let ctx = CallContext::new();
    let refusals = [
        api.project_exists("shop").await.map(|_| ()),
        registry
            .resolve(&repo("shop/app"), &tag("1.0.0"), &ctx)
            .await
            .map(|_| ()),
    ];
    for refused in refusals {
        let err = refused.unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
        assert!(err.to_string().contains("::allow_http(true)"), "{err}");
        assert!(!format!("{err} {err:?}").contains("pw-in-clear-1"));
    }
    let err = api
        .allow_http(true)
        .project_exists("shop")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.downcast_ref(),
            Some(paragon_registry::Error::Harbor { status: 0, .. })
        ),
        "{err:?}"
    );
    assert!(HarborApi::new("ftp://harbor.example", ADMIN, password()).is_err());
}

#[tokio::test]
async fn harbor_scans_a_pushed_image() {
    let (url, state) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    demo_app(&src, "1.0.0");
    let image = NativeBuilder::new()
        .build(
            &BuildSpec::new(&src, dir.path().join("layout")),
            &CallContext::new(),
        )
        .await
        .unwrap();
    let scanner = HarborScanner::new(api(&url), "shop/team/app")
        .with_poll_interval(Duration::from_millis(10));
    conformance::scanner::names_itself(&scanner).await;
    conformance::scanner::rejects_unsupported_targets(&scanner, dir.path()).await;
    let report = scanner
        .scan(
            &ScanTarget::OciLayout(image.layout.clone()),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(report.scanner.name, "harbor");
    assert_eq!(report.findings.len(), 2);
    let f = &report.findings[0];
    assert_eq!(
        (f.kind, f.id.as_str(), f.severity),
        (FindingKind::Vulnerability, "CVE-2024-0001", Severity::High)
    );
    assert_eq!(f.fixed_versions, ["3.0.2"]);
    assert!(report.findings[1].fixed_versions.is_empty());
    let s = state.lock().unwrap();
    assert_eq!(s.polls, 3, "pending, running, success");
    let digest = image.digest.as_str().replace(':', "%3A");
    assert!(s
        .requests
        .iter()
        .any(|(m, p)| m == "POST" && p.contains(&format!("/artifacts/{digest}/scan"))));
}

#[tokio::test]
async fn a_scan_that_never_finishes_times_out() {
    let (url, _state) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let image = paragon_core::plugin::build::testing::minimal_image(dir.path(), "x").unwrap();
    let scanner = HarborScanner::new(api(&url), "shop/team/app")
        .with_poll_interval(Duration::from_millis(200))
        .with_timeout(Duration::from_millis(250));
    let err = scanner
        .scan(&ScanTarget::OciLayout(image.layout), &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, paragon_core::Error::TimedOut { .. }),
        "{err:?}"
    );
}

#[ignore = "needs docker-registry, htpasswd and skopeo"]
#[tokio::test]
async fn harbor_registry_pushes_and_moves_latest_by_manifest_put() {
    let registry = TestRegistry::start();
    let (url, state) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let distribution = DistributionRegistry::new(&registry.addr)
        .unwrap()
        .with_credentials(Credentials::basic(USER, Secret::new(PASSWORD)));
    let harbor = HarborRegistry::from_parts(api(&url), distribution).create_projects(true);
    let mut images = Vec::new();
    for v in ["1.0.0", "1.0.1"] {
        let src = dir.path().join(format!("src-{v}"));
        demo_app(&src, v);
        images.push(
            NativeBuilder::new()
                .build(
                    &BuildSpec::new(&src, dir.path().join(format!("l-{v}"))),
                    &CallContext::new(),
                )
                .await
                .unwrap(),
        );
    }
    let tags = |v: &str| tags(&[v, "latest"]);
    harbor
        .push(
            &images[0],
            &repo("shop/team/app"),
            &tags("1.0.0"),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert!(
        state.lock().unwrap().projects.contains("shop"),
        "the project was created"
    );
    harbor
        .push(
            &images[1],
            &repo("shop/team/app"),
            &tags("1.0.1"),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/team/app:latest").as_deref(),
        Some(images[1].digest.as_str())
    );
    // Roll latest back: the tag API creates it once, then answers 409 and
    // the manifest PUT moves it.
    harbor
        .retag(&repo("shop/team/app"), &images[0].digest, &tag("latest"))
        .await
        .unwrap();
    harbor
        .retag(&repo("shop/team/app"), &images[0].digest, &tag("latest"))
        .await
        .unwrap();
    assert_eq!(
        skopeo_digest(&registry.addr, "shop/team/app:latest").as_deref(),
        Some(images[0].digest.as_str())
    );
    assert_eq!(
        harbor
            .resolve(&repo("shop/team/app"), &tag("1.0.1"), &CallContext::new())
            .await
            .unwrap(),
        Some(images[1].digest.clone())
    );
    let err = harbor
        .push(
            &images[0],
            &repo("app-without-project"),
            &tags("1"),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("project"), "{err}");
}

#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn harbor_registry_conforms() {
    let registry = TestRegistry::start();
    let harbor = FakeHarbor::start(&registry.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let adapter = HarborRegistry::new(&harbor.url, USER, Secret::new(PASSWORD))
        .unwrap()
        .create_projects(true);
    conformance::registry::all(
        &adapter,
        dir.path(),
        "paragon/conformance",
        // Harbor's images go over the distribution API, which has no
        // conditional manifest write.
        conformance::registry::Capabilities::full().conditional_pushes(false),
    )
    .await;
}

#[tokio::test]
async fn harbor_scanner_conforms() {
    let (url, _state) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let image = paragon_core::plugin::build::testing::minimal_image(&dir.path().join("image"), "x")
        .unwrap();
    let scanner = HarborScanner::new(api(&url), "shop/team/app")
        .with_poll_interval(Duration::from_millis(20));
    let report = conformance::scanner::all(
        &scanner,
        &ScanTarget::OciLayout(image.layout),
        conformance::scanner::Capabilities::findings(),
    )
    .await;
    assert_eq!(report.findings.len(), 2);
}

/// Harbor's API behind the fault proxy: listing tags, checking a project
/// and a whole scan end in an error naming Harbor under every fault of
/// `service_faults`, within the request timeout, never showing the
/// password; without faults they succeed.
#[tokio::test]
async fn harbor_api_faults_are_errors_naming_harbor() {
    use paragon_core::conformance::faults::{each_fault_fails, service_faults, Fault, FaultProxy};
    let (url, _state) = serve().await;
    let proxy = FaultProxy::start(Some(url.trim_start_matches("http://")));
    // Reads are retried once, quickly: every fault also meets the retry.
    let api = api(&proxy.url())
        .with_request_timeout(Duration::from_millis(500))
        .with_retry(paragon_core::retry::RetryPolicy::new(
            2,
            Duration::from_millis(10),
            Duration::from_millis(10),
        ));
    let within = Duration::from_secs(10);
    let mut errors = each_fault_fails(&proxy, "harbor", &service_faults(), within, || {
        api.list_tags("shop/team/app")
    })
    .await;
    // A `HEAD`: a 200 says the project exists, whatever body came.
    let head_faults: Vec<Fault> = service_faults()
        .into_iter()
        .filter(|f| *f != Fault::garbage())
        .collect();
    errors.extend(
        each_fault_fails(&proxy, "harbor", &head_faults, within, || {
            api.project_exists("shop")
        })
        .await,
    );
    let dir = tempfile::tempdir().unwrap();
    let image = paragon_core::plugin::build::testing::minimal_image(dir.path(), "faults").unwrap();
    let scanner = HarborScanner::new(api.clone(), "shop/team/app")
        .with_poll_interval(Duration::from_millis(20));
    let target = ScanTarget::OciLayout(image.layout.clone());
    errors.extend(
        each_fault_fails(&proxy, "harbor", &service_faults(), within, || {
            let target = &target;
            let scanner = &scanner;
            async move { scanner.scan(target, &CallContext::new()).await }
        })
        .await,
    );
    for (fault, e) in errors {
        assert!(
            !format!("{e} {e:?}").contains(ADMIN_PASSWORD),
            "{fault:?}: {e:?}"
        );
    }
}

/// A read that meets a passing 503 is asked again and succeeds; a write
/// is sent once, whatever comes back.
#[tokio::test]
async fn harbor_reads_are_retried_and_writes_are_not() {
    use paragon_core::conformance::faults::{Fault, FaultProxy, Rule};
    let (url, _state) = serve().await;
    let proxy = FaultProxy::start(Some(url.trim_start_matches("http://")));
    let api = api(&proxy.url()).with_retry(paragon_core::retry::RetryPolicy::new(
        3,
        Duration::from_millis(10),
        Duration::from_millis(10),
    ));
    let tags = api.list_tags("shop/team/app").await.unwrap();
    let asked = proxy.seen_matching("GET", "/artifacts").len();
    proxy.add(Rule::new(Fault::status(503)).method("GET").times(2));
    assert_eq!(api.list_tags("shop/team/app").await.unwrap(), tags);
    // The same pages again, the first one twice more.
    assert_eq!(
        proxy.seen_matching("GET", "/artifacts").len(),
        2 * asked + 2
    );
    proxy.add(Rule::new(Fault::status(503)).method("POST").times(1));
    let err = api.create_project("other").await.unwrap_err();
    assert!(err.to_string().contains("harbor"), "{err}");
    assert_eq!(proxy.seen_matching("POST", "/projects").len(), 1);
}

/// An artifact listing whose `Link` never ends is an error after the page
/// limit, never a short list of tags.
#[tokio::test]
async fn an_artifact_list_that_never_ends_is_an_error() {
    let app = axum::Router::new().fallback(|| async {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header(
                "link",
                "</api/v2.0/projects/shop/repositories/app/artifacts?with_tag=true&page=2&page_size=100>; rel=\"next\"",
            )
            .body(Body::from(
                serde_json::json!([{ "digest": "sha256:00", "tags": [{ "name": "a" }] }]).to_string(),
            ))
            .unwrap()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let err = api(&url).list_tags("shop/app").await.unwrap_err();
    assert!(
        err.to_string().contains("did not end after 10000 pages"),
        "{err}"
    );
}
