//! cosign keys: signing pushed images with an ECDSA P-256 key and
//! verifying them, as `cosign sign --key` and `cosign verify --key` do, on
//! any registry. The layout (the simple-signing payload in a manifest
//! tagged `sha256-<hex>.sig`) is `paragon_core::plugin::sign::cosign`'s,
//! re-exported here; the signature is ECDSA P-256/SHA-256, ASN.1 DER.
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

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use paragon_core::plugin::secrets::SecretSource;
use paragon_core::plugin::sign::{Signature, Signer, Verifier};
use paragon_core::{CallContext, Result, Secret};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

pub use paragon_core::plugin::sign::cosign::{
    attest, attest_all, attestation_tag, pae, payload, sign, sign_with, signature_tag, statement,
    verify, verify_all_attestations, verify_attestations, Attested, Signed, Verified,
    VerifiedAttestation, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, ANNOTATION_PREDICATE_TYPE,
    ANNOTATION_SIGNATURE, IN_TOTO_PAYLOAD_TYPE, MEDIA_TYPE_DSSE, MEDIA_TYPE_SIMPLE_SIGNING,
    SIGNATURE_TYPE, STATEMENT_TYPE,
};

use crate::Error;

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

    /// A key from a PEM file whose password is the secret `password` of
    /// `secrets` (the pipeline's [`SecretSource`]: the environment, Vault).
    /// The password is asked for only when the key is encrypted.
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file), and the secret source's errors.
    pub async fn from_file_with_secret(
        path: &Path,
        secrets: &dyn SecretSource,
        password: &str,
        ctx: &CallContext,
    ) -> Result<CosignKeySigner> {
        let text = std::fs::read_to_string(path).map_err(|source| paragon_core::Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let what = path.display().to_string();
        let (label, _) = pem_block(&text, &what)?;
        let secret = if label.starts_with("ENCRYPTED") {
            Some(secrets.secret(password, ctx).await?)
        } else {
            None
        };
        CosignKeySigner::from_pem(&text, secret.as_ref(), &what)
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
