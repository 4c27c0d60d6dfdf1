//! What the Containerfile-driven builders share.

use std::path::{Path, PathBuf};

use paragon_core::plugin::build::BuildSpec;
use paragon_core::{Error, Result};

/// Checks that the build context is a directory: a missing one is
/// [`Error::TargetNotFound`], anything else there [`Error::InvalidConfig`]
/// saying what it is.
pub(crate) fn check_context(context: &Path, builder: &str) -> Result<()> {
    match std::fs::metadata(context) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) => Err(Error::InvalidConfig {
            component: builder.into(),
            message: format!(
                "the build context `{}` is {}, not a directory",
                context.display(),
                if meta.is_file() {
                    "a file"
                } else {
                    "not a directory"
                }
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::TargetNotFound {
            scanner: builder.into(),
            path: context.to_owned(),
        }),
        Err(source) => Err(Error::Io {
            path: context.to_owned(),
            source,
        }),
    }
}

/// The Containerfile to build: the spec's (relative to the context), else
/// `Containerfile`, else `Dockerfile` in the context.
pub(crate) fn containerfile(spec: &BuildSpec, builder: &str) -> Result<PathBuf> {
    check_context(&spec.context, builder)?;
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
