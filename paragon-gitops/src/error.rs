//! What only the GitOps adapters know can go wrong: YAML, paths in it, git.
//!
//! Every function of the crate returns [`paragon_core::Result`]; these
//! errors reach callers as [`paragon_core::Error::Adapter`] with the
//! [`ErrorKind`] a pipeline acts on, and are had back typed with
//! [`paragon_core::Error::downcast_ref`]:
//!
//! ```
//! use paragon_gitops::yaml::YamlFile;
//!
//! let err = YamlFile::parse("values.yaml", "a: [1").unwrap_err();
//! assert_eq!(err.kind(), paragon_core::ErrorKind::InvalidInput);
//! let yaml = err.downcast_ref::<paragon_gitops::Error>().unwrap();
//! assert!(matches!(yaml, paragon_gitops::Error::Yaml { file, .. } if file.ends_with("values.yaml")));
//! ```

use std::path::PathBuf;

use paragon_core::ErrorKind;

/// An error only the GitOps adapters know.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A YAML file could not be parsed.
    #[error("invalid YAML in `{}` at line {line}, column {column}: {message}", file.display())]
    Yaml {
        /// The file (relative to its repository where there is one).
        file: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The column (1-based).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A path in a YAML file cannot be read or set.
    #[error("`{}`: cannot {operation} `{path}`: {message}", file.display())]
    YamlPath {
        /// The file.
        file: PathBuf,
        /// The path (`image.tag`, `a.b[0].c`).
        path: String,
        /// `set` or `read`.
        operation: &'static str,
        /// Why (naming the nearest existing path when the path is missing).
        message: String,
    },
    /// A git operation failed.
    #[error("git {operation} on {remote} failed{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Git {
        /// The remote, without credentials.
        remote: String,
        /// What was being done (`clone`, `push main`, `revert 1a2b3c`).
        operation: String,
        /// What git said (the tail of its stderr, redacted).
        message: String,
    },
    /// A push kept being rejected because others pushed first.
    #[error("git push to {remote} ({branch}) was rejected {attempts} times because the branch moved; giving up")]
    PushRejected {
        /// The remote, without credentials.
        remote: String,
        /// The branch.
        branch: String,
        /// How many pushes were tried.
        attempts: u32,
    },
}

impl Error {
    /// The category a pipeline acts on: a YAML problem is invalid input,
    /// a failed git command a failed tool, a push that kept losing the
    /// race a conflict.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Yaml { .. } | Error::YamlPath { .. } => ErrorKind::InvalidInput,
            Error::Git { .. } => ErrorKind::ToolFailed,
            Error::PushRejected { .. } => ErrorKind::Conflict,
        }
    }

    /// The adapter's name in [`paragon_core::Error::Adapter`].
    fn component(&self) -> &'static str {
        match self {
            Error::Yaml { .. } | Error::YamlPath { .. } => "yaml",
            Error::Git { .. } | Error::PushRejected { .. } => "git",
        }
    }
}

impl From<Error> for paragon_core::Error {
    fn from(e: Error) -> paragon_core::Error {
        paragon_core::Error::adapter(e.component(), e.kind(), e)
    }
}
