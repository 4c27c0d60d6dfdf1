//! The `Signer` and `Verifier` plugin traits: signatures over the payloads
//! that name an image (cosign's simple-signing payload), by a key or, in
//! adapters that can reach a certificate authority, by an identity.
//!
//! A [`Signer`] signs bytes and says who it is; a [`Verifier`] says which
//! of the identities it accepts made a signature. Where the signature and
//! its payload are stored on a registry is [`cosign`]'s (cosign 2's
//! `.sig` and `.att` images) or [`bundle`]'s (cosign 3's Sigstore bundles
//! as referrers), as [`SignatureFormat`] chooses; verification reads
//! both. Key-based adapters are in `paragon_registry::cosign` (feature
//! `cosign`).

use std::fmt;

use async_trait::async_trait;

pub mod bundle;
pub mod cosign;

use crate::error::Result;
use crate::plugin::context::CallContext;

/// A signature, with what a verifier needs besides the key it trusts.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signature {
    /// The signature's bytes (ASN.1 DER for ECDSA).
    pub bytes: Vec<u8>,
    /// The signing certificate (PEM), for signers that have one (keyless
    /// signing); `None` for a plain key.
    pub certificate: Option<String>,
    /// The certificate's chain (PEM), when there is one.
    pub chain: Option<String>,
}

impl Signature {
    /// A signature by a plain key.
    pub fn new(bytes: Vec<u8>) -> Signature {
        Signature {
            bytes,
            certificate: None,
            chain: None,
        }
    }

    /// With the signing certificate and its chain.
    #[must_use]
    pub fn with_certificate(mut self, certificate: String, chain: Option<String>) -> Signature {
        self.certificate = Some(certificate);
        self.chain = chain;
        self
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .field("certificate", &self.certificate.is_some())
            .finish()
    }
}

/// Where a signer's signatures and attestations are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignatureFormat {
    /// cosign 2's layout, which every cosign release verifies: the
    /// `sha256-<hex>.sig` and `.att` images ([`cosign`]).
    #[default]
    Tagged,
    /// cosign 3's default: Sigstore bundles attached as OCI 1.1 referrers
    /// ([`bundle`]).
    Bundles,
    /// Both layouts.
    Both,
}

impl SignatureFormat {
    /// Whether `.sig` and `.att` images are written.
    pub fn tagged(self) -> bool {
        matches!(self, SignatureFormat::Tagged | SignatureFormat::Both)
    }

    /// Whether Sigstore bundles are attached.
    pub fn bundles(self) -> bool {
        matches!(self, SignatureFormat::Bundles | SignatureFormat::Both)
    }
}

impl std::str::FromStr for SignatureFormat {
    type Err = crate::Error;

    /// `tagged`, `bundles` or `both`.
    fn from_str(s: &str) -> Result<SignatureFormat> {
        match s {
            "tagged" => Ok(SignatureFormat::Tagged),
            "bundles" => Ok(SignatureFormat::Bundles),
            "both" => Ok(SignatureFormat::Both),
            other => Err(crate::Error::InvalidConfig {
                component: "signature format".into(),
                message: format!("`{other}` is none of tagged, bundles, both"),
            }),
        }
    }
}

/// Signs payloads (see the [module docs](self)).
#[async_trait]
pub trait Signer: fmt::Debug + Send + Sync + 'static {
    /// The adapter's name (`cosign-key`).
    fn name(&self) -> &str;

    /// Who signs, for records and messages: a key's fingerprint
    /// (`SHA256:<hex>` of its public key), or a certificate's identity.
    /// Never secret.
    fn identity(&self) -> String;

    /// Signs `payload`.
    async fn sign(&self, payload: &[u8], ctx: &CallContext) -> Result<Signature>;
}

/// Checks signatures against the identities it accepts.
pub trait Verifier: fmt::Debug + Send + Sync + 'static {
    /// The identities it accepts (key fingerprints), for messages.
    fn accepted(&self) -> Vec<String>;

    /// The accepted identity that made `signature` over `payload`, or
    /// `None` when none did.
    fn verify(&self, payload: &[u8], signature: &Signature) -> Option<String>;
}

/// A signer and verifier for tests, with no cryptography: see
/// [`KeyedDigest`](testing::KeyedDigest).
pub mod testing {
    use async_trait::async_trait;
    use sha2::{Digest as _, Sha256};

    use super::{Signature, Signer, Verifier};
    use crate::error::Result;
    use crate::plugin::context::CallContext;

    /// Signs with the SHA-256 of a shared key and the payload, and
    /// verifies signatures made with the same key: a test double that
    /// stands in for a real key pair (it proves nothing to anyone who
    /// does not hold the key). Its identity is `keyed:<key>`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct KeyedDigest(pub String);

    impl KeyedDigest {
        /// A signer and verifier with `key`.
        pub fn new(key: impl Into<String>) -> KeyedDigest {
            KeyedDigest(key.into())
        }

        fn mac(&self, payload: &[u8]) -> Vec<u8> {
            Sha256::new()
                .chain_update(self.0.as_bytes())
                .chain_update(payload)
                .finalize()
                .to_vec()
        }
    }

    #[async_trait]
    impl Signer for KeyedDigest {
        fn name(&self) -> &str {
            "keyed-digest"
        }

        fn identity(&self) -> String {
            format!("keyed:{}", self.0)
        }

        async fn sign(&self, payload: &[u8], _ctx: &CallContext) -> Result<Signature> {
            Ok(Signature::new(self.mac(payload)))
        }
    }

    impl Verifier for KeyedDigest {
        fn accepted(&self) -> Vec<String> {
            vec![self.identity()]
        }

        fn verify(&self, payload: &[u8], signature: &Signature) -> Option<String> {
            (signature.bytes == self.mac(payload)).then(|| self.identity())
        }
    }
}
