//! The Slack webhook notifier and the Vault KV v2 secret source against
//! local servers answering as their APIs document.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use paragon_core::pipeline::{Outcome, RunRecord};
use paragon_core::plugin::notify::{Notifier, SlackWebhook};
use paragon_core::plugin::secrets::{SecretSource, VaultKv2};
use paragon_core::{CallContext, Error, Secret, Summary};

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn record() -> RunRecord {
    serde_json::from_value(serde_json::json!({
        "application": "shop", "version": "1.4.0", "outcome": "failed", "failed_stage": "gate",
        "error": "the gate failed on 1 finding(s): aws-access-key-id (critical)",
        "stages": [], "scanners": [], "summary": Summary::default(), "verdict": null,
        "image": null, "pushed": null, "deployments": [], "warnings": [], "millis": 1200
    }))
    .unwrap()
}

#[tokio::test]
async fn slack_gets_the_verdict_and_errors_hide_the_webhook() {
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let g = got.clone();
    let router = axum::Router::new()
        .route(
            "/services/T000/B000/good-hook-secret",
            axum::routing::post(move |body: axum::Json<serde_json::Value>| async move {
                g.lock().unwrap().push(body.0);
                (StatusCode::OK, "ok")
            }),
        )
        .route(
            "/services/T000/B000/archived-hook-secret",
            axum::routing::post(|| async { (StatusCode::GONE, "channel_is_archived") }),
        );
    let base = serve(router).await;
    let slack = SlackWebhook::new(Secret::new(format!(
        "{base}/services/T000/B000/good-hook-secret"
    )));
    assert_eq!(record().outcome, Outcome::Failed);
    slack.notify(&record(), &CallContext::new()).await.unwrap();
    let body = got.lock().unwrap()[0].clone();
    assert_eq!(body["text"], "shop 1.4.0: FAILED, no gate");
    let details = body["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(details.contains("aws-access-key-id"), "{details}");
    assert!(!format!("{slack:?}").contains("good-hook-secret"));

    let archived = SlackWebhook::new(Secret::new(format!(
        "{base}/services/T000/B000/archived-hook-secret"
    )));
    let err = archived
        .notify(&record(), &CallContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 410, .. }), "{err:?}");
    assert!(err.to_string().contains("channel_is_archived"));
    assert!(
        !format!("{err:?}").contains("archived-hook-secret"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slack_webhook_goes_over_plain_http_only_to_this_machine_unless_allowed() {
    // 0.0.0.0 is not loopback, yet a connection to it reaches this machine
    // (where nothing listens on port 9): refused at once, offline.
    let hook = "http://0.0.0.0:9/services/T000/B000/clear-hook-secret";
    let err = SlackWebhook::new(Secret::new(hook))
        .notify(&record(), &CallContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(
        err.to_string().contains("SlackWebhook::allow_http(true)"),
        "{err}"
    );
    assert!(
        !format!("{err} {err:?}").contains("clear-hook-secret"),
        "{err:?}"
    );
    let err = SlackWebhook::new(Secret::new(hook))
        .allow_http(true)
        .notify(&record(), &CallContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 0, .. }), "{err:?}");
    assert!(
        !format!("{err} {err:?}").contains("clear-hook-secret"),
        "{err:?}"
    );
    let err = SlackWebhook::new(Secret::new("not a url clear-hook-secret"))
        .notify(&record(), &CallContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(
        !format!("{err} {err:?}").contains("clear-hook-secret"),
        "{err:?}"
    );
}

const TOKEN: &str = "hvs.test-token-123";

async fn vault(Path(path): Path<String>, headers: HeaderMap, State(_): State<()>) -> Response {
    if headers.get("x-vault-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "errors": ["permission denied"] })),
        )
            .into_response();
    }
    match path.as_str() {
        "ci/registry" => axum::Json(serde_json::json!({
            "request_id": "5f1a", "lease_id": "", "renewable": false, "lease_duration": 0,
            "data": { "data": { "username": "robot$shop+ci", "password": "s3cr3t-from-vault" },
                      "metadata": { "created_time": "2026-11-27T08:00:00Z", "deletion_time": "", "destroyed": false, "version": 3 } },
            "wrap_info": null, "warnings": null, "auth": null
        }))
        .into_response(),
        _ => (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({ "errors": [] }))).into_response(),
    }
}

#[tokio::test]
async fn vault_kv2_reads_secrets_by_path_and_key() {
    let router = axum::Router::new()
        .route("/v1/secret/data/{*path}", axum::routing::get(vault))
        .with_state(());
    let base = serve(router).await;
    let v = VaultKv2::new(&base, Secret::new(TOKEN)).unwrap();
    assert_eq!(
        v.secret("ci/registry#password", &CallContext::new())
            .await
            .unwrap()
            .expose(),
        "s3cr3t-from-vault"
    );
    assert_eq!(
        v.secret("ci/registry#username", &CallContext::new())
            .await
            .unwrap()
            .expose(),
        "robot$shop+ci"
    );
    let missing_key = v
        .secret("ci/registry#token", &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        missing_key.to_string().contains("no key `token`"),
        "{missing_key}"
    );
    let missing = v
        .secret("ci/nothing#x", &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("no secret at `secret/ci/nothing`"),
        "{missing}"
    );
    assert!(v.secret("no-key-part", &CallContext::new()).await.is_err());
    let cancelled = CallContext::new();
    cancelled.cancel.cancel();
    let e = v
        .secret("ci/registry#password", &cancelled)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
    let denied = VaultKv2::new(&base, Secret::new("wrong-token-456"))
        .unwrap()
        .secret("ci/registry#password", &CallContext::new())
        .await
        .unwrap_err();
    assert!(denied.is_unauthorized(), "{denied:?}");
    assert!(!format!("{denied:?}").contains("wrong-token-456"));
    assert!(!format!("{v:?}").contains(TOKEN));
}

/// Plain http beyond this machine is refused before anything is sent,
/// naming the call that allows it; allowed, the read is attempted.
#[tokio::test]
async fn vault_tokens_go_in_clear_only_to_this_machine_unless_allowed() {
    let ctx = CallContext::new();
    // A documentation address (TEST-NET-1): nothing answers there.
    let far = VaultKv2::new("http://192.0.2.1:8200", Secret::new(TOKEN))
        .unwrap()
        .with_timeout(std::time::Duration::from_millis(300));
    let err = far.secret("ci/registry#password", &ctx).await.unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(
        err.to_string().contains("VaultKv2::allow_http(true)"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    let allowed = far.allow_http(true);
    let err = allowed
        .secret("ci/registry#password", &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Secret { .. }), "{err:?}");
    assert!(VaultKv2::new("https://vault.example:8200", Secret::new(TOKEN)).is_ok());
    assert!(VaultKv2::new("ftp://vault.example", Secret::new(TOKEN)).is_err());
}

/// Slack and Vault behind the fault proxy: every fault of
/// `service_faults` is an error naming the service, within the timeout,
/// and never shows the webhook or the token.
#[tokio::test]
async fn slack_and_vault_faults_are_errors_naming_them() {
    use paragon_core::conformance::faults::{each_fault_fails, service_faults, FaultProxy};
    use std::time::Duration;
    let router = axum::Router::new()
        .route(
            "/services/T000/B000/fault-hook-secret",
            axum::routing::post(|| async { (StatusCode::OK, "ok") }),
        )
        .route("/v1/secret/data/{*path}", axum::routing::get(vault))
        .with_state(());
    let base = serve(router).await;
    let proxy = FaultProxy::start(Some(base.trim_start_matches("http://")));
    let slack = SlackWebhook::new(Secret::new(format!(
        "{}/services/T000/B000/fault-hook-secret",
        proxy.url()
    )))
    .with_timeout(Duration::from_millis(500));
    let errors = each_fault_fails(
        &proxy,
        "slack",
        &service_faults(),
        Duration::from_secs(5),
        || async { slack.notify(&record(), &CallContext::new()).await },
    )
    .await;
    for (fault, e) in &errors {
        assert!(
            !format!("{e} {e:?}").contains("fault-hook-secret"),
            "{fault:?}: {e:?}"
        );
    }
    let vault = VaultKv2::new(&proxy.url(), Secret::new(TOKEN))
        .unwrap()
        .with_timeout(Duration::from_millis(500));
    let ctx = CallContext::new();
    let errors = each_fault_fails(
        &proxy,
        "vault",
        &service_faults(),
        Duration::from_secs(5),
        || vault.secret("ci/registry#password", &ctx),
    )
    .await;
    for (fault, e) in &errors {
        assert!(matches!(e, Error::Secret { .. }), "{fault:?}: {e:?}");
        assert!(!format!("{e} {e:?}").contains(TOKEN), "{fault:?}: {e:?}");
    }
}
