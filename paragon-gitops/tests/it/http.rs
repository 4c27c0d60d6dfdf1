//! Credentials end to end: an HTTPS token against `git http-backend` (git's own smart
//! HTTP server, as CGI) behind a local server that demands basic auth; an
//! SSH key through git's SSH transport with a stand-in `ssh`.

use std::process::Stdio;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use paragon_core::plugin::deploy::{GitOpsTarget, Release};
use paragon_core::{CallContext, Error, Secret};
use paragon_gitops::{GitCredentials, GitOps, HelmValues};
use tokio::io::AsyncWriteExt;

use crate::support::{git, Remote};

const USER: &str = "ci-bot";
const TOKEN: &str = "glpat-s3cr3t-token-value";

async fn backend(
    root: std::path::PathBuf,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{TOKEN}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Basic realm=\"git\"")
            .body(Body::empty())
            .unwrap();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", USER)
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&body).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        })
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout[..split.0]).into_owned();
    let mut res = Response::builder();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.eq_ignore_ascii_case("status") {
            res = res.status(v.trim()[..3].parse::<u16>().unwrap());
        } else {
            res = res.header(k.trim(), v.trim());
        }
    }
    res.body(Body::from(out.stdout[split.0 + split.1..].to_vec()))
        .unwrap()
}

async fn serve(remote: &Remote) -> String {
    let root = remote.dir.path().to_owned();
    git(
        &root.join("remote.git"),
        &["config", "http.receivepack", "true"],
    );
    let app = axum::Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
        backend(root.clone(), m, u, h, b)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/remote.git", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn release() -> Release {
    Release::new("shop", "dev", "harbor.example/shop/app", "2.2.2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_authenticates_over_https_and_stays_out_of_the_clone() {
    let remote = Remote::new();
    let url = serve(&remote).await;
    let work = tempfile::tempdir().unwrap();
    let target = GitOps::new(&url, HelmValues::new("charts/shop"))
        .with_workdir(work.path().join("w"))
        .with_credentials(GitCredentials::token(USER, Secret::new(TOKEN)));
    let d = target
        .deploy(&release(), &CallContext::new())
        .await
        .unwrap();
    assert!(d.change().is_some());
    assert!(remote
        .file("charts/shop/values-dev.yaml")
        .contains("tag: 2.2.2\n"));
    let config = std::fs::read_to_string(work.path().join("w/.git/config")).unwrap();
    assert!(
        !config.contains(TOKEN) && !config.contains("Authorization"),
        "{config}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_a_git_error_without_the_token() {
    let remote = Remote::new();
    let url = serve(&remote).await;
    let wrong = "wrong-token-123456";
    let target = GitOps::new(&url, HelmValues::new("charts/shop"))
        .with_credentials(GitCredentials::token(USER, Secret::new(wrong)));
    let err = target
        .deploy(&release(), &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(paragon_gitops::Error::Git { .. })),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains(wrong), "{err:?}");
    assert_eq!(remote.commits("main"), 1);
    // The same URL with the token inside it works, and the token is moved
    // out of the URL before git sees it.
    let with_creds = url.replace("http://", &format!("http://{USER}:{TOKEN}@"));
    let t = GitOps::new(&with_creds, HelmValues::new("charts/shop"));
    assert!(!t.location().contains(TOKEN));
    t.deploy(&release(), &CallContext::new()).await.unwrap();
    assert_eq!(remote.commits("main"), 2);
}

#[tokio::test]
async fn a_token_goes_to_plain_http_only_on_this_machine_unless_allowed() {
    // A git that does not exist: the refusal must come before git runs,
    // and without it the run fails on the missing git, not the network.
    let no_git = std::path::Path::new("/nonexistent/paragon-test/git");
    let target = |remote: &str| {
        GitOps::new(remote, HelmValues::new("charts/shop"))
            .with_git(no_git)
            .with_credentials(GitCredentials::token(USER, Secret::new(TOKEN)))
    };
    let err = target("http://git.example/shop/deploy.git")
        .deploy(&release(), &CallContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    assert!(
        err.to_string().contains("GitOps::allow_http(true)"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(TOKEN), "{err:?}");
    for passes in [
        target("http://git.example/shop/deploy.git").allow_http(true),
        target("http://127.0.0.1:9/shop/deploy.git"),
        target("https://git.example/shop/deploy.git"),
        GitOps::new(
            "http://git.example/shop/deploy.git",
            HelmValues::new("charts/shop"),
        )
        .with_git(no_git),
    ] {
        let err = passes
            .deploy(&release(), &CallContext::new())
            .await
            .unwrap_err();
        assert!(!matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    }
}

/// An `ssh` stand-in that records its arguments and runs the git command
/// it was asked to run on the "server" (this machine): git's real SSH
/// transport, without an SSH daemon.
fn fake_ssh(dir: &std::path::Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("ssh-args");
    std::fs::write(
        bin.join("ssh"),
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nfor last; do :; done\nexec sh -c \"$last\"\n",
            log.display()
        ),
    )
    .unwrap();
    let wrapper = dir.join("git-with-fake-ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nPATH='{}':$PATH exec git \"$@\"\n",
            bin.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in [bin.join("ssh"), wrapper.clone()] {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    wrapper
}

#[tokio::test]
async fn an_ssh_key_is_passed_to_ssh_and_nowhere_else() {
    let remote = Remote::new();
    let scratch = tempfile::tempdir().unwrap();
    let key = scratch.path().join("deploy key");
    std::fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n",
    )
    .unwrap();
    let work = scratch.path().join("w");
    let url = format!(
        "ssh://git@deploy.example{}",
        remote.dir.path().join("remote.git").display()
    );
    let target = GitOps::new(&url, HelmValues::new("charts/shop"))
        .with_git(fake_ssh(scratch.path()))
        .with_workdir(&work)
        .with_credentials(GitCredentials::ssh_key(&key));
    target
        .deploy(&release(), &CallContext::new())
        .await
        .unwrap();
    assert!(remote
        .file("charts/shop/values-dev.yaml")
        .contains("tag: 2.2.2\n"));
    let args = std::fs::read_to_string(scratch.path().join("ssh-args")).unwrap();
    assert!(args.contains(&format!("-i {}", key.display())), "{args}");
    assert!(args.contains("IdentitiesOnly=yes"), "{args}");
    let config = std::fs::read_to_string(work.join(".git/config")).unwrap();
    assert!(
        !config.contains("deploy key") && !config.contains("sshCommand"),
        "{config}"
    );
}
