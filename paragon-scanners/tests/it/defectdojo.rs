//! DefectDojo's import API, answered by a local server as DefectDojo's API
//! documents it (`dojo/api_v2/serializers.py`: the request's fields, a 201
//! with `test_id`, `engagement_id`, `product_id` and `statistics`, 400s
//! with field errors), checked field by field.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use paragon_core::retry::RetryPolicy;
use paragon_core::{CallContext, Secret, Severity};
use paragon_scanners::defectdojo::{DefectDojo, Destination, ReportFile};
use serde_json::{json, Value};

use crate::support::fixture;

/// One request as the server saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    path: String,
    authorization: String,
    fields: Vec<(String, String)>,
    file_name: Option<String>,
    file: Vec<u8>,
}

#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Statuses to answer first, in order, before the 201s.
    script: Arc<Mutex<Vec<u16>>>,
}

async fn read(path: &str, headers: &HeaderMap, mut form: Multipart) -> Seen {
    let mut seen = Seen {
        path: path.to_owned(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        ..Seen::default()
    };
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            seen.file_name = field.file_name().map(str::to_owned);
            seen.file = field.bytes().await.unwrap().to_vec();
        } else {
            seen.fields.push((name, field.text().await.unwrap()));
        }
    }
    seen
}

async fn answer(server: &Server, seen: Seen) -> (StatusCode, Json<Value>) {
    let reimport = seen.path.contains("reimport");
    let field = |k: &str| {
        seen.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    server.seen.lock().unwrap().push(seen.clone());
    if let Some(status) = {
        let mut s = server.script.lock().unwrap();
        (!s.is_empty()).then(|| s.remove(0))
    } {
        let body = match status {
            400 => json!({"scan_type": ["\"Bogus\" is not a valid choice."]}),
            401 => json!({"detail": "Invalid token."}),
            _ => json!({"message": "busy"}),
        };
        return (StatusCode::from_u16(status).unwrap(), Json(body));
    }
    if seen.file.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"non_field_errors": ["Uploading a Report File is required for Trivy Scan"]}),
            ),
        );
    }
    let counts = |n: u64| json!({"info": {"total": 0}, "total": {"active": n, "total": n}});
    let mut body = json!({
        "scan_type": field("scan_type"),
        "product_name": field("product_name"),
        "engagement_name": field("engagement_name"),
        "test": 17,
        "test_id": 17,
        "engagement_id": 4,
        "product_id": 2,
        "product_type_id": 1,
        "statistics": {"after": counts(5)},
    });
    if reimport {
        body["statistics"]["before"] = counts(4);
        body["statistics"]["delta"] = json!({
            "created": counts(2), "closed": counts(1), "reactivated": counts(0), "untouched": counts(3)
        });
    }
    (StatusCode::CREATED, Json(body))
}

async fn start(server: Server) -> String {
    let app = Router::new()
        .route(
            "/api/v2/reimport-scan/",
            post(
                |State(s): State<Server>, headers: HeaderMap, form: Multipart| async move {
                    let seen = read("/api/v2/reimport-scan/", &headers, form).await;
                    answer(&s, seen).await
                },
            ),
        )
        .route(
            "/api/v2/import-scan/",
            post(
                |State(s): State<Server>, headers: HeaderMap, form: Multipart| async move {
                    let seen = read("/api/v2/import-scan/", &headers, form).await;
                    answer(&s, seen).await
                },
            ),
        )
        .with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

const KEY: &str = "dd-api-key-0123456789";

fn client(url: &str) -> DefectDojo {
    DefectDojo::builder()
        .with_url(url)
        .with_token(Secret::new(KEY))
        .with_retry(RetryPolicy::new(
            3,
            Duration::from_millis(5),
            Duration::from_millis(10),
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn reports_are_reimported_with_their_scan_type_and_fields() {
    let server = Server::default();
    let url = start(server.clone()).await;
    let dd = client(&url);
    let trivy = ReportFile::from_path(&fixture("trivy/scheme_2_many_vulns.json")).unwrap();
    assert_eq!(trivy.scan_type, "Trivy Scan");
    let mut to = Destination::new("shop", "ci").with_minimum_severity(Severity::Medium);
    to.commit_hash = Some("0123abc".into());
    let got = dd.reimport(&trivy, &to, &CallContext::new()).await.unwrap();
    assert_eq!(got.test_id, 17);
    assert_eq!(got.engagement_id, Some(4));
    assert_eq!(got.product_id, Some(2));
    assert_eq!(
        (
            got.created,
            got.closed,
            got.reactivated,
            got.untouched,
            got.total
        ),
        (Some(2), Some(1), Some(0), Some(3), Some(5))
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.path, "/api/v2/reimport-scan/");
    assert_eq!(s.authorization, format!("Token {KEY}"));
    assert_eq!(s.file_name.as_deref(), Some("scheme_2_many_vulns.json"));
    assert_eq!(
        s.file,
        std::fs::read(fixture("trivy/scheme_2_many_vulns.json")).unwrap()
    );
    let fields: Vec<(&str, &str)> = s
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("scan_type", "Trivy Scan"),
            ("product_name", "shop"),
            ("engagement_name", "ci"),
            ("auto_create_context", "true"),
            ("close_old_findings", "true"),
            ("minimum_severity", "Medium"),
            ("commit_hash", "0123abc"),
        ]
    );

    // An import (a new test each time) goes to import-scan, without
    // re-import statistics.
    let got = dd.import(&trivy, &to, &CallContext::new()).await.unwrap();
    assert_eq!((got.test_id, got.created, got.total), (17, None, Some(5)));
    assert_eq!(server.seen.lock().unwrap()[1].path, "/api/v2/import-scan/");
}

#[test]
fn each_format_gets_defectdojos_scan_type() {
    let cases = [
        ("anchore_grype/check_all_fields.json", "Anchore Grype"),
        ("dependency_check/PR6439.xml", "Dependency Check Scan"),
        ("trivy/misconfigurations_and_secrets.json", "Trivy Scan"),
        ("cyclonedx/log4j.json", "CycloneDX Scan"),
    ];
    for (rel, scan_type) in cases {
        let file = ReportFile::from_path(&fixture(rel)).unwrap();
        assert_eq!(file.scan_type, scan_type, "{rel}");
        assert_eq!(
            file.bytes,
            std::fs::read(fixture(rel)).unwrap(),
            "sent as it is"
        );
    }
    // SPDX has no DefectDojo parser: it goes as Paragon's SARIF.
    let file = ReportFile::from_path(&fixture("spdx/spdx_many_vuln.json")).unwrap();
    assert_eq!(file.scan_type, "SARIF");
    assert_eq!(file.name, "spdx_many_vuln.json.sarif");
    let sarif: Value = serde_json::from_slice(&file.bytes).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 3);
    let err = ReportFile::from_bytes("notes.txt", "just text".into()).unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[tokio::test]
async fn refusals_are_errors_naming_defectdojo_and_busy_answers_are_retried() {
    let server = Server::default();
    let url = start(server.clone()).await;
    let dd = client(&url);
    let trivy = ReportFile::from_path(&fixture("trivy/scheme_2_many_vulns.json")).unwrap();
    let to = Destination::new("shop", "ci");

    // 503 and 429 are retried, and the import lands once.
    *server.script.lock().unwrap() = vec![503, 429];
    let got = dd.reimport(&trivy, &to, &CallContext::new()).await.unwrap();
    assert_eq!(got.test_id, 17);
    assert_eq!(server.seen.lock().unwrap().len(), 3);

    // A 400 is final, names DefectDojo and says what it said.
    server.seen.lock().unwrap().clear();
    *server.script.lock().unwrap() = vec![400];
    let err = dd
        .reimport(&trivy, &to, &CallContext::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("defectdojo") && text.contains("400") && text.contains("not a valid choice"),
        "{text}"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 1);

    // A 500 is not sent again: DefectDojo may have made the test.
    server.seen.lock().unwrap().clear();
    *server.script.lock().unwrap() = vec![500];
    let err = dd
        .import(&trivy, &to, &CallContext::new())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(server.seen.lock().unwrap().len(), 1);

    // A refused key: unauthorized, and the key is in no message.
    *server.script.lock().unwrap() = vec![401];
    let err = dd
        .reimport(&trivy, &to, &CallContext::new())
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert!(!format!("{err} {err:?} {dd:?}").contains(KEY));

    // Too large for DefectDojo: refused before sending.
    let small = DefectDojo::builder()
        .with_url(&url)
        .with_token(Secret::new(KEY))
        .with_max_file_mib(1)
        .build()
        .unwrap();
    let big = ReportFile {
        name: "huge.sarif".into(),
        scan_type: "SARIF".into(),
        bytes: vec![b' '; 2 << 20].into(),
    };
    server.seen.lock().unwrap().clear();
    let err = small
        .reimport(&big, &to, &CallContext::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("huge.sarif"), "{err}");
    assert!(server.seen.lock().unwrap().is_empty());

    // Nothing listening: retried, then an error naming the host.
    let gone = client("http://127.0.0.1:9");
    let err = gone
        .reimport(&trivy, &to, &CallContext::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}

#[test]
fn configuration_errors_are_clear() {
    let no_key = DefectDojo::builder()
        .with_url("https://dd.example")
        .build()
        .unwrap_err();
    assert!(no_key.to_string().contains("API key"), "{no_key}");
    let clear = DefectDojo::builder()
        .with_url("http://dd.example")
        .with_token(Secret::new(KEY))
        .build()
        .unwrap_err();
    assert!(clear.to_string().contains("allow_http"), "{clear}");
    let inline = DefectDojo::builder()
        .with_url("https://admin:pw@dd.example")
        .with_token(Secret::new(KEY))
        .build()
        .unwrap_err();
    assert!(!inline.to_string().contains("pw"), "{inline}");
}

/// The sink sends each run's merged report after the gate, as SARIF.
#[tokio::test]
async fn the_sink_sends_each_runs_report() {
    use paragon_core::pipeline::Pipeline;
    use paragon_core::{CannedScanner, Finding, FindingKind, ScanReport, ScannerInfo, Source};
    use paragon_scanners::defectdojo::DefectDojoSink;
    let server = Server::default();
    let url = start(server.clone()).await;
    let mut scan = ScanReport::new(ScannerInfo::new("trivy", None::<String>));
    let mut f = Finding::new(FindingKind::Secret, "aws-access-key-id", Severity::Critical);
    f.sources
        .push(Source::new("trivy", Severity::Critical, None));
    scan.findings.push(f);
    let dir = tempfile::tempdir().unwrap();
    let record = Pipeline::builder("shop", dir.path())
        .pre_build(CannedScanner::new(scan))
        .notifier(DefectDojoSink::new(
            client(&url),
            Destination::new("shop", "pipeline"),
        ))
        .build()
        .unwrap()
        .run(&CallContext::new())
        .await;
    // The gate failed on the secret; the report still went to DefectDojo.
    assert!(!record.succeeded());
    assert!(record.warnings.is_empty(), "{:?}", record.warnings);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].file_name.as_deref(), Some("paragon-shop.sarif"));
    let field = |k: &str| {
        seen[0]
            .fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("scan_type"), Some("SARIF"));
    assert_eq!(field("test_title"), Some("paragon shop"));
    let sarif: Value = serde_json::from_slice(&seen[0].file).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"][0]["ruleId"],
        "aws-access-key-id"
    );
}
