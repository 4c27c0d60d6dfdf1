//! What the example tests share: finding the built examples and tools, and
//! a real registry on a free loopback port.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The built example `name` (next to the test binary).
///
/// `cargo test -p examples` builds the examples before it runs the tests,
/// but `cargo test -p examples --test NAME` does not: an example that is
/// missing, or older than a source file it was built from (as its
/// dep-info file lists them), stops the test with what to run instead of
/// testing an old binary.
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    let rebuild = "run `cargo test -p examples` (without `--test`), or \
                   `cargo build -p examples --examples`, first";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| {
            panic!(
                "example `{name}` not found at {}: {e}; {rebuild}",
                path.display()
            )
        });
    if let Some(source) = newer_source(&path.with_extension("d"), built) {
        panic!(
            "{} is older than {}; {rebuild}",
            path.display(),
            source.display()
        );
    }
    path
}

/// A source file listed in the dep-info file `dep_info` (Makefile syntax:
/// `target: source source…`, spaces in paths escaped) modified after
/// `than`.
fn newer_source(dep_info: &Path, than: std::time::SystemTime) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dep_info).ok()?;
    let (_, sources) = text.lines().next()?.split_once(": ")?;
    let mut paths = vec![String::new()];
    let mut chars = sources.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => paths.last_mut()?.extend(chars.next()),
            ' ' => paths.push(String::new()),
            c => paths.last_mut()?.push(c),
        }
    }
    paths
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .find(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|m| m > than)
        })
}

/// Runs `git` in `dir` as a test user and returns its standard output; a
/// failure (or a missing `git`) fails the test.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("these tests need git on PATH");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A program on `PATH`.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    which::which(name).ok()
}

/// Fails the test, naming every one of `tools` that is missing. Scanners
/// (`trivy`, `syft`) are looked up as the examples look them up
/// (`PARAGON_<TOOL>`, then `PATH`); the rest on `PATH`. Tests that call this
/// are ignored by default and name what they need.
pub(crate) fn require(tools: &[&str]) {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| match *t {
            "trivy" | "syft" => !matches!(examples::installed(t), Ok(Some(_))),
            other => tool(other).is_none(),
        })
        .collect();
    assert!(
        missing.is_empty(),
        "this test needs {missing:?} (scanners on PATH or in PARAGON_<TOOL>)"
    );
}

/// `PATH` without the directories that hold any of `names`, so that the
/// example does not find them.
pub(crate) fn path_without(names: &[&str]) -> std::ffi::OsString {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(
        std::env::split_paths(&paths).filter(|d| !names.iter().any(|n| d.join(n).is_file())),
    )
    .unwrap()
}

/// `docker-registry serve` with htpasswd auth for `user`, stopped when
/// dropped.
pub(crate) struct TestRegistry {
    child: Child,
    pub(crate) addr: String,
    user: String,
    password: String,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts one (the caller has required `docker-registry` and `htpasswd`).
    pub(crate) fn start(user: &str, password: &str) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(tool("htpasswd").expect("htpasswd"))
            .args(["-Bbn", user, password])
            .output()
            .unwrap();
        std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        std::fs::write(
            dir.path().join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: r\n    path: {}\n",
                dir.path().join("data").display(),
                dir.path().join("htpasswd").display()
            ),
        )
        .unwrap();
        let child = Command::new(tool("docker-registry").expect("docker-registry"))
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        TestRegistry {
            child,
            addr,
            user: user.into(),
            password: password.into(),
            _dir: dir,
        }
    }

    /// What `skopeo inspect` says `repo:tag` points at.
    pub(crate) fn digest(&self, skopeo: &Path, reference: &str) -> Option<String> {
        let o = Command::new(skopeo)
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("--creds={}:{}", self.user, self.password))
            .arg(format!("docker://{}/{reference}", self.addr))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        v["Digest"].as_str().map(str::to_owned)
    }

    /// `skopeo inspect --raw`: the manifest `reference` names, as JSON.
    pub(crate) fn raw(&self, skopeo: &Path, reference: &str) -> Option<serde_json::Value> {
        let o = Command::new(skopeo)
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("--creds={}:{}", self.user, self.password))
            .arg(format!("docker://{}/{reference}", self.addr))
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).ok()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
