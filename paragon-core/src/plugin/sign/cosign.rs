//! cosign's signature layout on any [`Registry`]: signing a pushed
//! image, and verifying an image before it is deployed, as `cosign sign`
//! writes and `cosign verify` reads them.
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
//! and the signature of those bytes (base64) is the layer's
//! `dev.cosignproject.cosign/signature` annotation; a keyless signer's
//! certificate and chain go in `dev.sigstore.cosign/certificate` and
//! `dev.sigstore.cosign/chain`. Signing again adds a layer to the
//! manifest; the signatures already there stay. The keys are the
//! [`Signer`]'s and [`Verifier`]'s business (`paragon_registry::cosign`,
//! feature `cosign`, has ECDSA P-256 keys).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::oci::{
    to_canonical_json, Descriptor, Digest, ImageManifest, OciLayout, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_MANIFEST,
};
use crate::plugin::build::BuiltImage;
use crate::plugin::context::CallContext;
use crate::plugin::registry::{Reference, Registry, Repository, Tag};
use crate::plugin::sign::{Signature, Signer, Verifier};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
/// The registry's and the signer's errors; [`Error::Io`] when no scratch
/// directory can be made.
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
        .map_err(|source| Error::Io {
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
    let not_verified = |reason: String| Error::NotVerified {
        image: format!("{repository}@{digest}"),
        reason,
        accepted: verifier.accepted(),
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
