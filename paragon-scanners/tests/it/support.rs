//! Locating fixtures and tools; the skip rule.

use std::path::PathBuf;

use paragon_core::ScanReport;

/// True when `PARAGON_REQUIRE_TOOLS=1`: a missing tool or fixture fails the test.
pub(crate) fn required() -> bool {
    std::env::var("PARAGON_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Skips (returns `None` after a message) or, when required, fails.
pub(crate) fn skip<T>(what: &str) -> Option<T> {
    if required() {
        panic!("{what} (PARAGON_REQUIRE_TOOLS=1, so this is a failure)");
    }
    eprintln!("skipped: {what}");
    None
}

/// The shared fixtures directory: `PARAGON_FIXTURES`, or `../shared/fixtures`
/// beside the workspace.
pub(crate) fn fixtures_dir() -> PathBuf {
    match std::env::var_os("PARAGON_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    }
}

/// The path of a fixture, or `None` (skipped) when the fixtures are absent.
pub(crate) fn fixture(rel: &str) -> Option<PathBuf> {
    let path = fixtures_dir().join(rel);
    if path.is_file() {
        Some(path)
    } else {
        skip(&format!(
            "fixture {} not found (set PARAGON_FIXTURES)",
            path.display()
        ))
    }
}

/// Parses a fixture with format detection, failing the test on error.
pub(crate) fn load(rel: &str) -> Option<ScanReport> {
    let path = fixture(rel)?;
    Some(
        paragon_scanners::parse_file(&path)
            .unwrap_or_else(|e| panic!("fixture {rel} failed to parse: {e:?}")),
    )
}

/// A tool on `PATH` or named by an environment variable.
pub(crate) fn tool(name: &str, env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
