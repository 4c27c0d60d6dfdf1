//! Runnable example programs for Paragon (see `examples/`).

use std::path::{Path, PathBuf};

use paragon_core::plugin::registry::Registry;
use paragon_registry::{Credentials, DistributionRegistry, LayoutRegistry};

/// The registry the examples push to: an OCI distribution registry at
/// `url` with `PARAGON_REGISTRY_USERNAME` / `PARAGON_REGISTRY_PASSWORD`
/// (anonymous when unset), or without one the on-disk OCI layout at
/// `layout` (saying so on stderr).
///
/// # Errors
/// The message of an invalid URL.
pub fn registry(url: Option<&str>, layout: &Path) -> Result<Box<dyn Registry>, String> {
    match url {
        Some(url) => Ok(Box::new(
            DistributionRegistry::new(url)
                .map_err(|e| e.to_string())?
                .with_credentials(Credentials::from_env()),
        )),
        None => {
            eprintln!(
                "no --registry: pushing to the OCI layout at {}",
                layout.display()
            );
            Ok(Box::new(LayoutRegistry::new(layout)))
        }
    }
}

/// The image's name as clients pull it from [`registry`]'s choice: the
/// registry's host and `repository` (`127.0.0.1:5000/shop/app`), or
/// `oci-layout/<repository>` for the on-disk layout.
pub fn image_name(url: Option<&str>, repository: &str) -> String {
    match url {
        Some(url) => format!(
            "{}/{repository}",
            url.trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/')
        ),
        None => format!("oci-layout/{repository}"),
    }
}

/// A tool in `PARAGON_<NAME>` (an error when that is set to anything but
/// a file), or else on `PATH`; `None` when neither has it. `name` is the
/// binary's name; the variable is its upper-case form with `-` as `_`
/// (`dependency-check` → `PARAGON_DEPENDENCY_CHECK`).
///
/// # Errors
/// When `PARAGON_<NAME>` is set to anything but a file, naming it.
pub fn installed(name: &str) -> Result<Option<PathBuf>, String> {
    let var = format!("PARAGON_{}", name.to_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(format!(
                "{var} is set to {}, which is not a file: set it to the {name} binary, or unset it",
                p.display()
            ));
        }
        return Ok(Some(p));
    }
    Ok(which::which(name).ok())
}

/// Prints the libraries' warnings (a registry that does not answer yet, a
/// retry and its cause, a push redone on a moved branch) to standard
/// error, as the examples' progress goes.
pub fn print_warnings() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Cancels `ctx` on the first SIGINT (Ctrl-C) or SIGTERM, saying so on
/// standard error: the running tools are stopped, temporary files removed
/// as their owners drop, and the program exits with what the cancellation
/// left. Call it from within the Tokio runtime, before the work starts.
///
/// # Errors
/// When the signals cannot be listened for.
pub fn cancel_on_signals(ctx: &paragon_core::CallContext) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind| signal(kind).map_err(|e| format!("cannot listen for signals: {e}"));
    let (mut interrupt, mut terminate) = (
        listen(SignalKind::interrupt())?,
        listen(SignalKind::terminate())?,
    );
    let cancel = ctx.cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("cancelling…");
        cancel.cancel();
    });
    Ok(())
}

/// The Rust snippets of the repository's Markdown files, compiled (and
/// run, unless marked `no_run`) as doc tests; `tests/markdown.rs` checks
/// that every Markdown file with a Rust snippet is listed here.
#[cfg(doctest)]
pub mod markdown {
    #[doc = include_str!("../../README.md")]
    pub struct Readme;
    #[doc = include_str!("../../CONTRIBUTING.md")]
    pub struct Contributing;
}
