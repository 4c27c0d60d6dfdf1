//! What the Containerfile-driven builders share.

use std::path::PathBuf;

use paragon_core::image::BuildSpec;
use paragon_core::{Error, Result};

/// The Containerfile to build: the spec's (relative to the context), else
/// `Containerfile`, else `Dockerfile` in the context.
pub(crate) fn containerfile(spec: &BuildSpec, builder: &str) -> Result<PathBuf> {
    if !spec.context.is_dir() {
        return Err(Error::TargetNotFound {
            scanner: builder.into(),
            path: spec.context.clone(),
        });
    }
    let candidates: Vec<PathBuf> = match &spec.containerfile {
        Some(f) if f.is_absolute() => vec![f.clone()],
        Some(f) => vec![spec.context.join(f)],
        None => vec![
            spec.context.join("Containerfile"),
            spec.context.join("Dockerfile"),
        ],
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| Error::InvalidConfig {
            component: builder.into(),
            message: format!(
                "no Containerfile: looked for {}",
                candidates
                    .iter()
                    .map(|p| format!("`{}`", p.display()))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        })
}
