//! OCI image builders and registries for Paragon.
//!
//! A [`BuiltImage`](paragon_core::BuiltImage) is an OCI image layout on
//! disk plus its manifest digest: builders write one, scanners read it
//! (`trivy image --input`, `syft oci-dir:`), registries push from it.
//!
//! | adapter | trait | what it does |
//! |---|---|---|
//! | [`NativeBuilder`] | `Builder` | reproducible images without a daemon or a tool: layers from directories and files (modes kept, owners set, symlinks kept), config, annotations, a base image held in an OCI layout, an image index for several platforms; every timestamp is `SOURCE_DATE_EPOCH` (or 0), so the same inputs give the same digest |
//! | [`BuildahBuilder`] | `Builder` | `buildah bud --isolation chroot --storage-driver vfs` from a Containerfile, then `buildah push` to the layout |
//! | [`DockerBuilder`] | `Builder` | `docker buildx build --output type=oci`, unpacked into the layout (needs a daemon or a buildx builder) |
//! | [`DistributionRegistry`] | `Registry` | any OCI distribution registry, over `reqwest`: the token flow, blob skipping and mounting, tags by manifest PUT, digest verification, `Link` pagination, retries |
//! | [`HarborRegistry`] | `Registry` | Harbor: the distribution adapter plus Harbor's REST API (projects, tags, immutability rules) |
//! | [`HarborScanner`] | `Scanner` | asks Harbor to scan a pushed image and reads its vulnerability report |
//! | [`LayoutRegistry`] | `Registry` | one OCI layout on disk (a tag is an `index.json` entry named `repository:tag`, which `skopeo inspect oci:DIR:repo:tag` reads) |
//!
//! Every builder's and registry's tests run the conformance suite of its
//! trait (`paragon_core::conformance`): the native builder and the layout
//! registry always, the others against a real `docker-registry` on
//! loopback (checked with `skopeo`), real buildah, a `docker` that builds
//! with buildah, and a Harbor whose REST API a local server answers in
//! front of the real registry.
//!
//! # What a push guarantees
//!
//! Blobs are pushed before manifests and manifests before tags, so no tag
//! ever names a partial image; each blob is checked against its digest by
//! streaming it from the layout before anything is sent (a corrupt layout
//! is [`Error::Layout`](paragon_core::Error::Layout) naming the file), and
//! uploaded from the file, never read whole into memory. After the tags are
//! written, each is resolved and must name the layout's digest. A blob the
//! registry has is skipped (`HEAD`), one in a `with_mount_from` repository
//! is mounted. Failures with no answer, a 5xx or a 429 are retried with
//! backoff ([`RetryPolicy`], 4 attempts by default), never a 401, 403 or
//! 404.
//!
//! # Credentials
//!
//! [`Credentials`]: anonymous, basic, a bearer token, the registry's token
//! flow, or Docker's `config.json` `auths`. They are
//! [`Secret`](paragon_core::Secret)s: never in logs (a test captures every
//! log line of every crate at trace level during a token-flow push), errors
//! or `Debug` output; refused credentials are
//! [`Error::Unauthorized`](paragon_core::Error::Unauthorized) naming the
//! host. Plain http goes only to this machine (`localhost`, `127.0.0.0/8`,
//! `::1`) unless `allow_http(true)` allows it.
//!
//! # Errors
//!
//! Functions return [`paragon_core::Result`]. What only this crate knows —
//! a registry's protocol answer (with its status and `Retry-After`) and
//! Harbor's API — is an [`Error`], carried as
//! [`paragon_core::Error::Adapter`]: ask its
//! [`kind`](paragon_core::Error::kind) or
//! [`retry_after`](paragon_core::Error::retry_after), or get it back with
//! [`downcast_ref::<paragon_registry::Error>()`](paragon_core::Error::downcast_ref);
//! the `reqwest::Error` of a request that got no answer is its source.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> paragon_core::Result<()> {
//! use paragon_core::plugin::build::{BuildSpec, Builder};
//! use paragon_core::plugin::registry::Registry;
//! use paragon_core::CallContext;
//! use paragon_registry::{Credentials, DistributionRegistry, NativeBuilder};
//!
//! let ctx = CallContext::new();
//! let image = NativeBuilder::new()
//!     .build(&BuildSpec::new("./site", "target/site-layout").with_ref_name("1.0.0"), &ctx)
//!     .await?;
//! let registry = DistributionRegistry::new("https://registry.example")?
//!     .with_credentials(Credentials::from_env());
//! let tags = paragon_core::plugin::registry::tags(["1.0.0", "latest"])?;
//! let pushed = registry.push(&image, &"shop/web".parse()?, &tags, &ctx).await?;
//! assert_eq!(pushed.digest, image.digest);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod buildah;
mod compress;
mod containerfile;
#[cfg(feature = "cosign")]
pub mod cosign;
pub mod credentials;
pub mod distribution;
pub mod docker;
mod error;
pub mod harbor;
pub mod layout;
pub mod native;

pub use buildah::BuildahBuilder;
pub use compress::LayerCompression;
pub use credentials::Credentials;
pub use distribution::{DistributionRegistry, UPLOAD_RATE_FLOOR};
pub use docker::DockerBuilder;
pub use error::Error;
pub use harbor::{
    HarborApi, HarborRegistry, HarborScanner, RobotAccount, TagOutcome, ACCEPT_VULNERABILITIES,
};
pub use layout::LayoutRegistry;
pub use native::NativeBuilder;
pub use paragon_core::retry::RetryPolicy;
