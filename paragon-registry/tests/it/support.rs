//! Starting a real registry; locating tools.
//!
//! Tests that need a tool (the registry, htpasswd, skopeo, buildah) are
//! `#[ignore = "needs …"]`; run with `--include-ignored`, they fail when the
//! tool is missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tool on `PATH`, if there is one.
pub(crate) fn find_tool(name: &str) -> Option<PathBuf> {
    which::which(name).ok()
}

/// A tool on `PATH`; a missing one fails the test, naming the package that
/// has it.
pub(crate) fn tool(name: &str, package: &str) -> PathBuf {
    find_tool(name)
        .unwrap_or_else(|| panic!("this test needs {name} on PATH (apt-get install {package})"))
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) const USER: &str = "paragon";
pub(crate) const PASSWORD: &str = "correct-horse-battery";
pub(crate) const TOKEN_SERVICE: &str = "paragon-registry";
pub(crate) const TOKEN_ISSUER: &str = "paragon-token-service";

/// A `docker-registry serve` process with htpasswd auth on a free loopback
/// port, storing under a temporary directory; stopped when dropped.
pub(crate) struct TestRegistry {
    child: Option<Child>,
    pub(crate) addr: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// A registry with htpasswd (basic) auth.
    pub(crate) fn start() -> TestRegistry {
        TestRegistry::start_with(|dir| {
            format!(
                "auth:\n  htpasswd:\n    realm: paragon\n    path: {}\n",
                dir.join("htpasswd").display()
            )
        })
    }

    /// A registry with token auth: it sends clients to `realm` for a token
    /// and accepts tokens signed by the key of the PEM certificate `cert`
    /// (see [`TokenService`]).
    pub(crate) fn start_with_token(realm: &str, cert: &Path) -> TestRegistry {
        let (realm, cert) = (realm.to_owned(), cert.to_owned());
        TestRegistry::start_with(move |_| {
            format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                cert.display()
            )
        })
    }

    /// A registry on a free port with the `auth:` section `auth` returns
    /// for its directory (which holds an `htpasswd` file for the test user).
    fn start_with(auth: impl FnOnce(&Path) -> String) -> TestRegistry {
        let bin = tool("docker-registry", "docker-registry");
        let htpasswd = tool("htpasswd", "apache2-utils");
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(htpasswd)
            .args(["-Bbn", USER, PASSWORD])
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{}",
                dir.path().join("data").display(),
                auth(dir.path())
            ),
        )
        .unwrap();
        let mut r = TestRegistry {
            child: None,
            addr,
            config,
            _dir: dir,
        };
        r.spawn(&bin);
        r
    }

    fn spawn(&mut self, bin: &Path) {
        let child = Command::new(bin)
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the registry (its storage stays).
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.spawn(&tool("docker-registry", "docker-registry"));
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The distribution adapter for `addr` with the test user's credentials
/// and three attempts, 50 ms apart at first.
pub(crate) fn client(addr: &str) -> paragon_registry::DistributionRegistry {
    use paragon_registry::{Credentials, DistributionRegistry, RetryPolicy};
    DistributionRegistry::new(addr)
        .unwrap()
        .with_credentials(Credentials::basic(
            USER,
            paragon_core::Secret::new(PASSWORD),
        ))
        .with_retry(RetryPolicy {
            attempts: 3,
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
            ..RetryPolicy::default()
        })
}

/// `skopeo inspect` of `addr/repo:tag`: the manifest digest, or `None`
/// when skopeo says the tag is not there.
pub(crate) fn skopeo_digest(addr: &str, reference: &str) -> Option<String> {
    // --raw prints the manifest exactly as stored: its digest is the sha256.
    skopeo_raw(addr, reference).map(|m| paragon_core::model::oci::Digest::of(&m).to_string())
}

/// `skopeo inspect --raw` of `addr/reference`: the manifest as the
/// registry stores it, or `None` when skopeo says it is not there.
pub(crate) fn skopeo_raw(addr: &str, reference: &str) -> Option<Vec<u8>> {
    let skopeo = tool("skopeo", "skopeo");
    let out = Command::new(skopeo)
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("--creds={USER}:{PASSWORD}"))
        .arg(format!("docker://{addr}/{reference}"))
        .output()
        .unwrap();
    out.status.success().then_some(out.stdout)
}

/// Whether `skopeo copy` of `addr/reference` into a directory succeeds:
/// the manifest and every blob it names are there and match their digests.
pub(crate) fn skopeo_copies_whole(addr: &str, reference: &str) -> bool {
    let skopeo = tool("skopeo", "skopeo");
    let dest = tempfile::tempdir().unwrap();
    let out = Command::new(skopeo)
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("--src-creds={USER}:{PASSWORD}"))
        .arg(format!("docker://{addr}/{reference}"))
        .arg(format!("dir:{}", dest.path().join("copy").display()))
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "skopeo copy {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// `skopeo list-tags`: the tags of `addr/repo`.
pub(crate) fn skopeo_tags(addr: &str, repo: &str) -> Vec<String> {
    let skopeo = tool("skopeo", "skopeo");
    let out = Command::new(skopeo)
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("--creds={USER}:{PASSWORD}"))
        .arg(format!("docker://{addr}/{repo}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo list-tags failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tags: Vec<String> = v["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    tags
}

/// Writes a small app into `dir`.
pub(crate) fn demo_app(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(
        dir.join("bin/server"),
        format!("#!/bin/sh\necho {version}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("config.toml"), "port = 8080\n").unwrap();
    std::os::unix::fs::symlink("bin/server", dir.join("start")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("bin/server"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

/// Every log line written while `fut` runs, at every level, from every
/// crate (reqwest and hyper included).
pub(crate) async fn logs_of<T>(fut: impl std::future::Future<Output = T>) -> (T, String) {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing::instrument::WithSubscriber as _;
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // tracing-core keeps one interest per callsite for every dispatcher
    // registered. While a single one is registered it asks only the
    // calling thread's default instead: a callsite first hit by a
    // concurrent test, or a rebuild made on a thread outside this capture,
    // would then be "never" for it. A second dispatcher that lives as long
    // as the process keeps it asking every registered one.
    static KEEP_ASKING_ALL: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    KEEP_ASKING_ALL
        .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::new()));
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let dispatch = tracing::Dispatch::new(subscriber);
    let out = fut.with_subscriber(dispatch).await;
    let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    (out, text)
}

/// A repository name the tests know to be valid.
pub(crate) fn repo(name: &str) -> paragon_core::Repository {
    paragon_core::Repository::new(name).expect("a valid repository name")
}

/// A tag the tests know to be valid.
pub(crate) fn tag(name: &str) -> paragon_core::Tag {
    paragon_core::Tag::new(name).expect("a valid tag")
}

/// Tags the tests know to be valid.
pub(crate) fn tags(names: &[&str]) -> Vec<paragon_core::Tag> {
    names.iter().map(|t| tag(t)).collect()
}

/// Tag names, as a registry lists them.
pub(crate) fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|t| (*t).to_owned()).collect()
}
