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
//! manifest; the signatures already there stay.
//!
//! An attestation ([`attest`], [`attest_all`]) is an in-toto Statement v1
//! about the image in a DSSE envelope (media type
//! `application/vnd.dsse.envelope.v1+json`) whose signature covers DSSE's
//! pre-authentication encoding ([`pae`]); it is a layer of the manifest
//! tagged `sha256-<hex>.att`, annotated with its `predicateType`.
//! [`verify_attestations`] checks the envelope's signature, the
//! statement's type, predicate type and subject.
//!
//! The keys are the [`Signer`]'s and [`Verifier`]'s business
//! (`paragon_registry::cosign`, feature `cosign`, has ECDSA P-256 keys).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};
use crate::model::oci::{
    to_canonical_json, Descriptor, Digest, ImageManifest, OciLayout, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_MANIFEST,
};
use crate::plugin::build::BuiltImage;
use crate::plugin::context::CallContext;
use crate::plugin::registry::{Reference, Registry, Repository, Tag};
use crate::plugin::sign::{Signature, Signer, Verifier};

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
/// Signers racing on one image each keep their signature: the
/// signature image is written only over the one this signer read where
/// the registry writes conditionally ([`Registry::push_if`]), and
/// elsewhere read back after the registry's [tag-settle
/// time](Registry::tag_settle) and written again while this signature is
/// missing ([`Error::Conflict`] when other writers keep replacing it).
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
    let body = payload(identity, digest, annotations);
    let signature = signer.sign(&body, ctx).await?;
    let mut annotations = BTreeMap::new();
    annotations.insert(
        ANNOTATION_SIGNATURE.to_owned(),
        B64.encode(&signature.bytes),
    );
    if let Some(cert) = &signature.certificate {
        annotations.insert(ANNOTATION_CERTIFICATE.into(), cert.clone());
    }
    if let Some(chain) = &signature.chain {
        annotations.insert(ANNOTATION_CHAIN.into(), chain.clone());
    }
    let tag = signature_tag(digest);
    let layer = Layer {
        media_type: MEDIA_TYPE_SIMPLE_SIGNING,
        body: &body,
        annotations,
    };
    let (manifest, count) = append(registry, repository, &tag, vec![layer], ctx).await?;
    tracing::info!(%digest, tag = %tag, signatures = count, identity = %signer.identity(), "signed");
    Ok(Signed {
        digest: digest.clone(),
        tag: tag.to_string(),
        manifest,
        signatures: count,
        identity: signer.identity(),
    })
}

/// A layer to add to a signature or attestation image.
struct Layer<'a> {
    media_type: &'static str,
    body: &'a [u8],
    annotations: BTreeMap<String, String>,
}

/// How many times [`append`] writes again after other writers replaced
/// its layers, before it gives up with [`Error::Conflict`].
const MAX_REWRITES: usize = 8;

/// How many times [`append`] reads the tag again after a conditional
/// write found that another writer had moved it, before it gives up with
/// [`Error::Conflict`]. Each such round lost to a writer whose layers are
/// now in, so this bounds the writers racing on one image, not the time.
const MAX_SWAPS: usize = 64;

/// Adds `new` layers to the image tagged `tag` (made when absent), keeping
/// the layers there (the same layer twice is kept once), and pushes it
/// under `tag`: the digest of the manifest the tag then names and its
/// number of layers. Nothing is written when the tag already holds every
/// new layer.
///
/// Two writers that read the tag together each write back their own
/// list. Where the registry writes conditionally
/// ([`Registry::push_if`]: an OCI layout, memory), the write moves the tag
/// only from the image this one read, and a writer that finds it moved
/// reads again. Where it cannot (the OCI distribution API), cosign's
/// layout has no conditional write: after its write, this one waits the
/// registry's [tag-settle time](Registry::tag_settle), reads the tag
/// again, and writes again while its layers are missing, so that of
/// writers that each write within that wait after their read, none loses
/// its layers.
async fn append(
    registry: &dyn Registry,
    repository: &Repository,
    tag: &Tag,
    new: Vec<Layer<'_>>,
    ctx: &CallContext,
) -> Result<(Digest, usize)> {
    let scratch = scratch()?;
    let mut conditional = true;
    // Unconditional writes made, and conditional ones refused.
    let (mut writes, mut swaps) = (0, 0);
    for round in 0.. {
        let dir = scratch.path().join(format!("image-{round}"));
        let existing = registry
            .pull(repository, &Reference::Tag(tag.clone()), &dir, ctx)
            .await?;
        let layout = OciLayout::create(&dir)?;
        let (mut layers, held) = match &existing {
            Some(image) => (layout.manifest(&image.digest)?.layers, Some(&image.digest)),
            None => (Vec::new(), None),
        };
        let mut missing = 0;
        for layer in &new {
            let (body_digest, size) = layout.write_blob(layer.body)?;
            let mut descriptor = Descriptor::new(layer.media_type, body_digest, size);
            descriptor.annotations = layer.annotations.clone();
            if !layers.contains(&descriptor) {
                layers.push(descriptor);
                missing += 1;
            }
        }
        if let (0, Some(held)) = (missing, held) {
            return Ok((held.clone(), layers.len()));
        }
        if writes == MAX_REWRITES || swaps == MAX_SWAPS {
            break;
        }
        let count = layers.len();
        let manifest = signature_manifest(&layout, layers)?;
        let (manifest_digest, manifest_size) = layout.write_blob(&to_canonical_json(&manifest))?;
        let root = Descriptor::new(MEDIA_TYPE_MANIFEST, manifest_digest, manifest_size);
        layout.set_ref("image", &root)?;
        let image = BuiltImage::from_layout(&dir, Some("image"))?;
        if conditional {
            match registry.push_if(&image, repository, tag, held, ctx).await {
                Ok(_) => return Ok((image.digest, count)),
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    swaps += 1;
                    tracing::debug!(
                        registry = %registry.location(), %repository, tag = %tag,
                        "another writer moved the tag since it was read; reading it again"
                    );
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Unsupported => conditional = false,
                Err(e) => return Err(e),
            }
        }
        if writes > 0 {
            tracing::info!(
                registry = %registry.location(), %repository, tag = %tag,
                "another writer replaced the layers written here; writing them again"
            );
        }
        match registry
            .push(&image, repository, std::slice::from_ref(tag), ctx)
            .await
        {
            Ok(_) => {}
            // Another writer's image is under the tag already: read it again.
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            Err(e) => return Err(e),
        }
        writes += 1;
        // A writer that read the tag before this write may still write
        // over it: read it back once such a write has landed.
        tokio::select! {
            _ = tokio::time::sleep(registry.tag_settle()) => {}
            _ = ctx.cancel.cancelled() => {
                return Err(Error::Cancelled { tool: format!("{} at {}", registry.name(), registry.location()) });
            }
        }
    }
    let times = if conditional { swaps } else { writes };
    Err(Error::Conflict {
        target: format!("registry {}", registry.location()),
        message: format!(
            "other writers replaced {repository}:{tag} {times} times; the layers written here are not in it"
        ),
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
    Ok(ImageManifest::new(
        Descriptor::new(MEDIA_TYPE_CONFIG, config_digest, config_size),
        layers,
    ))
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
    let checked = Checked {
        registry,
        repository,
        digest,
        verifier,
        tag: signature_tag(digest),
        kind: "signature",
    };
    // The signature image and the bundles are read at once.
    let legacy = checked.layers(
        ctx,
        |_| true,
        |layout, layer| check_layer(layout, layer, digest, verifier),
    );
    let bundles = super::bundle::check(
        registry,
        repository,
        digest,
        &[super::bundle::PREDICATE_COSIGN_SIGN],
        verifier,
        ctx,
    );
    let (legacy, bundles) = futures_util::future::join(legacy, bundles).await;
    let (legacy, bundles) = (legacy?, bundles?);
    let tagged = legacy.is_some();
    let (legacy, mut failures) = legacy.unwrap_or_default();
    failures.extend(bundles.failures);
    if legacy.is_empty() && bundles.found.is_empty() {
        return Err(checked.nothing(tagged, failures));
    }
    let mut verified = Verified {
        digest: digest.clone(),
        identities: Vec::new(),
        references: Vec::new(),
    };
    let bundled = bundles.found.into_iter().map(|(_, v)| (v.identity, None));
    let legacy = legacy.into_iter().map(|(i, r)| (i, Some(r)));
    for (identity, reference) in legacy.chain(bundled) {
        if !verified.identities.contains(&identity) {
            verified.identities.push(identity);
        }
        if let Some(reference) = reference.filter(|r| !verified.references.contains(r)) {
            verified.references.push(reference);
        }
    }
    Ok(verified)
}

/// The layers of a signature or attestation image, checked.
struct Checked<'a> {
    registry: &'a dyn Registry,
    repository: &'a Repository,
    digest: &'a Digest,
    verifier: &'a dyn Verifier,
    tag: Tag,
    /// `signature` or `attestation`, for messages.
    kind: &'static str,
}

impl Checked<'_> {
    /// Pulls the image tagged `tag` and checks each layer `wanted`
    /// selects: what the checks gave, and why each failed check failed;
    /// `None` when there is no such image.
    async fn layers<T>(
        &self,
        ctx: &CallContext,
        wanted: impl Fn(&Descriptor) -> bool,
        check: impl Fn(&OciLayout, &Descriptor) -> std::result::Result<T, String>,
    ) -> Result<Option<(Vec<T>, Vec<String>)>> {
        let scratch = scratch()?;
        let dir = scratch.path().join("image");
        let reference = Reference::Tag(self.tag.clone());
        let Some(image) = self
            .registry
            .pull(self.repository, &reference, &dir, ctx)
            .await?
        else {
            return Ok(None);
        };
        let layout = OciLayout::open(&dir)?;
        let manifest = layout.manifest(&image.digest)?;
        let (mut found, mut failures) = (Vec::new(), Vec::new());
        for (i, layer) in manifest.layers.iter().enumerate() {
            if !wanted(layer) {
                continue;
            }
            match check(&layout, layer) {
                Ok(v) => found.push(v),
                Err(why) => failures.push(format!("{} {}: {why}", self.kind, i + 1)),
            }
        }
        Ok(Some((found, failures)))
    }

    /// Why nothing verified: the failures, or what is missing.
    fn nothing(&self, tagged: bool, failures: Vec<String>) -> Error {
        self.not_verified(if !failures.is_empty() {
            failures.join("; ")
        } else if tagged {
            format!("{} holds no {}", self.tag, self.kind)
        } else {
            format!(
                "it has no {} (no tag {}, and no such Sigstore bundle among its referrers)",
                self.kind, self.tag
            )
        })
    }

    fn not_verified(&self, reason: String) -> Error {
        Error::NotVerified {
            image: format!("{}@{}", self.repository, self.digest),
            reason,
            accepted: self.verifier.accepted(),
        }
    }
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

/// The media type of a DSSE envelope: an attestation layer.
pub const MEDIA_TYPE_DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// The annotation naming an attestation layer's predicate type.
pub const ANNOTATION_PREDICATE_TYPE: &str = "predicateType";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The tag of `digest`'s attestations: `sha256-<hex>.att`.
pub fn attestation_tag(digest: &Digest) -> Tag {
    Tag::new(format!("{}-{}.att", digest.algorithm(), digest.hex()))
        .expect("a digest makes a valid tag")
}

/// DSSE's pre-authentication encoding of a payload: what is signed.
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// `statement` serialized and signed by `signer` as a DSSE envelope's
/// payload is (over its [`pae`]): the payload and the signature.
pub(crate) async fn sign_statement(
    statement: &serde_json::Value,
    signer: &dyn Signer,
    ctx: &CallContext,
) -> Result<(Vec<u8>, Signature)> {
    let payload = serde_json::to_vec(statement).expect("a JSON value serializes");
    let signature = signer
        .sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload), ctx)
        .await?;
    Ok((payload, signature))
}

/// An in-toto Statement v1 about the image `name@digest`.
pub fn statement(
    name: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "name": name, "digest": { digest.algorithm(): digest.hex() } }],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// What [`attest`] or [`attest_all`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attested {
    /// The attested image.
    pub digest: Digest,
    /// The attestation manifest's tag (`sha256-<hex>.att`).
    pub tag: String,
    /// The attestation manifest's digest.
    pub manifest: Digest,
    /// How many attestations the manifest now holds.
    pub attestations: usize,
    /// The predicate types attested, in order.
    pub predicate_types: Vec<String>,
}

/// Attests `predicate` (of `predicate_type`) about the image `digest` in
/// `repository`, named `name`: an in-toto Statement v1 in a DSSE envelope
/// signed by `signer`, stored as cosign stores attestations (a layer of
/// the manifest tagged `sha256-<hex>.att`, with a `predicateType`
/// annotation), keeping the attestations already there.
///
/// # Errors
///
/// The registry's and the signer's errors.
#[allow(clippy::too_many_arguments)]
pub async fn attest(
    registry: &dyn Registry,
    repository: &Repository,
    digest: &Digest,
    name: &str,
    predicate_type: &str,
    predicate: &serde_json::Value,
    signer: &dyn Signer,
    ctx: &CallContext,
) -> Result<Attested> {
    let one = [(predicate_type, predicate)];
    attest_all(registry, repository, digest, name, &one, signer, ctx).await
}

/// [`attest`] for several predicates at once: one read and one write of
/// the attestation manifest for all of them.
///
/// # Errors
///
/// The registry's and the signer's errors.
pub async fn attest_all(
    registry: &dyn Registry,
    repository: &Repository,
    digest: &Digest,
    name: &str,
    predicates: &[(&str, &serde_json::Value)],
    signer: &dyn Signer,
    ctx: &CallContext,
) -> Result<Attested> {
    let mut envelopes = Vec::with_capacity(predicates.len());
    for (predicate_type, predicate) in predicates {
        let statement = statement(name, digest, predicate_type, predicate);
        let (body, signature) = sign_statement(&statement, signer, ctx).await?;
        let envelope = serde_json::json!({
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "payload": B64.encode(&body),
            "signatures": [{ "keyid": "", "sig": B64.encode(&signature.bytes) }],
        });
        let mut annotations = BTreeMap::new();
        annotations.insert(ANNOTATION_SIGNATURE.to_owned(), String::new());
        annotations.insert(
            ANNOTATION_PREDICATE_TYPE.to_owned(),
            (*predicate_type).to_owned(),
        );
        if let Some(cert) = &signature.certificate {
            annotations.insert(ANNOTATION_CERTIFICATE.into(), cert.clone());
        }
        let bytes = serde_json::to_vec(&envelope).expect("an envelope serializes");
        envelopes.push((bytes, annotations));
    }
    let layers = envelopes
        .iter()
        .map(|(body, annotations)| Layer {
            media_type: MEDIA_TYPE_DSSE,
            body,
            annotations: annotations.clone(),
        })
        .collect();
    let tag = attestation_tag(digest);
    let (manifest, count) = append(registry, repository, &tag, layers, ctx).await?;
    let predicate_types: Vec<String> = predicates.iter().map(|(t, _)| (*t).to_owned()).collect();
    tracing::info!(%digest, tag = %tag, ?predicate_types, "attested");
    Ok(Attested {
        digest: digest.clone(),
        tag: tag.to_string(),
        manifest,
        attestations: count,
        predicate_types,
    })
}

/// An attestation that verified.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VerifiedAttestation {
    /// The accepted identity that signed it.
    pub identity: String,
    /// Its predicate.
    pub predicate: serde_json::Value,
}

/// The attestations of `predicate_type` about the image `digest` in
/// `repository` whose DSSE signature an identity `verifier` accepts made
/// and whose statement names this digest; at least one.
///
/// # Errors
///
/// [`Error::NotVerified`] naming the image, why each attestation of that
/// type failed (or that there is none), and the accepted identities; the
/// registry's errors.
pub async fn verify_attestations(
    registry: &dyn Registry,
    repository: &Repository,
    digest: &Digest,
    predicate_type: &str,
    verifier: &dyn Verifier,
    ctx: &CallContext,
) -> Result<Vec<VerifiedAttestation>> {
    let mut all = verify_all_attestations(
        registry,
        repository,
        digest,
        &[predicate_type],
        verifier,
        ctx,
    )
    .await?;
    Ok(all.pop().map(|(_, found)| found).unwrap_or_default())
}

/// [`verify_attestations`] for several predicate types at once, from one
/// read of the attestation manifest: for each type, in order, the
/// attestations that verified (at least one each).
///
/// # Errors
///
/// [`Error::NotVerified`] naming the image, each type without a valid
/// attestation and why its attestations failed, and the accepted
/// identities; the registry's errors.
pub async fn verify_all_attestations(
    registry: &dyn Registry,
    repository: &Repository,
    digest: &Digest,
    predicate_types: &[&str],
    verifier: &dyn Verifier,
    ctx: &CallContext,
) -> Result<Vec<(String, Vec<VerifiedAttestation>)>> {
    let checked = Checked {
        registry,
        repository,
        digest,
        verifier,
        tag: attestation_tag(digest),
        kind: "attestation",
    };
    let type_of = |layer: &Descriptor| {
        layer
            .annotations
            .get(ANNOTATION_PREDICATE_TYPE)
            .cloned()
            .unwrap_or_default()
    };
    // The attestation image and the bundles are read at once.
    let legacy = checked.layers(
        ctx,
        |layer| predicate_types.contains(&type_of(layer).as_str()),
        |layout, layer| {
            let t = type_of(layer);
            check_attestation(layout, layer, digest, &t, verifier)
                .map(|v| (t.clone(), v))
                .map_err(|why| format!("(`{t}`) {why}"))
        },
    );
    let bundles =
        super::bundle::check(registry, repository, digest, predicate_types, verifier, ctx);
    let (legacy, bundles) = futures_util::future::join(legacy, bundles).await;
    let (legacy, bundles) = (legacy?, bundles?);
    let tagged = legacy.is_some();
    let (mut found, mut failures) = legacy.unwrap_or_default();
    found.extend(bundles.found);
    failures.extend(bundles.failures);
    if !tagged && found.is_empty() && failures.is_empty() && !predicate_types.is_empty() {
        return Err(checked.nothing(tagged, failures));
    }
    let mut out = Vec::with_capacity(predicate_types.len());
    let mut missing = Vec::new();
    for t in predicate_types {
        let of_type: Vec<VerifiedAttestation> = found
            .iter()
            .filter(|(ft, _)| ft == t)
            .map(|(_, v)| v.clone())
            .collect();
        if of_type.is_empty() {
            missing.push(*t);
        }
        out.push(((*t).to_owned(), of_type));
    }
    if !missing.is_empty() {
        let mut reasons: Vec<String> = missing
            .iter()
            .filter(|t| !failures.iter().any(|f| f.contains(&format!("(`{t}`)"))))
            .map(|t| format!("it has no `{t}` attestation"))
            .collect();
        reasons.extend(
            failures
                .into_iter()
                .filter(|f| missing.iter().any(|t| f.contains(&format!("(`{t}`)")))),
        );
        return Err(checked.not_verified(reasons.join("; ")));
    }
    Ok(out)
}

/// One attestation layer: who signed it and its predicate, or why it
/// does not count.
fn check_attestation(
    layout: &OciLayout,
    layer: &Descriptor,
    digest: &Digest,
    predicate_type: &str,
    verifier: &dyn Verifier,
) -> std::result::Result<VerifiedAttestation, String> {
    if layer.media_type != MEDIA_TYPE_DSSE {
        return Err(format!(
            "media type `{}` is not a DSSE envelope",
            layer.media_type
        ));
    }
    let bytes = layout
        .read_blob(&layer.digest)
        .map_err(|e| format!("its envelope cannot be read: {e}"))?;
    let (found, verified) =
        check_envelope(&bytes, digest, None, verifier).map_err(|(_, why)| why)?;
    if found != predicate_type {
        return Err(format!("its statement's predicate type is `{found}`"));
    }
    Ok(verified)
}

/// A DSSE envelope of an in-toto statement about `digest`: the statement's
/// predicate type, who signed it and its predicate, or why it does not
/// count (with the predicate type when the statement was read).
/// `certificate` is the signing certificate a bundle carries.
pub(crate) fn check_envelope(
    bytes: &[u8],
    digest: &Digest,
    certificate: Option<String>,
    verifier: &dyn Verifier,
) -> std::result::Result<(String, VerifiedAttestation), (Option<String>, String)> {
    let early = |why: String| (None, why);
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "payloadType")]
        payload_type: String,
        payload: String,
        signatures: Vec<DsseSignature>,
    }
    #[derive(Deserialize)]
    struct DsseSignature {
        sig: String,
    }
    #[derive(Deserialize)]
    struct Statement {
        #[serde(rename = "_type")]
        kind: String,
        subject: Vec<Subject>,
        #[serde(rename = "predicateType")]
        predicate_type: String,
        #[serde(default)]
        predicate: serde_json::Value,
    }
    #[derive(Deserialize)]
    struct Subject {
        digest: BTreeMap<String, String>,
    }
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| early(format!("not a DSSE envelope: {e}")))?;
    let body = B64
        .decode(envelope.payload.trim())
        .map_err(|e| early(format!("its payload is not base64: {e}")))?;
    let signed = pae(&envelope.payload_type, &body);
    let identity = envelope
        .signatures
        .iter()
        .filter_map(|s| B64.decode(s.sig.trim()).ok())
        .find_map(|sig| {
            verifier.verify(
                &signed,
                &super::bundle::signature(sig, certificate.as_ref()),
            )
        })
        .ok_or_else(|| early("not signed by an accepted key".into()))?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(early(format!(
            "its payload type is `{}`",
            envelope.payload_type
        )));
    }
    let statement: Statement = serde_json::from_slice(&body)
        .map_err(|e| early(format!("its payload is not an in-toto statement: {e}")))?;
    let late = |why: String| (Some(statement.predicate_type.clone()), why);
    if statement.kind != STATEMENT_TYPE {
        return Err(late(format!("its statement type is `{}`", statement.kind)));
    }
    let names_digest = statement
        .subject
        .iter()
        .any(|s| s.digest.get(digest.algorithm()).map(String::as_str) == Some(digest.hex()));
    if !names_digest {
        return Err(late("its subject is another image".into()));
    }
    Ok((
        statement.predicate_type,
        VerifiedAttestation {
            identity,
            predicate: statement.predicate,
        },
    ))
}
