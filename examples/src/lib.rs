//! Runnable example programs for Paragon (see `examples/`).

use std::path::Path;

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
