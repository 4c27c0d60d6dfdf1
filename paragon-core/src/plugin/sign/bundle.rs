//! cosign 3's layout: signatures and attestations as Sigstore bundles
//! attached to the image as OCI 1.1 referrers, as cosign's
//! `specs/BUNDLE_SPEC.md` describes and `cosign sign` and `cosign attest`
//! write by default.
//!
//! Each signature or attestation is a manifest of its own, with
//! `artifactType` `application/vnd.dev.sigstore.bundle.v0.3+json`, the
//! image as its `subject`, one layer (the bundle) and the annotations
//! `dev.sigstore.bundle.content` (`dsse-envelope`),
//! `dev.sigstore.bundle.predicateType` and
//! `org.opencontainers.image.created`. The bundle holds a DSSE envelope
//! of an in-toto Statement v1 whose subject is the image digest; a
//! signature is the statement of predicate type
//! `https://sigstore.dev/cosign/sign/v1` with an empty predicate. A key's
//! bundle names it by `verificationMaterial.publicKey.hint` (the base64
//! SHA-256 of its public key), a certificate's by
//! `verificationMaterial.certificate`.
//!
//! Since no manifest is read and written back, signers racing on one
//! image never drop each other's bundles where the registry serves the
//! referrers API. Where it does not, the registry adapter keeps the
//! referrers tag's list (with the tag-settle wait over the distribution
//! API). [`cosign::verify`](super::cosign::verify) and
//! [`cosign::verify_all_attestations`](super::cosign::verify_all_attestations)
//! accept bundles as well as `.sig` and `.att` images.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use paragon_core::plugin::build::testing::minimal_image;
//! use paragon_core::plugin::registry::Registry;
//! use paragon_core::plugin::sign::{bundle, cosign, testing::KeyedDigest};
//! use paragon_core::{CallContext, MemoryRegistry};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let image = minimal_image(dir.path(), "demo").unwrap();
//! let registry = MemoryRegistry::new();
//! let repository = "shop/app".parse().unwrap();
//! let ctx = CallContext::new();
//! registry.push(&image, &repository, &[], &ctx).await.unwrap();
//! let key = KeyedDigest::new("k");
//! bundle::sign(&registry, &repository, &image.descriptor(), &key, &ctx).await.unwrap();
//! let verified = cosign::verify(&registry, &repository, &image.digest, &key, &ctx).await.unwrap();
//! assert_eq!(verified.identities, ["keyed:k"]);
//! # });
//! ```

use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::Deserialize;

use super::cosign::{sign_statement, IN_TOTO_PAYLOAD_TYPE, STATEMENT_TYPE};
use super::{Signature, Signer, Verifier};
use crate::error::{ErrorKind, Result};
use crate::model::oci::{Descriptor, Digest, OciLayout};
use crate::plugin::context::CallContext;
use crate::plugin::registry::referrers::{self, Artifact, Attached};
use crate::plugin::registry::{Reference, Registry, Repository};

use super::cosign::B64;

/// The media type (and artifact type) of a Sigstore bundle v0.3.
pub const MEDIA_TYPE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The predicate type of cosign's image signature statement.
pub const PREDICATE_COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";
/// The manifest annotation saying what the bundle holds.
pub const ANNOTATION_CONTENT: &str = "dev.sigstore.bundle.content";
/// The manifest annotation naming the statement's predicate type.
pub const ANNOTATION_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
/// The manifest annotation saying when the bundle was made (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// Signs the image `subject` (its descriptor in `repository`) as cosign 3
/// does: the statement of predicate type
/// [`PREDICATE_COSIGN_SIGN`], in a bundle attached as a referrer.
///
/// # Errors
///
/// The registry's and the signer's errors (a registry that cannot hold
/// referrers answers [`Error::Unsupported`](crate::Error::Unsupported)).
pub async fn sign(
    registry: &dyn Registry,
    repository: &Repository,
    subject: &Descriptor,
    signer: &dyn Signer,
    ctx: &CallContext,
) -> Result<Attached> {
    let empty = serde_json::Value::Object(serde_json::Map::new());
    attest(
        registry,
        repository,
        subject,
        PREDICATE_COSIGN_SIGN,
        &empty,
        signer,
        ctx,
    )
    .await
}

/// Attests `predicate` (of `predicate_type`) about the image `subject` as
/// cosign 3 does: an in-toto Statement v1 in a DSSE envelope signed by
/// `signer`, in a bundle attached as a referrer.
///
/// # Errors
///
/// As [`sign`].
pub async fn attest(
    registry: &dyn Registry,
    repository: &Repository,
    subject: &Descriptor,
    predicate_type: &str,
    predicate: &serde_json::Value,
    signer: &dyn Signer,
    ctx: &CallContext,
) -> Result<Attached> {
    let digest = &subject.digest;
    let statement = serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "digest": { digest.algorithm(): digest.hex() } }],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    let (payload, signature) = sign_statement(&statement, signer, ctx).await?;
    let material = match &signature.certificate {
        Some(pem) => serde_json::json!({ "certificate": { "rawBytes": pem_body(pem) } }),
        None => serde_json::json!({ "publicKey": { "hint": hint(&signer.identity()) } }),
    };
    let bundle = serde_json::json!({
        "mediaType": MEDIA_TYPE_BUNDLE,
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": B64.encode(&payload),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{ "sig": B64.encode(&signature.bytes) }],
        },
    });
    let created = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let artifact = Artifact::new(MEDIA_TYPE_BUNDLE, subject.clone())
        .with_blob(
            MEDIA_TYPE_BUNDLE,
            serde_json::to_vec(&bundle).expect("a JSON value serializes"),
        )
        .with_annotation(ANNOTATION_CONTENT, "dsse-envelope")
        .with_annotation(ANNOTATION_PREDICATE_TYPE, predicate_type)
        .with_annotation(ANNOTATION_CREATED, created);
    let attached = referrers::attach(registry, repository, &artifact, ctx).await?;
    tracing::info!(
        digest = %digest, bundle = %attached.digest, predicate_type,
        identity = %signer.identity(), "attached a Sigstore bundle"
    );
    Ok(attached)
}

/// [`sign`] and [`attest`] for each of `predicates` at once: the
/// signature's bundle first, then each attestation's, in order.
///
/// # Errors
///
/// As [`sign`]; the first error, though the other bundles may be
/// attached.
pub async fn sign_and_attest(
    registry: &dyn Registry,
    repository: &Repository,
    subject: &Descriptor,
    predicates: &[(&str, &serde_json::Value)],
    signer: &dyn Signer,
    ctx: &CallContext,
) -> Result<Vec<Attached>> {
    let empty = serde_json::Value::Object(serde_json::Map::new());
    let all = std::iter::once((PREDICATE_COSIGN_SIGN, &empty)).chain(predicates.iter().copied());
    let writes = all.map(|(t, p)| attest(registry, repository, subject, t, p, signer, ctx));
    futures_util::future::join_all(writes)
        .await
        .into_iter()
        .collect()
}

/// The public key hint of a key whose identity is `SHA256:<hex>` of its
/// public key: that hash in base64, as cosign writes it; any other
/// identity as it is.
fn hint(identity: &str) -> String {
    identity
        .strip_prefix("SHA256:")
        .filter(|h| h.len() == 64)
        .and_then(|h| {
            (0..32)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()
        })
        .map_or_else(|| identity.to_owned(), |bytes| B64.encode(bytes))
}

/// The base64 body of a PEM certificate (its DER, base64-encoded).
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect()
}

/// How many bundles one check pulls at once.
const PULLS_AT_ONCE: usize = 8;

/// What the image's bundles of the wanted predicate types gave: each
/// valid one's predicate type, signer and predicate, and why each other
/// one failed (`bundle N (`type`): why`).
pub(crate) struct Checked {
    pub(crate) found: Vec<(String, super::cosign::VerifiedAttestation)>,
    pub(crate) failures: Vec<String>,
}

/// Checks the Sigstore bundles among the referrers of the image `digest`
/// whose predicate type is one of `predicate_types`. A registry that
/// lists no referrers has none.
pub(crate) async fn check(
    registry: &dyn Registry,
    repository: &Repository,
    digest: &Digest,
    predicate_types: &[&str],
    verifier: &dyn Verifier,
    ctx: &CallContext,
) -> Result<Checked> {
    let mut checked = Checked {
        found: Vec::new(),
        failures: Vec::new(),
    };
    let listed = match registry
        .referrers(repository, digest, Some(MEDIA_TYPE_BUNDLE), ctx)
        .await
    {
        Ok(listed) => listed,
        Err(e) if e.kind() == ErrorKind::Unsupported => return Ok(checked),
        Err(e) => return Err(e),
    };
    let scratch = tempfile::Builder::new()
        .prefix("paragon-bundle-")
        .tempdir()
        .map_err(|source| crate::Error::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    // The list names each bundle's predicate type; the others are not
    // fetched. The rest are pulled at once, and checked in list order.
    let mut pulls = Vec::new();
    for (i, referrer) in listed.iter().enumerate() {
        let said = referrer.annotations.get(ANNOTATION_PREDICATE_TYPE);
        if said.is_some_and(|t| !predicate_types.contains(&t.as_str())) {
            continue;
        }
        let dir = scratch.path().join(format!("bundle-{i}"));
        pulls.push(async move {
            let reference = Reference::Digest(referrer.digest.clone());
            let pulled = registry.pull(repository, &reference, &dir, ctx).await;
            (i, referrer, dir, pulled)
        });
    }
    let pulled: Vec<_> = futures_util::stream::iter(pulls)
        .buffered(PULLS_AT_ONCE)
        .collect()
        .await;
    for (i, referrer, dir, pulled) in pulled {
        let Some(image) = pulled? else {
            checked.failures.push(format!(
                "bundle {} ({}): the registry lists it but does not hold it",
                i + 1,
                referrer.digest
            ));
            continue;
        };
        let outcome = read(&dir, &image.digest).and_then(|bytes| {
            check_bundle(&bytes, digest, verifier).and_then(|(t, v)| {
                if predicate_types.contains(&t.as_str()) {
                    Ok((t, v))
                } else {
                    Err(format!("(`{t}`) its listing named another predicate type"))
                }
            })
        });
        match outcome {
            Ok(v) => checked.found.push(v),
            Err(why) => checked.failures.push(format!("bundle {}: {why}", i + 1)),
        }
    }
    Ok(checked)
}

/// The bundle blob of the bundle manifest `manifest` pulled into `dir`.
fn read(dir: &std::path::Path, manifest: &Digest) -> std::result::Result<Vec<u8>, String> {
    let layout = OciLayout::open(dir).map_err(|e| format!("its manifest cannot be read: {e}"))?;
    let manifest = layout
        .manifest(manifest)
        .map_err(|e| format!("its manifest cannot be read: {e}"))?;
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == MEDIA_TYPE_BUNDLE)
        .ok_or("its manifest has no bundle layer")?;
    layout
        .read_blob(&layer.digest)
        .map_err(|e| format!("its bundle cannot be read: {e}"))
}

/// One bundle: its statement's predicate type, who signed it and its
/// predicate, or why it does not count.
fn check_bundle(
    bytes: &[u8],
    digest: &Digest,
    verifier: &dyn Verifier,
) -> std::result::Result<(String, super::cosign::VerifiedAttestation), String> {
    #[derive(Deserialize)]
    struct Bundle {
        #[serde(rename = "mediaType")]
        media_type: String,
        #[serde(rename = "verificationMaterial", default)]
        material: Material,
        #[serde(rename = "dsseEnvelope")]
        envelope: Option<serde_json::Value>,
    }
    #[derive(Deserialize, Default)]
    struct Material {
        certificate: Option<Certificate>,
    }
    #[derive(Deserialize)]
    struct Certificate {
        #[serde(rename = "rawBytes")]
        raw_bytes: String,
    }
    let bundle: Bundle =
        serde_json::from_slice(bytes).map_err(|e| format!("not a Sigstore bundle: {e}"))?;
    if !bundle
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(format!(
            "its media type `{}` is not a Sigstore bundle's",
            bundle.media_type
        ));
    }
    let envelope = bundle
        .envelope
        .ok_or("it holds a message signature, not the DSSE envelope cosign signs images with")?;
    let certificate = bundle.material.certificate.map(|c| {
        let body: Vec<&str> = c
            .raw_bytes
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).unwrap_or_default())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            body.join("\n")
        )
    });
    let envelope = serde_json::to_vec(&envelope).expect("a JSON value serializes");
    super::cosign::check_envelope(&envelope, digest, certificate, verifier).map_err(|(t, why)| {
        match t {
            Some(t) => format!("(`{t}`) {why}"),
            None => why,
        }
    })
}

/// The signature of a bundle's envelope, with the bundle's certificate
/// when it has one.
pub(crate) fn signature(bytes: Vec<u8>, certificate: Option<&String>) -> Signature {
    match certificate {
        Some(c) => Signature::new(bytes).with_certificate(c.clone(), None),
        None => Signature::new(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::build::testing::minimal_image;
    use crate::plugin::build::BuiltImage;
    use crate::plugin::sign::cosign::{self, pae};
    use crate::plugin::sign::testing::KeyedDigest;
    use crate::{Error, MemoryRegistry};

    struct Rig {
        registry: MemoryRegistry,
        repository: Repository,
        image: BuiltImage,
        other: BuiltImage,
        _dir: tempfile::TempDir,
    }

    async fn rig() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let image = minimal_image(&dir.path().join("a"), "a").unwrap();
        let other = minimal_image(&dir.path().join("b"), "b").unwrap();
        let registry = MemoryRegistry::new();
        let repository: Repository = "shop/app".parse().unwrap();
        for i in [&image, &other] {
            registry
                .push(i, &repository, &[], &CallContext::new())
                .await
                .unwrap();
        }
        Rig {
            registry,
            repository,
            image,
            other,
            _dir: dir,
        }
    }

    /// Attaches `bundle` to the rig's image as a bundle referrer.
    async fn attach_raw(r: &Rig, bundle: &serde_json::Value, predicate_type: &str) {
        let artifact = Artifact::new(MEDIA_TYPE_BUNDLE, r.image.descriptor())
            .with_blob(MEDIA_TYPE_BUNDLE, serde_json::to_vec(bundle).unwrap())
            .with_annotation(ANNOTATION_PREDICATE_TYPE, predicate_type);
        referrers::attach(&r.registry, &r.repository, &artifact, &CallContext::new())
            .await
            .unwrap();
    }

    fn not_verified(err: Error) -> String {
        match err {
            Error::NotVerified { reason, .. } => reason,
            other => panic!("not a NotVerified: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_bundle_signature_verifies_and_is_written_as_cosign_3_writes_it() {
        let r = rig().await;
        let (key, ctx) = (KeyedDigest::new("k"), CallContext::new());
        let attached = sign(
            &r.registry,
            &r.repository,
            &r.image.descriptor(),
            &key,
            &ctx,
        )
        .await
        .unwrap();
        let listed = r
            .registry
            .referrers(
                &r.repository,
                &r.image.digest,
                Some(MEDIA_TYPE_BUNDLE),
                &ctx,
            )
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].digest, attached.digest);
        let notes = &listed[0].annotations;
        assert_eq!(notes[ANNOTATION_CONTENT], "dsse-envelope");
        assert_eq!(notes[ANNOTATION_PREDICATE_TYPE], PREDICATE_COSIGN_SIGN);
        assert!(notes[ANNOTATION_CREATED].ends_with('Z'), "{notes:?}");
        let verified = cosign::verify(&r.registry, &r.repository, &r.image.digest, &key, &ctx)
            .await
            .unwrap();
        assert_eq!(verified.identities, ["keyed:k"]);
        assert!(verified.references.is_empty());
        // It signs this image only.
        let err = cosign::verify(&r.registry, &r.repository, &r.other.digest, &key, &ctx)
            .await
            .unwrap_err();
        assert!(
            not_verified(err).contains("no such Sigstore bundle among its referrers"),
            "the other image has nothing"
        );
    }

    #[tokio::test]
    async fn bundle_and_legacy_signatures_count_together() {
        let r = rig().await;
        let ctx = CallContext::new();
        let (old, new) = (KeyedDigest::new("old"), KeyedDigest::new("new"));
        cosign::sign(
            &r.registry,
            &r.repository,
            &r.image.digest,
            "r/shop/app",
            &old,
            &ctx,
        )
        .await
        .unwrap();
        sign(
            &r.registry,
            &r.repository,
            &r.image.descriptor(),
            &new,
            &ctx,
        )
        .await
        .unwrap();
        struct Both(KeyedDigest, KeyedDigest);
        impl std::fmt::Debug for Both {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Both")
            }
        }
        impl Verifier for Both {
            fn accepted(&self) -> Vec<String> {
                vec![self.0.identity(), self.1.identity()]
            }
            fn verify(&self, payload: &[u8], signature: &Signature) -> Option<String> {
                self.0
                    .verify(payload, signature)
                    .or_else(|| self.1.verify(payload, signature))
            }
        }
        let verified = cosign::verify(
            &r.registry,
            &r.repository,
            &r.image.digest,
            &Both(old, new),
            &ctx,
        )
        .await
        .unwrap();
        assert_eq!(verified.identities, ["keyed:old", "keyed:new"]);
        assert_eq!(verified.references, ["r/shop/app"]);
    }

    #[tokio::test]
    async fn bundle_attestations_verify_by_predicate_type() {
        let r = rig().await;
        let (key, ctx) = (KeyedDigest::new("k"), CallContext::new());
        let provenance = serde_json::json!({ "builder": "paragon" });
        attest(
            &r.registry,
            &r.repository,
            &r.image.descriptor(),
            "https://slsa.dev/provenance/v1",
            &provenance,
            &key,
            &ctx,
        )
        .await
        .unwrap();
        let found = cosign::verify_attestations(
            &r.registry,
            &r.repository,
            &r.image.digest,
            "https://slsa.dev/provenance/v1",
            &key,
            &ctx,
        )
        .await
        .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].predicate, provenance);
        let err = cosign::verify_all_attestations(
            &r.registry,
            &r.repository,
            &r.image.digest,
            &[
                "https://slsa.dev/provenance/v1",
                "https://example.test/verdict",
            ],
            &key,
            &ctx,
        )
        .await
        .unwrap_err();
        let reason = not_verified(err);
        assert!(
            reason.contains("no `https://example.test/verdict` attestation"),
            "{reason}"
        );
        // A signature bundle is not an attestation of the types asked for,
        // and the other image has none at all.
        sign(
            &r.registry,
            &r.repository,
            &r.other.descriptor(),
            &key,
            &ctx,
        )
        .await
        .unwrap();
        let err = cosign::verify_attestations(
            &r.registry,
            &r.repository,
            &r.other.digest,
            "https://slsa.dev/provenance/v1",
            &key,
            &ctx,
        )
        .await
        .unwrap_err();
        let reason = not_verified(err);
        assert!(
            reason.contains("no tag") && reason.contains("no such Sigstore bundle"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn forged_bundles_are_refused_with_their_reason() {
        let r = rig().await;
        let (key, ctx) = (KeyedDigest::new("k"), CallContext::new());
        // Another key's bundle.
        sign(
            &r.registry,
            &r.repository,
            &r.image.descriptor(),
            &KeyedDigest::new("stranger"),
            &ctx,
        )
        .await
        .unwrap();
        // A valid signature of the other image, attached to this one.
        let statement = serde_json::json!({
            "_type": STATEMENT_TYPE,
            "subject": [{ "digest": { "sha256": r.other.digest.hex() } }],
            "predicateType": PREDICATE_COSIGN_SIGN,
            "predicate": {},
        });
        let payload = serde_json::to_vec(&statement).unwrap();
        let sig = key
            .sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload), &ctx)
            .await
            .unwrap();
        let moved = serde_json::json!({
            "mediaType": MEDIA_TYPE_BUNDLE,
            "verificationMaterial": { "publicKey": { "hint": "k" } },
            "dsseEnvelope": {
                "payload": B64.encode(&payload),
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "signatures": [{ "sig": B64.encode(&sig.bytes) }],
            },
        });
        attach_raw(&r, &moved, PREDICATE_COSIGN_SIGN).await;
        // A message signature where a DSSE envelope should be.
        let message = serde_json::json!({
            "mediaType": MEDIA_TYPE_BUNDLE,
            "messageSignature": { "messageDigest": { "algorithm": "SHA2_256", "digest": "" }, "signature": "" },
        });
        attach_raw(&r, &message, PREDICATE_COSIGN_SIGN).await;
        // Not a bundle at all.
        attach_raw(&r, &serde_json::json!(["no"]), PREDICATE_COSIGN_SIGN).await;
        let err = cosign::verify(&r.registry, &r.repository, &r.image.digest, &key, &ctx)
            .await
            .unwrap_err();
        let reason = not_verified(err);
        for why in [
            "not signed by an accepted key",
            "its subject is another image",
            "not the DSSE envelope",
            "not a Sigstore bundle",
        ] {
            assert!(reason.contains(why), "`{why}` missing: {reason}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_bundle_signers_each_keep_their_signature() {
        let r = rig().await;
        let ctx = CallContext::new();
        let keys: Vec<KeyedDigest> = (0..8).map(|i| KeyedDigest::new(format!("k{i}"))).collect();
        let mut signing = tokio::task::JoinSet::new();
        for k in &keys {
            let (registry, repository) = (r.registry.clone(), r.repository.clone());
            let (subject, key) = (r.image.descriptor(), k.clone());
            signing.spawn(async move {
                sign(&registry, &repository, &subject, &key, &CallContext::new()).await
            });
        }
        while let Some(signed) = signing.join_next().await {
            signed.unwrap().unwrap();
        }
        for k in &keys {
            cosign::verify(&r.registry, &r.repository, &r.image.digest, k, &ctx)
                .await
                .unwrap_or_else(|e| panic!("{} lost its signature: {e}", k.identity()));
        }
    }

    #[test]
    fn a_keys_hint_is_its_hash_in_base64() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(
            hint(&format!("SHA256:{hex}")),
            B64.encode([vec![0u8; 31], vec![0xff]].concat())
        );
        assert_eq!(hint("keyed:k"), "keyed:k");
    }
}
