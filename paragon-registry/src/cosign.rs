//! cosign signatures on any [`Registry`]: signing a pushed image with an
//! ECDSA P-256 key, and verifying an image before it is deployed, in the
//! layout `cosign sign --key` writes and `cosign verify --key` reads.
//!
//! A signature of the image `repository@sha256:<hex>` is a layer of the
//! manifest tagged `sha256-<hex>.sig` in the same repository. The layer is
//! cosign's simple-signing payload (media type
//! `application/vnd.dev.cosign.simplesigning.v1+json`):
//!
//! ```json
//! {"critical":{"identity":{"docker-reference":"registry/shop/app"},
//!  "image":{"docker-manifest-digest":"sha256:…"},
//!  "type":"cosign container image signature"},"optional":null}
//! ```
//!
//! and the ECDSA P-256/SHA-256 signature of those bytes (ASN.1 DER,
//! base64) is the layer's `dev.cosignproject.cosign/signature` annotation.
//! Signing again adds a layer to the manifest; the signatures already there
//! stay.
//!
//! Keys are read from PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) and
//! cosign's own encrypted format (`ENCRYPTED SIGSTORE PRIVATE KEY` or
//! `ENCRYPTED COSIGN PRIVATE KEY`, as `cosign generate-key-pair` writes:
//! scrypt and NaCl secretbox over the PKCS#8 key); public keys from
//! `PUBLIC KEY` PEM (`cosign.pub`).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use paragon_core::plugin::build::testing::minimal_image;
//! use paragon_core::plugin::sign::Signer;
//! use paragon_core::{CallContext, Registry};
//! use paragon_registry::cosign::{self, CosignKeySigner, CosignKeyVerifier};
//! use paragon_registry::LayoutRegistry;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let image = minimal_image(&dir.path().join("build"), "demo").unwrap();
//! let registry = LayoutRegistry::new(dir.path().join("registry"));
//! let repository = "shop/app".parse().unwrap();
//! let ctx = CallContext::new();
//! registry.push(&image, &repository, &["1.0.0".parse().unwrap()], &ctx).await.unwrap();
//!
//! let signer = CosignKeySigner::generate();
//! let signed = cosign::sign(&registry, &repository, &image.digest, "registry.example/shop/app", &signer, &ctx)
//!     .await
//!     .unwrap();
//! assert_eq!(signed.signatures, 1);
//!
//! let verifier = CosignKeyVerifier::from_pem(&signer.public_key_pem()).unwrap();
//! let verified = cosign::verify(&registry, &repository, &image.digest, &verifier, &ctx).await.unwrap();
//! assert_eq!(verified.identities, [signer.identity()]);
//! # });
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use paragon_core::model::oci::{
    to_canonical_json, Descriptor, Digest, ImageManifest, OciLayout, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_MANIFEST,
};
use paragon_core::plugin::build::BuiltImage;
use paragon_core::plugin::registry::{Reference, Registry, Repository, Tag};
use paragon_core::plugin::sign::{Signature, Signer, Verifier};
use paragon_core::{CallContext, Result, Secret};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::Error;

/// The media type of cosign's simple-signing payload.
pub const MEDIA_TYPE_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a layer's signature (base64).
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The annotation holding a keyless signature's certificate (PEM).
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the certificate's chain (PEM).
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
/// `critical.type` of an image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn key_error(what: &str, message: impl Into<String>) -> paragon_core::Error {
    Error::Key {
        what: what.to_owned(),
        message: message.into(),
    }
    .into()
}

/// The fingerprint of a public key: `SHA256:` and the hex SHA-256 of its
/// DER SubjectPublicKeyInfo.
fn fingerprint(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .expect("a P-256 key encodes as SubjectPublicKeyInfo");
    let hash = Sha256::digest(der.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("SHA256:{hex}")
}

/// One PEM block: its label and its bytes.
fn pem_block(text: &str, what: &str) -> Result<(String, Vec<u8>)> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| key_error(what, "no PEM block (`-----BEGIN …-----`)"))?;
    let rest = &text[begin + 11..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| key_error(what, "a PEM header without its end"))?;
    let label = rest[..label_end].to_owned();
    let end_marker = format!("-----END {label}-----");
    let body = &rest[label_end + 5..];
    let end = body
        .find(&end_marker)
        .ok_or_else(|| key_error(what, format!("no `{end_marker}`")))?;
    let b64: String = body[..end]
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.trim().chars())
        .collect();
    let bytes = B64
        .decode(b64)
        .map_err(|e| key_error(what, format!("the {label} block is not base64: {e}")))?;
    Ok((label, bytes))
}

/// Signs with an ECDSA P-256 key, as `cosign sign --key` does.
#[derive(Clone)]
pub struct CosignKeySigner {
    key: SigningKey,
}

impl fmt::Debug for CosignKeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignKeySigner")
            .field("identity", &self.identity())
            .finish_non_exhaustive()
    }
}

impl CosignKeySigner {
    /// A fresh random key (keep [`private_key_pem`](Self::private_key_pem)
    /// to sign with it again).
    pub fn generate() -> CosignKeySigner {
        CosignKeySigner {
            key: SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng),
        }
    }

    /// A key from PEM text: PKCS#8, SEC1, or cosign's encrypted format
    /// (which needs `password`; cosign's keys made with an empty password
    /// take an empty one). `what` names the key in errors (its file).
    ///
    /// # Errors
    ///
    /// An [`Error::Key`] (as [`paragon_core::Error::Adapter`]) naming
    /// `what`: not PEM, not a P-256 key, a missing or wrong password.
    pub fn from_pem(text: &str, password: Option<&Secret>, what: &str) -> Result<CosignKeySigner> {
        let (label, der) = pem_block(text, what)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => SigningKey::from_pkcs8_der(&der)
                .map_err(|e| key_error(what, format!("not a PKCS#8 P-256 key: {e}")))?,
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der)
                .map(SigningKey::from)
                .map_err(|e| key_error(what, format!("not a SEC1 P-256 key: {e}")))?,
            "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
                let password = password.ok_or_else(|| {
                    key_error(what, "the key is encrypted and no password was given")
                })?;
                let pkcs8 = decrypt_cosign_key(&der, password, what)?;
                SigningKey::from_pkcs8_der(&pkcs8)
                    .map_err(|e| key_error(what, format!("the decrypted key is not P-256: {e}")))?
            }
            other => {
                return Err(key_error(
                    what,
                    format!("a `{other}` block is not a private key this signer takes"),
                ))
            }
        };
        Ok(CosignKeySigner { key })
    }

    /// A key from a PEM file (see [`from_pem`](Self::from_pem)).
    ///
    /// # Errors
    ///
    /// [`paragon_core::Error::Io`] when the file cannot be read; as
    /// [`from_pem`](Self::from_pem) otherwise.
    pub fn from_file(path: &Path, password: Option<&Secret>) -> Result<CosignKeySigner> {
        let text = std::fs::read_to_string(path).map_err(|source| paragon_core::Error::Io {
            path: path.to_owned(),
            source,
        })?;
        CosignKeySigner::from_pem(&text, password, &path.display().to_string())
    }

    /// The private key as unencrypted PKCS#8 PEM.
    pub fn private_key_pem(&self) -> Secret {
        use p256::pkcs8::EncodePrivateKey;
        Secret::new(
            self.key
                .to_pkcs8_pem(LineEnding::LF)
                .expect("a P-256 key encodes as PKCS#8")
                .to_string(),
        )
    }

    /// The public key as PEM (what `cosign.pub` holds).
    pub fn public_key_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 key encodes as SubjectPublicKeyInfo")
    }
}

#[async_trait]
impl Signer for CosignKeySigner {
    fn name(&self) -> &str {
        "cosign-key"
    }

    fn identity(&self) -> String {
        fingerprint(self.key.verifying_key())
    }

    async fn sign(&self, payload: &[u8], _ctx: &CallContext) -> Result<Signature> {
        let signature: p256::ecdsa::Signature = self.key.sign(payload);
        Ok(Signature::new(signature.to_der().as_bytes().to_vec()))
    }
}

/// cosign's encrypted key: go-securesystemslib's `encrypted` format.
#[derive(Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The PKCS#8 DER inside a cosign encrypted key.
fn decrypt_cosign_key(json: &[u8], password: &Secret, what: &str) -> Result<Vec<u8>> {
    use crypto_secretbox::aead::{Aead, KeyInit};
    let doc: EncryptedKey = serde_json::from_slice(json)
        .map_err(|e| key_error(what, format!("not a cosign encrypted key: {e}")))?;
    if doc.kdf.name != "scrypt" || doc.cipher.name != "nacl/secretbox" {
        return Err(key_error(
            what,
            format!(
                "unknown key encryption `{}` with `{}` (cosign uses scrypt with nacl/secretbox)",
                doc.kdf.name, doc.cipher.name
            ),
        ));
    }
    let b64 = |field: &str, value: &str| {
        B64.decode(value)
            .map_err(|e| key_error(what, format!("`{field}` is not base64: {e}")))
    };
    let salt = b64("salt", &doc.kdf.salt)?;
    let nonce = b64("nonce", &doc.cipher.nonce)?;
    let ciphertext = b64("ciphertext", &doc.ciphertext)?;
    let log_n = doc
        .kdf
        .params
        .n
        .checked_ilog2()
        .filter(|l| 1u64 << l == doc.kdf.params.n);
    let params = log_n
        .and_then(|l| u8::try_from(l).ok())
        .and_then(|l| scrypt::Params::new(l, doc.kdf.params.r, doc.kdf.params.p, 32).ok())
        .ok_or_else(|| key_error(what, "invalid scrypt parameters"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.expose().as_bytes(), &salt, &params, &mut key)
        .map_err(|e| key_error(what, format!("scrypt failed: {e}")))?;
    if nonce.len() != 24 {
        return Err(key_error(what, "the nonce is not 24 bytes"));
    }
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            ciphertext.as_slice(),
        )
        .map_err(|_| key_error(what, "the password is wrong (the key does not decrypt)"))
}

/// Verifies signatures against one or more ECDSA P-256 public keys, as
/// `cosign verify --key` does.
#[derive(Clone)]
pub struct CosignKeyVerifier {
    keys: Vec<(String, VerifyingKey)>,
}

impl fmt::Debug for CosignKeyVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignKeyVerifier")
            .field("accepted", &self.accepted())
            .finish()
    }
}

impl CosignKeyVerifier {
    /// Accepts the public key(s) in PEM text (one or more `PUBLIC KEY`
    /// blocks).
    ///
    /// # Errors
    ///
    /// An [`Error::Key`] when there is no key, or one is not P-256.
    pub fn from_pem(text: &str) -> Result<CosignKeyVerifier> {
        let mut keys = Vec::new();
        let marker = "-----BEGIN PUBLIC KEY-----";
        for (i, _) in text.match_indices(marker) {
            let (_, der) = pem_block(&text[i..], "the public key")?;
            let key = VerifyingKey::from_public_key_der(&der)
                .map_err(|e| key_error("the public key", format!("not a P-256 key: {e}")))?;
            keys.push((fingerprint(&key), key));
        }
        if keys.is_empty() {
            return Err(key_error("the public key", "no `PUBLIC KEY` PEM block"));
        }
        Ok(CosignKeyVerifier { keys })
    }

    /// Accepts the public key in each file.
    ///
    /// # Errors
    ///
    /// [`paragon_core::Error::Io`] for a file that cannot be read; an
    /// [`Error::Key`] naming the file otherwise.
    pub fn from_files<P: AsRef<Path>>(paths: &[P]) -> Result<CosignKeyVerifier> {
        let mut keys = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path).map_err(|source| paragon_core::Error::Io {
                path: path.to_owned(),
                source,
            })?;
            let one = CosignKeyVerifier::from_pem(&text)
                .map_err(|e| key_error(&path.display().to_string(), e.to_string()))?;
            keys.extend(one.keys);
        }
        Ok(CosignKeyVerifier { keys })
    }
}

impl Verifier for CosignKeyVerifier {
    fn accepted(&self) -> Vec<String> {
        self.keys.iter().map(|(f, _)| f.clone()).collect()
    }

    fn verify(&self, payload: &[u8], signature: &Signature) -> Option<String> {
        let sig = p256::ecdsa::Signature::from_der(&signature.bytes).ok()?;
        self.keys
            .iter()
            .find(|(_, key)| key.verify(payload, &sig).is_ok())
            .map(|(f, _)| f.clone())
    }
}

/// cosign's simple-signing payload for `digest`, named `identity` (the
/// image's repository as clients pull it: `registry.example/shop/app`),
/// with `annotations` as its `optional` part (none: `null`).
pub fn payload(identity: &str, digest: &Digest, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let optional = if annotations.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(annotations).expect("strings serialize")
    };
    let doc = serde_json::json!({
        "critical": {
            "identity": { "docker-reference": identity },
            "image": { "docker-manifest-digest": digest.as_str() },
            "type": SIGNATURE_TYPE,
        },
        "optional": optional,
    });
    serde_json::to_vec(&doc).expect("the payload serializes")
}

/// The tag of `digest`'s signatures: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> Tag {
    Tag::new(format!("{}-{}.sig", digest.algorithm(), digest.hex()))
        .expect("a digest makes a valid tag")
}

/// What [`sign`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signed {
    /// The signed image.
    pub digest: Digest,
    /// The signature manifest's tag (`sha256-<hex>.sig`).
    pub tag: String,
    /// The signature manifest's digest.
    pub manifest: Digest,
    /// How many signatures the manifest now holds.
    pub signatures: usize,
    /// Who signed this time.
    pub identity: String,
}

/// Signs the image `digest` in `repository` and stores the signature as
/// cosign does, keeping the signatures already there (the same signature
/// twice is stored once). `identity` is the image's repository as
/// clients pull it (`critical.identity.docker-reference`).
///
/// Two signers racing on one image may lose one signature (cosign's
/// layout has no conditional write); sign again to add it.
///
/// # Errors
///
/// The registry's and the signer's errors; [`paragon_core::Error::Io`]
/// when no scratch directory can be made.
pub async fn sign(
    registry: &dyn Registry,
    repository: &Repository,
    digest: &Digest,
    identity: &str,
    signer: &dyn Signer,
    ctx: &CallContext,
) -> Result<Signed> {
    sign_with(
        registry,
        repository,
        digest,
        identity,
        &BTreeMap::new(),
        signer,
        ctx,
    )
    .await
}

/// [`sign`] with `annotations` in the payload's `optional` part.
///
/// # Errors
///
/// As [`sign`].
pub async fn sign_with(
    registry: &dyn Registry,
    repository: &Repository,
    digest: &Digest,
    identity: &str,
    annotations: &BTreeMap<String, String>,
    signer: &dyn Signer,
    ctx: &CallContext,
) -> Result<Signed> {
    let scratch = scratch()?;
    let tag = signature_tag(digest);
    let dir = scratch.path().join("sig");
    let existing = registry
        .pull(repository, &Reference::Tag(tag.clone()), &dir, ctx)
        .await?;
    let layout = OciLayout::create(&dir)?;
    let mut layers = match &existing {
        Some(image) => layout.manifest(&image.digest)?.layers,
        None => Vec::new(),
    };
    let body = payload(identity, digest, annotations);
    let signature = signer.sign(&body, ctx).await?;
    let (payload_digest, size) = layout.write_blob(&body)?;
    let mut layer = Descriptor::new(MEDIA_TYPE_SIMPLE_SIGNING, payload_digest, size);
    layer
        .annotations
        .insert(ANNOTATION_SIGNATURE.into(), B64.encode(&signature.bytes));
    if let Some(cert) = &signature.certificate {
        layer
            .annotations
            .insert(ANNOTATION_CERTIFICATE.into(), cert.clone());
    }
    if let Some(chain) = &signature.chain {
        layer
            .annotations
            .insert(ANNOTATION_CHAIN.into(), chain.clone());
    }
    if !layers.contains(&layer) {
        layers.push(layer);
    }
    let manifest = signature_manifest(&layout, layers)?;
    let count = manifest.layers.len();
    let (manifest_digest, manifest_size) = layout.write_blob(&to_canonical_json(&manifest))?;
    let root = Descriptor::new(MEDIA_TYPE_MANIFEST, manifest_digest.clone(), manifest_size);
    layout.set_ref("signature", &root)?;
    let image = BuiltImage::from_layout(&dir, Some("signature"))?;
    registry
        .push(&image, repository, std::slice::from_ref(&tag), ctx)
        .await?;
    tracing::info!(%digest, tag = %tag, signatures = count, identity = %signer.identity(), "signed");
    Ok(Signed {
        digest: digest.clone(),
        tag: tag.to_string(),
        manifest: manifest_digest,
        signatures: count,
        identity: signer.identity(),
    })
}

/// The manifest of a signature image: cosign's config (its layers'
/// digests as `diff_ids`) and the signature layers.
fn signature_manifest(layout: &OciLayout, layers: Vec<Descriptor>) -> Result<ImageManifest> {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{ "created": "0001-01-01T00:00:00Z" }],
        "os": "",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let (config_digest, config_size) = layout.write_blob(&to_canonical_json(&config))?;
    Ok(ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        config: Descriptor::new(MEDIA_TYPE_CONFIG, config_digest, config_size),
        layers,
        annotations: BTreeMap::new(),
    })
}

fn scratch() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("paragon-cosign-")
        .tempdir()
        .map_err(|source| paragon_core::Error::Io {
            path: std::env::temp_dir(),
            source,
        })
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The verified image.
    pub digest: Digest,
    /// The accepted identities whose signatures verified, each once.
    pub identities: Vec<String>,
    /// The `docker-reference`s the valid payloads name.
    pub references: Vec<String>,
}

/// Checks that the image `digest` in `repository` carries at least one
/// signature by an identity `verifier` accepts, over a payload that names
/// this digest.
///
/// # Errors
///
/// An [`Error::NotVerified`] naming the image, why each signature failed
/// (or that there is none), and the accepted identities; the registry's
/// errors.
pub async fn verify(
    registry: &dyn Registry,
    repository: &Repository,
    digest: &Digest,
    verifier: &dyn Verifier,
    ctx: &CallContext,
) -> Result<Verified> {
    let scratch = scratch()?;
    let tag = signature_tag(digest);
    let dir = scratch.path().join("sig");
    let not_verified = |reason: String| -> paragon_core::Error {
        Error::NotVerified {
            image: format!("{repository}@{digest}"),
            reason,
            accepted: verifier.accepted(),
        }
        .into()
    };
    let Some(image) = registry
        .pull(repository, &Reference::Tag(tag.clone()), &dir, ctx)
        .await?
    else {
        return Err(not_verified(format!("it has no signature (no tag {tag})")));
    };
    let layout = OciLayout::open(&dir)?;
    let manifest = layout.manifest(&image.digest)?;
    let mut verified = Verified {
        digest: digest.clone(),
        identities: Vec::new(),
        references: Vec::new(),
    };
    let mut failures = Vec::new();
    for (i, layer) in manifest.layers.iter().enumerate() {
        match check_layer(&layout, layer, digest, verifier) {
            Ok((identity, reference)) => {
                if !verified.identities.contains(&identity) {
                    verified.identities.push(identity);
                }
                if !verified.references.contains(&reference) {
                    verified.references.push(reference);
                }
            }
            Err(why) => failures.push(format!("signature {}: {why}", i + 1)),
        }
    }
    if verified.identities.is_empty() {
        if failures.is_empty() {
            failures.push(format!("the signature manifest {tag} holds no signature"));
        }
        return Err(not_verified(failures.join("; ")));
    }
    Ok(verified)
}

/// One signature layer: the identity that signed and the payload's
/// `docker-reference`, or why it does not count.
fn check_layer(
    layout: &OciLayout,
    layer: &Descriptor,
    digest: &Digest,
    verifier: &dyn Verifier,
) -> std::result::Result<(String, String), String> {
    if layer.media_type != MEDIA_TYPE_SIMPLE_SIGNING {
        return Err(format!(
            "media type `{}` is not a signature",
            layer.media_type
        ));
    }
    let encoded = layer
        .annotations
        .get(ANNOTATION_SIGNATURE)
        .ok_or("no signature annotation")?;
    let bytes = B64
        .decode(encoded.trim())
        .map_err(|e| format!("the signature is not base64: {e}"))?;
    let body = layout
        .read_blob(&layer.digest)
        .map_err(|e| format!("its payload cannot be read: {e}"))?;
    #[derive(Deserialize)]
    struct Payload {
        critical: Critical,
    }
    #[derive(Deserialize)]
    struct Critical {
        identity: Identity,
        image: Image,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(Deserialize)]
    struct Identity {
        #[serde(rename = "docker-reference")]
        reference: String,
    }
    #[derive(Deserialize)]
    struct Image {
        #[serde(rename = "docker-manifest-digest")]
        digest: String,
    }
    let payload: Payload =
        serde_json::from_slice(&body).map_err(|e| format!("its payload is not cosign's: {e}"))?;
    let mut signature = Signature::new(bytes);
    signature.certificate = layer.annotations.get(ANNOTATION_CERTIFICATE).cloned();
    let identity = verifier
        .verify(&body, &signature)
        .ok_or("not made by an accepted key")?;
    if payload.critical.kind != SIGNATURE_TYPE {
        return Err(format!("its payload's type is `{}`", payload.critical.kind));
    }
    if payload.critical.image.digest != digest.as_str() {
        return Err(format!(
            "it signs {}, another image",
            payload.critical.image.digest
        ));
    }
    Ok((identity, payload.critical.identity.reference))
}
