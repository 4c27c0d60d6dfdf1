//! The SonarQube scanner against a local HTTP server answering as
//! SonarQube's web API documents it (payloads from the fixtures'
//! `api/issues/search` and `api/hotspots/search` pages), with pagination, a
//! pending-then-successful and a failed compute-engine task, a failing
//! quality gate, the 10,000-result cap, and a 401.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use paragon_core::{conformance, CallContext, Error, FindingKind, ScanTarget, Scanner, Secret};
use paragon_scanners::sonarqube::SonarQube;
use serde_json::{json, Value};

use crate::support::fixture;

const TOKEN: &str = "squ_3f9a1c2b7d";
/// `Basic base64("squ_3f9a1c2b7d:")`: the token as user name, empty password.
const AUTH: &str = "Basic c3F1XzNmOWExYzJiN2Q6";

struct Fake {
    issues: Vec<Value>,
    hotspots: Vec<Value>,
    polls: AtomicUsize,
    /// Report more than 10,000 issues for unfiltered searches.
    over_cap: bool,
    requests: Mutex<Vec<String>>,
}

type Shared = Arc<Fake>;

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(AUTH)
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"errors": [{"msg": "Authentication required"}]})),
    )
        .into_response()
}

async fn ce_task(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let id = q.get("id").cloned().unwrap_or_default();
    if id == "AYfailed" {
        return Json(
            json!({"task": {"id": id, "type": "REPORT", "componentKey": "demo-app",
            "status": "FAILED", "errorMessage": "Unsupported language: cobol"}}),
        )
        .into_response();
    }
    let n = s.polls.fetch_add(1, Ordering::SeqCst);
    let status = match n {
        0 => "PENDING",
        1 => "IN_PROGRESS",
        _ => "SUCCESS",
    };
    Json(
        json!({"task": {"id": id, "type": "REPORT", "componentKey": "demo-app", "status": status,
        "analysisId": if status == "SUCCESS" { Some("AYanalysis1") } else { None }}}),
    )
    .into_response()
}

fn page_of(items: &[Value], q: &HashMap<String, String>) -> (Vec<Value>, u64, u64, u64) {
    let ps: u64 = q.get("ps").and_then(|v| v.parse().ok()).unwrap_or(100);
    let p: u64 = q.get("p").and_then(|v| v.parse().ok()).unwrap_or(1);
    let start = ((p - 1) * ps) as usize;
    let slice = items
        .iter()
        .skip(start)
        .take(ps as usize)
        .cloned()
        .collect();
    (slice, items.len() as u64, p, ps)
}

async fn issues(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    s.requests.lock().unwrap().push(format!("issues {:?}", {
        let mut v: Vec<_> = q.iter().collect();
        v.sort();
        v
    }));
    let filtered: Vec<Value> = match q.get("severities") {
        Some(sev) => s
            .issues
            .iter()
            .filter(|i| i["severity"] == sev.as_str())
            .cloned()
            .collect(),
        None => s.issues.clone(),
    };
    let (slice, mut total, p, ps) = page_of(&filtered, &q);
    if s.over_cap && !q.contains_key("severities") {
        total = 10_001;
    }
    Json(json!({"total": total, "p": p, "ps": ps, "paging": {"pageIndex": p, "pageSize": ps, "total": total},
        "effortTotal": 0, "issues": slice, "components": [], "facets": []}))
    .into_response()
}

async fn hotspots(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let (slice, total, p, ps) = page_of(&s.hotspots, &q);
    Json(json!({"paging": {"pageIndex": p, "pageSize": ps, "total": total}, "hotspots": slice, "components": []}))
        .into_response()
}

async fn gate(headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    assert_eq!(q.get("analysisId").map(String::as_str), Some("AYanalysis1"));
    Json(json!({"projectStatus": {"status": "ERROR", "ignoredConditions": false, "conditions": [
        {"status": "ERROR", "metricKey": "new_security_rating", "comparator": "GT", "errorThreshold": "1", "actualValue": "4"},
        {"status": "OK", "metricKey": "new_coverage", "comparator": "LT", "errorThreshold": "80", "actualValue": "91.2"}]}}))
    .into_response()
}

async fn serve(over_cap: bool) -> (SocketAddr, Shared) {
    let issues_doc: Value = serde_json::from_slice(
        &std::fs::read(fixture("sonarqube/findings_over_api.json")).unwrap(),
    )
    .unwrap();
    let hotspots_doc: Value = serde_json::from_slice(
        &std::fs::read(fixture("sonarqube/findings_over_api_hotspots.json")).unwrap(),
    )
    .unwrap();
    let state = Arc::new(Fake {
        issues: issues_doc["issues"].as_array().unwrap().clone(),
        hotspots: hotspots_doc["hotspots"].as_array().unwrap().clone(),
        polls: AtomicUsize::new(0),
        over_cap,
        requests: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/sonar/api/ce/task", get(ce_task))
        .route("/sonar/api/issues/search", get(issues))
        .route("/sonar/api/hotspots/search", get(hotspots))
        .route("/sonar/api/qualitygates/project_status", get(gate))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

fn project(task: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".scannerwork")).unwrap();
    std::fs::write(
        dir.path().join(".scannerwork/report-task.txt"),
        format!(
            "projectKey=demo-app\nserverUrl=http://sonar.example\nserverVersion=10.6.0\n\
             dashboardUrl=http://sonar.example/dashboard?id=demo-app\nceTaskId={task}\n\
             ceTaskUrl=http://sonar.example/api/ce/task?id={task}\n"
        ),
    )
    .unwrap();
    dir
}

fn sonar(addr: SocketAddr, token: &str) -> SonarQube {
    sonar_builder(addr, token).build().unwrap()
}

fn sonar_builder(addr: SocketAddr, token: &str) -> paragon_scanners::sonarqube::SonarQubeBuilder {
    SonarQube::builder()
        .with_url(format!("http://{addr}/sonar"))
        .with_token(Secret::new(token))
        .with_poll_interval(Duration::from_millis(20))
        .with_page_size(2)
        .with_retry(paragon_core::retry::RetryPolicy::new(
            2,
            Duration::from_millis(10),
            Duration::from_millis(10),
        ))
}

#[tokio::test]
async fn reads_an_analysis_page_by_page_with_the_gate() {
    let (addr, state) = serve(false).await;
    let dir = project("AYtask1");
    let s = sonar(addr, TOKEN);
    let report =
        conformance::scanner::scans(&s, &ScanTarget::Directory(dir.path().to_owned())).await;
    assert_eq!(
        state.polls.load(Ordering::SeqCst),
        3,
        "pending, in progress, success"
    );
    let weaknesses = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Weakness)
        .count();
    assert_eq!(weaknesses, 9, "5 issues over 3 pages and 4 hotspots over 2");
    assert_eq!(report.target.as_deref(), Some("demo-app"));
    let gate = report.quality_gate.as_ref().unwrap();
    assert_eq!(gate.status, "ERROR");
    assert!(!gate.passed());
    assert_eq!(
        gate.failed_conditions,
        ["new_security_rating GT 1 (actual 4)"]
    );
    let pages = state.requests.lock().unwrap().len();
    assert_eq!(pages, 3);
    assert!(!format!("{s:?}").contains(TOKEN));
}

#[tokio::test]
async fn sonarqube_conforms() {
    let (addr, _) = serve(false).await;
    let dir = project("AYtask1");
    let report = conformance::scanner::all(
        &sonar(addr, TOKEN),
        &ScanTarget::Directory(dir.path().to_owned()),
        conformance::scanner::Capabilities::findings(),
    )
    .await;
    assert_eq!(report.findings.len(), 9);
}

#[tokio::test]
async fn narrows_searches_over_the_cap_by_severity() {
    let (addr, state) = serve(true).await;
    let dir = project("AYtask2");
    let report = sonar(addr, TOKEN)
        .scan(
            &ScanTarget::Directory(dir.path().to_owned()),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(report.findings.len(), 9);
    let requests = state.requests.lock().unwrap();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("\"severities\", \"MAJOR\"")),
        "{requests:?}"
    );
}

#[tokio::test]
async fn failed_tasks_and_bad_tokens_are_errors() {
    let (addr, _) = serve(false).await;
    let dir = project("AYfailed");
    let err = sonar(addr, TOKEN)
        .scan(
            &ScanTarget::Directory(dir.path().to_owned()),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    match &err {
        Error::ToolFailed {
            status,
            stderr_tail,
            ..
        } => {
            assert!(status.contains("FAILED"), "{status}");
            assert!(stderr_tail.contains("Unsupported language"));
        }
        other => panic!("{other:?}"),
    }

    let dir = project("AYtask3");
    let err = sonar(addr, "squ_wrong_token")
        .scan(
            &ScanTarget::Directory(dir.path().to_owned()),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("401") && msg.contains("127.0.0.1"), "{msg}");
    assert!(!msg.contains("squ_wrong_token"), "{msg}");

    // No analysis in the directory.
    let empty = tempfile::tempdir().unwrap();
    let err = sonar(addr, TOKEN)
        .scan(
            &ScanTarget::Directory(empty.path().to_owned()),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("report-task.txt"), "{err}");

    // A server that never finishes the task: the timeout stops the wait.
    let dir = project("AYtask4");
    let slow = SonarQube::builder()
        .with_url(format!("http://{addr}/sonar"))
        .with_token(Secret::new(TOKEN))
        .with_poll_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    let err = slow
        .scan(
            &ScanTarget::Directory(dir.path().to_owned()),
            &CallContext::new().with_timeout(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");

    assert!(SonarQube::builder()
        .with_url("sonar.example")
        .with_token(Secret::new("t"))
        .build()
        .is_err());
    assert!(SonarQube::builder()
        .with_url("https://sonar.example")
        .build()
        .is_err());
    let in_clear = || {
        SonarQube::builder()
            .with_url("http://sonar.example")
            .with_token(Secret::new("t"))
    };
    let err = in_clear().build().unwrap_err();
    assert!(err.to_string().contains("allow_http(true)"), "{err}");
    assert!(in_clear().allow_http(true).build().is_ok());
}

/// SonarQube's API behind the fault proxy: a scan ends in an error naming
/// SonarQube under every fault of `service_faults` (a silent server within
/// the scan's timeout), never showing the token; without faults it reads
/// the analysis.
#[tokio::test]
async fn sonarqube_api_faults_are_errors_naming_it() {
    use paragon_core::conformance::faults::{each_fault_fails, service_faults, FaultProxy};
    let (addr, _) = serve(false).await;
    let proxy = FaultProxy::start(Some(&addr.to_string()));
    let via: SocketAddr = proxy.address().parse().unwrap();
    let s = sonar(via, TOKEN);
    let dir = project("AYtask3");
    let target = ScanTarget::Directory(dir.path().to_owned());
    let errors = each_fault_fails(
        &proxy,
        "sonarqube",
        &service_faults(),
        Duration::from_secs(10),
        || {
            let (s, target) = (&s, &target);
            async move {
                s.scan(
                    target,
                    &CallContext::new().with_timeout(Duration::from_secs(2)),
                )
                .await
            }
        },
    )
    .await;
    for (fault, e) in errors {
        assert!(!format!("{e} {e:?}").contains(TOKEN), "{fault:?}: {e:?}");
    }
}

/// With no timeout from the caller and the scan's own at its default
/// (10 min), a server that never answers is bounded by the request
/// timeout of each attempt, and the error says so.
#[tokio::test]
async fn a_silent_server_is_bounded_by_the_request_timeout() {
    use paragon_core::conformance::faults::{Fault, FaultProxy, Rule};
    let (addr, _) = serve(false).await;
    let proxy = FaultProxy::start(Some(&addr.to_string()));
    proxy.add(Rule::new(Fault::Silent));
    let via: SocketAddr = proxy.address().parse().unwrap();
    let s = sonar_builder(via, TOKEN)
        .with_request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let dir = project("AYtask3");
    let target = ScanTarget::Directory(dir.path().to_owned());
    let began = std::time::Instant::now();
    let err = s.scan(&target, &CallContext::new()).await.unwrap_err();
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    let text = err.to_string();
    assert!(text.contains("no whole answer within 300ms"), "{text}");
    assert!(text.contains(&via.to_string()), "{text}");
    assert!(!format!("{err} {err:?}").contains(TOKEN), "{err:?}");
    let zero = sonar_builder(via, TOKEN).with_request_timeout(Duration::ZERO);
    let err = zero.build().unwrap_err().to_string();
    assert!(err.contains("longer than zero"), "{err}");
}
