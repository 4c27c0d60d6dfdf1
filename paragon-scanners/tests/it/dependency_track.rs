//! Dependency-Track's REST API, answered by a local server as its API
//! documents it (`POST /api/v1/bom` and `/api/v1/vex`, multipart, answering
//! `{"token": …}`; `GET /api/v1/event/token/{uuid}` answering
//! `{"processing": …}`; 401 for a bad `X-Api-Key`, 404 for an unknown
//! project without `autoCreate`), checked field by field.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use paragon_core::gate::policy::{Policy, PolicyFormat};
use paragon_core::retry::RetryPolicy;
use paragon_core::{CallContext, Report, Secret};
use paragon_scanners::dependency_track::{vex_document, DependencyTrack, Project};
use serde_json::{json, Value};

use crate::support::{fixture, load};

const KEY: &str = "odt_0123456789abcdef";
const TOKEN: &str = "3e9c1a4c-7f1e-4c55-9f7e-2b0b6c1d2e3f";

/// One upload as the server saw it: path, `X-Api-Key`, form fields, the
/// document part's name and its bytes.
type Upload = (String, String, Vec<(String, String)>, String, Vec<u8>);

#[derive(Clone, Default)]
struct Server {
    uploads: Arc<Mutex<Vec<Upload>>>,
    /// How many polls answer `processing: true` before `false`.
    busy_polls: Arc<Mutex<u32>>,
    polls: Arc<Mutex<Vec<String>>>,
}

async fn upload(
    path: &str,
    s: &Server,
    headers: &HeaderMap,
    mut form: Multipart,
) -> (StatusCode, Json<Value>) {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if key != KEY {
        return (StatusCode::UNAUTHORIZED, Json(json!("Unauthorized")));
    }
    let mut fields = Vec::new();
    let (mut part, mut bytes) = (String::new(), Vec::new());
    while let Some(f) = form.next_field().await.unwrap() {
        let name = f.name().unwrap_or_default().to_owned();
        if name == "bom" || name == "vex" {
            part = name;
            bytes = f.bytes().await.unwrap().to_vec();
        } else {
            fields.push((name, f.text().await.unwrap()));
        }
    }
    let auto = fields.iter().any(|(k, v)| k == "autoCreate" && v == "true");
    let is_bom = path.ends_with("/bom");
    s.uploads
        .lock()
        .unwrap()
        .push((path.to_owned(), key, fields.clone(), part, bytes));
    let project = fields
        .iter()
        .find(|(k, _)| k == "projectName")
        .map(|(_, v)| v.as_str());
    if is_bom && !auto && project != Some("known") {
        return (
            StatusCode::NOT_FOUND,
            Json(json!("The project could not be found.")),
        );
    }
    (StatusCode::OK, Json(json!({ "token": TOKEN })))
}

async fn start(server: Server) -> String {
    let app = Router::new()
        .route(
            "/api/v1/bom",
            post(
                |State(s): State<Server>, h: HeaderMap, f: Multipart| async move {
                    upload("/api/v1/bom", &s, &h, f).await
                },
            ),
        )
        .route(
            "/api/v1/vex",
            post(
                |State(s): State<Server>, h: HeaderMap, f: Multipart| async move {
                    upload("/api/v1/vex", &s, &h, f).await
                },
            ),
        )
        .route(
            "/api/v1/event/token/{uuid}",
            get(
                |State(s): State<Server>, Path(uuid): Path<String>| async move {
                    s.polls.lock().unwrap().push(uuid);
                    let mut busy = s.busy_polls.lock().unwrap();
                    let processing = *busy > 0;
                    *busy = busy.saturating_sub(1);
                    Json(json!({ "processing": processing }))
                },
            ),
        )
        .with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client(url: &str, key: &str) -> DependencyTrack {
    DependencyTrack::builder()
        .with_url(url)
        .with_key(Secret::new(key))
        .with_poll_interval(Duration::from_millis(10))
        .with_retry(RetryPolicy::new(
            2,
            Duration::from_millis(5),
            Duration::from_millis(5),
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_sbom_is_uploaded_and_its_processing_awaited() {
    let server = Server::default();
    let url = start(server.clone()).await;
    let dt = client(&url, KEY);
    let sbom = std::fs::read(fixture("cyclonedx/log4j.json")).unwrap();
    *server.busy_polls.lock().unwrap() = 2;
    let ctx = CallContext::new();
    let token = dt
        .upload_bom(sbom.clone().into(), &Project::new("shop", "1.4.0"), &ctx)
        .await
        .unwrap();
    assert_eq!(token, TOKEN);
    dt.wait(&token, Duration::from_secs(5), &ctx).await.unwrap();
    assert_eq!(
        server.polls.lock().unwrap().len(),
        3,
        "two busy answers, then done"
    );
    assert_eq!(server.polls.lock().unwrap()[0], TOKEN);
    let uploads = server.uploads.lock().unwrap().clone();
    let (path, key, fields, part, bytes) = &uploads[0];
    assert_eq!(path, "/api/v1/bom");
    assert_eq!(key, KEY);
    assert_eq!(
        fields,
        &[
            ("projectName".to_owned(), "shop".to_owned()),
            ("projectVersion".to_owned(), "1.4.0".to_owned()),
            ("autoCreate".to_owned(), "true".to_owned()),
        ]
    );
    assert_eq!(part, "bom");
    assert_eq!(bytes, &sbom);

    // Still processing past the limit: an error naming the token.
    *server.busy_polls.lock().unwrap() = 1000;
    let err = dt
        .wait(&token, Duration::from_millis(50), &ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(TOKEN), "{err}");
    assert_eq!(err.kind(), paragon_core::ErrorKind::Timeout);
}

#[tokio::test]
async fn refusals_are_errors_that_name_the_service_and_hide_the_key() {
    let server = Server::default();
    let url = start(server.clone()).await;
    let ctx = CallContext::new();
    let bad = client(&url, "odt_wrong_key_000");
    let err = bad
        .upload_bom(b"{}".to_vec().into(), &Project::new("shop", "1"), &ctx)
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert!(!format!("{err} {err:?} {bad:?}").contains("odt_wrong_key_000"));
    let dt = client(&url, KEY);
    let mut unknown = Project::new("unknown", "1");
    unknown.auto_create = false;
    let err = dt
        .upload_bom(b"{}".to_vec().into(), &unknown, &ctx)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("dependency-track"), "{err}");
    // The 404 upload was sent once, not again (the refused key's upload is
    // not recorded: the server refuses it before reading it).
    assert_eq!(server.uploads.lock().unwrap().len(), 1);
    let clear = DependencyTrack::builder()
        .with_url("http://dtrack.example")
        .with_key(Secret::new(KEY))
        .build()
        .unwrap_err();
    assert!(clear.to_string().contains("allow_http"), "{clear}");
}

#[tokio::test]
async fn the_policys_decisions_go_up_as_cyclonedx_vex() {
    let server = Server::default();
    let url = start(server.clone()).await;
    let mut report = Report::concat([load("trivy/scheme_2_many_vulns.json")]);
    let policy = Policy::parse(
        "[[ignore]]\nid = \"CVE-2020-28196\"\nreason = \"kerberos is not used\"\nexpires = 2099-01-01\n",
        PolicyFormat::Toml,
    )
    .unwrap();
    report.apply_policy(&policy);
    let vex = vex_document(&report).expect("one decision");
    assert_eq!(vex["bomFormat"], "CycloneDX");
    assert_eq!(vex["specVersion"], "1.5");
    let entries = vex["vulnerabilities"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["id"], "CVE-2020-28196");
    assert_eq!(entries[0]["analysis"]["state"], "not_affected");
    assert_eq!(entries[0]["analysis"]["response"][0], "will_not_fix");
    assert!(entries[0]["analysis"]["detail"]
        .as_str()
        .unwrap()
        .contains("kerberos is not used"));
    let dt = client(&url, KEY);
    let bytes = serde_json::to_vec(&vex).unwrap();
    let token = dt
        .upload_vex(
            bytes.clone().into(),
            &Project::new("shop", "1.4.0"),
            &CallContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(token, TOKEN);
    let uploads = server.uploads.lock().unwrap().clone();
    assert_eq!(uploads[0].0, "/api/v1/vex");
    assert_eq!(uploads[0].3, "vex");
    assert_eq!(uploads[0].4, bytes);
    // Nothing suppressed: no document.
    let mut clean = Report::concat([load("trivy/scheme_2_many_vulns.json")]);
    clean.apply_policy(&Policy::default());
    assert!(vex_document(&clean).is_none());
}
