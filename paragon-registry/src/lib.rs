//! OCI image builders and registries for Paragon.
//!
//! | adapter | trait | what it does |
//! |---|---|---|
//! | [`NativeBuilder`] | `Builder` | reproducible images without a daemon: layers from directories and files, config, annotations, optional multi-platform index |
//! | [`BuildahBuilder`] | `Builder` | `buildah bud --isolation chroot --storage-driver vfs` to an OCI layout |
//! | [`DockerBuilder`] | `Builder` | `docker buildx build --output type=oci` |
//! | [`DistributionRegistry`] | `Registry` | any OCI distribution registry, over `reqwest`: the token flow, blob skipping and mounting, tags by manifest PUT, digest verification, `Link` pagination, retries |
//! | [`HarborRegistry`] | `Registry` | Harbor: the distribution adapter plus Harbor's REST API (projects, robot accounts, tags, immutability) |
//! | [`HarborScanner`] | `Scanner` | asks Harbor to scan a pushed image and reads its vulnerability report |
//! | [`LayoutRegistry`] | `Registry` | one OCI layout on disk: the embedded default |
//!
//! Every registry adapter's tests run `paragon_core::conformance::registry`.
#![forbid(unsafe_code)]

pub mod buildah;
mod containerfile;
pub mod credentials;
pub mod distribution;
pub mod docker;
pub mod harbor;
pub mod layout;
pub mod native;

pub use buildah::BuildahBuilder;
pub use credentials::Credentials;
pub use distribution::{DistributionRegistry, RetryPolicy, UPLOAD_RATE_FLOOR};
pub use docker::DockerBuilder;
pub use harbor::{
    HarborApi, HarborRegistry, HarborScanner, RobotAccount, TagOutcome, ACCEPT_VULNERABILITIES,
};
pub use layout::LayoutRegistry;
pub use native::NativeBuilder;
