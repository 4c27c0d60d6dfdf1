//! Locating fixtures and tools.
//!
//! Fixtures live in the repository (`tests/fixtures`, see its README for
//! their sources and licences): a missing one is a failure. Tests that need
//! a tool are `#[ignore = "needs …"]`; run with `--include-ignored`, they
//! fail when the tool is missing.

use std::path::PathBuf;

use paragon_core::ScanReport;

/// The repository's fixtures directory.
pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The path of a fixture; a missing one fails the test.
pub(crate) fn fixture(rel: &str) -> PathBuf {
    let path = fixtures_dir().join(rel);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    path
}

/// Parses a fixture with format detection, failing the test on error.
pub(crate) fn load(rel: &str) -> ScanReport {
    paragon_scanners::parse_file(fixture(rel))
        .unwrap_or_else(|e| panic!("fixture {rel} failed to parse: {e:?}"))
}

/// A tool named by the environment variable `env`, or else on `PATH`; a
/// missing one fails the test (tests that call this are ignored by default
/// and name the tool they need).
pub(crate) fn tool(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env}={} names no file", p.display());
        return p;
    }
    which::which(name)
        .ok()
        .unwrap_or_else(|| panic!("this test needs {name}: put it on PATH or set {env}"))
}
