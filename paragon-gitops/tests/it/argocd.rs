//! Argo CD's API against a local server answering as its API documents:
//! `GET /api/v1/applications/{name}` and `POST …/{name}/sync` with a bearer
//! token; errors as `{"error", "code", "message"}`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use paragon_core::retry::RetryPolicy;
use paragon_core::{CallContext, Error, Secret};
use paragon_gitops::argocd::ArgoCd;

const TOKEN: &str = "argocd-token-abc";

#[derive(Default)]
struct App {
    synced: bool,
    polls_since_sync: usize,
    stuck: bool,
    refreshes: usize,
    syncs: Vec<serde_json::Value>,
}

fn application(name: &str, app: &App) -> serde_json::Value {
    let (sync, health) = match (app.synced, app.polls_since_sync, app.stuck) {
        (false, _, _) => ("OutOfSync", "Healthy"),
        (true, _, true) | (true, 0 | 1, false) => ("Synced", "Progressing"),
        (true, _, false) => ("Synced", "Healthy"),
    };
    serde_json::json!({
        "metadata": { "name": name, "namespace": "argocd" },
        "spec": { "source": { "repoURL": "https://git.example/deploy.git", "path": "charts/shop", "targetRevision": "main" },
                  "destination": { "server": "https://kubernetes.default.svc", "namespace": "shop" }, "project": "default" },
        "status": {
            "sync": { "status": sync, "revision": if app.synced { "abc123" } else { "old999" } },
            "health": { "status": health },
            "operationState": if app.synced { serde_json::json!({ "phase": "Succeeded", "message": "successfully synced (all tasks run)" }) } else { serde_json::Value::Null }
        }
    })
}

fn denied(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message, "code": 16, "message": message })),
    )
        .into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn get_app(
    State(state): State<Arc<Mutex<App>>>,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return denied(
            StatusCode::UNAUTHORIZED,
            "invalid session: token signature is invalid",
        );
    }
    if name != "shop-dev" {
        return denied(StatusCode::FORBIDDEN, "permission denied");
    }
    let mut app = state.lock().unwrap();
    if q.iter().any(|(k, v)| k == "refresh" && v == "normal") {
        app.refreshes += 1;
    }
    if app.synced {
        app.polls_since_sync += 1;
    }
    axum::Json(application(&name, &app)).into_response()
}

async fn sync_app(
    State(state): State<Arc<Mutex<App>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> Response {
    if !authorized(&headers) {
        return denied(StatusCode::UNAUTHORIZED, "invalid session");
    }
    let mut app = state.lock().unwrap();
    app.syncs.push(body);
    app.synced = true;
    axum::Json(application(&name, &app)).into_response()
}

async fn server(app: App) -> (String, Arc<Mutex<App>>) {
    let state = Arc::new(Mutex::new(app));
    let router = axum::Router::new()
        .route("/api/v1/applications/{name}", axum::routing::get(get_app))
        .route(
            "/api/v1/applications/{name}/sync",
            axum::routing::post(sync_app),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, state)
}

fn client(base: &str, token: &str) -> ArgoCd {
    ArgoCd::new(base, Secret::new(token))
        .unwrap()
        .with_poll_interval(Duration::from_millis(20))
}

#[tokio::test]
async fn out_of_sync_then_synced_and_healthy() {
    let (base, state) = server(App::default()).await;
    let argo = client(&base, TOKEN);
    let s = argo
        .status("shop-dev", false, &CallContext::new())
        .await
        .unwrap();
    assert_eq!(
        (s.sync.as_str(), s.health.as_str()),
        ("OutOfSync", "Healthy")
    );
    argo.sync("shop-dev", Some("abc123"), &CallContext::new())
        .await
        .unwrap();
    let ready = argo
        .wait_until_ready(
            "shop-dev",
            Some("abc123"),
            Duration::from_secs(5),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert!(ready.is_ready(Some("abc123")));
    let app = state.lock().unwrap();
    assert_eq!(app.syncs[0]["revision"], serde_json::json!("abc123"));
    assert!(app.polls_since_sync >= 2, "it passed through Progressing");
    assert!(app.refreshes >= 1);
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_without_the_token() {
    let (base, _) = server(App::default()).await;
    let err = client(&base, "wrong-token-xyz")
        .status("shop-dev", false, &CallContext::new())
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    assert!(!format!("{err:?}").contains("wrong-token-xyz"));
    let err = client(&base, TOKEN)
        .status("other", false, &CallContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 403, .. }), "{err:?}");
}

#[tokio::test]
async fn waiting_times_out_naming_the_last_status() {
    let (base, _) = server(App {
        synced: true,
        stuck: true,
        ..App::default()
    })
    .await;
    let err = client(&base, TOKEN)
        .wait_until_ready(
            "shop-dev",
            None,
            Duration::from_millis(200),
            &CallContext::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err:?}");
    assert!(err.to_string().contains("Progressing"), "{err}");
}

/// Plain http beyond this machine is refused before anything is sent,
/// naming the call that allows it; allowed, the request is attempted.
#[tokio::test]
async fn plain_http_goes_only_to_this_machine_unless_allowed() {
    // A documentation address (TEST-NET-1): nothing answers there.
    let far = ArgoCd::new("http://192.0.2.1:9", Secret::new(TOKEN))
        .unwrap()
        .with_request_timeout(Duration::from_millis(300))
        .with_retry(RetryPolicy::none());
    let ctx = CallContext::new();
    let err = far.status("shop-dev", false, &ctx).await.unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(
        err.to_string().contains("ArgoCd::allow_http(true)"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    let err = far
        .allow_http(true)
        .status("shop-dev", false, &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 0, .. }), "{err:?}");
}

#[test]
fn bad_urls_are_config_errors() {
    assert!(ArgoCd::new("ftp://x", Secret::new("t")).is_err());
    assert!(ArgoCd::new("not a url", Secret::new("t")).is_err());
    assert!(ArgoCd::new("http://localhost:8080", Secret::new("t")).is_ok());
    assert!(!format!(
        "{:?}",
        ArgoCd::new("https://argocd.example", Secret::new("tok-1")).unwrap()
    )
    .contains("tok-1"));
}

#[tokio::test]
async fn as_a_post_deploy_check_it_syncs_and_waits_for_the_commit() {
    use paragon_core::plugin::check::{Check, CheckTarget};
    use paragon_core::plugin::deploy::Release;
    use paragon_gitops::argocd::ArgoCdCheck;
    let (base, state) = server(App::default()).await;
    let check = ArgoCdCheck::new(client(&base, TOKEN), "shop-{env}").with_sync();
    let target = CheckTarget::new(
        "dev",
        Release::new("shop", "dev", "harbor.example/shop/app", "1.0.0"),
        "abc123",
    );
    let r = check.run(&target, &CallContext::new()).await.unwrap();
    assert!(
        r.passed && r.detail.contains("Synced and Healthy at abc123"),
        "{r:?}"
    );
    assert_eq!(state.lock().unwrap().syncs.len(), 1);
    // An environment whose application the token cannot see fails.
    let target = CheckTarget {
        environment: "prod".into(),
        ..target
    };
    assert!(check.run(&target, &CallContext::new()).await.is_err());
}

/// Argo CD's API behind the fault proxy: reading an application's status
/// and syncing it end in an error naming Argo CD under every fault of
/// `service_faults`, within the request timeout, never showing the token;
/// without faults they succeed.
#[tokio::test]
async fn argocd_faults_are_errors_naming_it() {
    use paragon_core::conformance::faults::{each_fault_fails, service_faults, FaultProxy};
    let (base, _state) = server(App::default()).await;
    let proxy = FaultProxy::start(Some(base.trim_start_matches("http://")));
    let argo = client(&proxy.url(), TOKEN)
        .with_request_timeout(Duration::from_millis(500))
        .with_retry(RetryPolicy::new(
            2,
            Duration::from_millis(10),
            Duration::from_millis(10),
        ));
    let within = Duration::from_secs(5);
    let ctx = CallContext::new();
    let mut errors = each_fault_fails(&proxy, "argocd", &service_faults(), within, || {
        argo.status("shop-dev", false, &ctx)
    })
    .await;
    errors.extend(
        each_fault_fails(&proxy, "argocd", &service_faults(), within, || {
            argo.sync("shop-dev", Some("abc123"), &ctx)
        })
        .await,
    );
    for (fault, e) in errors {
        assert!(!format!("{e} {e:?}").contains(TOKEN), "{fault:?}: {e:?}");
    }
}

/// A read that meets a passing 503 is asked again and succeeds; a sync is
/// sent once, whatever comes back.
#[tokio::test]
async fn argocd_reads_are_retried_and_syncs_are_not() {
    use paragon_core::conformance::faults::{Fault, FaultProxy, Rule};
    let (base, _state) = server(App::default()).await;
    let proxy = FaultProxy::start(Some(base.trim_start_matches("http://")));
    let argo = client(&proxy.url(), TOKEN).with_retry(RetryPolicy::new(
        3,
        Duration::from_millis(10),
        Duration::from_millis(10),
    ));
    let ctx = CallContext::new();
    proxy.add(Rule::new(Fault::status(503)).method("GET").times(2));
    let s = argo.status("shop-dev", false, &ctx).await.unwrap();
    assert_eq!(s.sync, "OutOfSync");
    assert_eq!(
        proxy.seen_matching("GET", "/applications/shop-dev").len(),
        3
    );
    proxy.add(Rule::new(Fault::status(503)).method("POST").times(1));
    let err = argo.sync("shop-dev", None, &ctx).await.unwrap_err();
    assert!(err.to_string().contains("argocd"), "{err}");
    assert_eq!(proxy.seen_matching("POST", "/sync").len(), 1);
}
