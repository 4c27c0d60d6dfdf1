//! cosign signatures on the real registry: the layout skopeo sees, the
//! signatures checked by Python's `cryptography` (no code shared with the
//! signer), keys in cosign's encrypted format made by Python (scrypt and
//! NaCl secretbox), and the attacks verification must refuse.

use std::path::{Path, PathBuf};
use std::process::Command;

use paragon_core::plugin::build::testing::minimal_image;
use paragon_core::plugin::registry::{Reference, Registry};
use paragon_core::plugin::sign::{Signer, Verifier};
use paragon_core::{CallContext, Digest, Secret};
use paragon_registry::cosign::{self, CosignKeySigner, CosignKeyVerifier};

use crate::support::{client, repo, tags, tool, TestRegistry, PASSWORD, USER};

/// Writes a P-256 key in cosign's encrypted format (go-securesystemslib's
/// `encrypted`: scrypt N=32768 r=8 p=1, NaCl secretbox) to `dir/NAME.key`
/// and its public key to `dir/NAME.pub`, by Python.
fn python_encrypted_key(dir: &Path, name: &str, password: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let script = r#"
import base64, hashlib, json, os, sys, textwrap
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
import nacl.secret
password, out = sys.argv[1].encode(), sys.argv[2]
key = ec.generate_private_key(ec.SECP256R1())
der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption())
salt, nonce = os.urandom(32), os.urandom(24)
secret = hashlib.scrypt(password, salt=salt, n=32768, r=8, p=1, dklen=32, maxmem=64 << 20)
ciphertext = nacl.secret.SecretBox(secret).encrypt(der, nonce).ciphertext
b64 = lambda b: base64.b64encode(b).decode()
doc = {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": b64(salt)},
       "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)}, "ciphertext": b64(ciphertext)}
body = "\n".join(textwrap.wrap(b64(json.dumps(doc).encode()), 64))
open(out + ".key", "w").write(
    "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + body +
    "\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
open(out + ".pub", "wb").write(key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
"#;
    python(script, &[password.as_ref(), dir.join(name).as_os_str()]);
    (key, dir.join(format!("{name}.pub")))
}

/// Runs a Python script with `args`; its standard output. A failure (or
/// a missing module) fails the test.
fn python(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(tool("python3", "python3"))
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "this test needs python3 with cryptography and pynacl (pip install cryptography pynacl): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether Python's `cryptography` verifies `signature` (base64 DER) over
/// the file `payload` with the public key in `public`.
fn python_verifies(public: &Path, payload: &Path, signature: &str) -> bool {
    let script = r#"
import base64, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
try:
    key.verify(base64.b64decode(sys.argv[3]), open(sys.argv[2], "rb").read(), ec.ECDSA(hashes.SHA256()))
    print("verified")
except InvalidSignature:
    print("invalid")
"#;
    let out = python(
        script,
        &[public.as_os_str(), payload.as_os_str(), signature.as_ref()],
    );
    out.trim() == "verified"
}

/// Points `to` at what `from` names in `shop/app`, as an attacker who can
/// push would: one image's signatures or attestations under another's tag.
async fn copy_tag(r: &dyn Registry, from: &str, to: &paragon_core::Tag, scratch: &Path) {
    let ctx = CallContext::new();
    let repository = repo("shop/app");
    let image = r
        .pull(
            &repository,
            &Reference::Tag(from.parse().unwrap()),
            &scratch.join(format!("copy-{to}")),
            &ctx,
        )
        .await
        .unwrap()
        .unwrap();
    r.push(&image, &repository, std::slice::from_ref(to), &ctx)
        .await
        .unwrap();
}

/// `skopeo copy` of `addr/reference` into a `dir:` directory.
fn skopeo_dir(addr: &str, reference: &str, into: &Path) -> serde_json::Value {
    let out = Command::new(tool("skopeo", "skopeo"))
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("--src-creds={USER}:{PASSWORD}"))
        .arg(format!("docker://{addr}/{reference}"))
        .arg(format!("dir:{}", into.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(into.join("manifest.json")).unwrap()).unwrap()
}

#[ignore = "needs docker-registry, htpasswd, skopeo and python3 with cryptography and pynacl"]
#[tokio::test]
async fn signatures_are_laid_out_as_cosign_does_and_verify_independently() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let r = client(&registry.addr);
    let ctx = CallContext::new();
    let repository = repo("shop/app");
    let image = minimal_image(&dir.path().join("image"), "signed").unwrap();
    r.push(&image, &repository, &tags(&["1.0.0"]), &ctx)
        .await
        .unwrap();
    let identity = format!("{}/shop/app", registry.addr);

    let first = CosignKeySigner::generate();
    let first_pub = dir.path().join("first.pub");
    std::fs::write(&first_pub, first.public_key_pem()).unwrap();
    let (key, second_pub) = python_encrypted_key(dir.path(), "second", "correct horse");
    let second = CosignKeySigner::from_file(&key, Some(&Secret::new("correct horse"))).unwrap();

    let one = cosign::sign(&r, &repository, &image.digest, &identity, &first, &ctx)
        .await
        .unwrap();
    assert_eq!(
        (one.signatures, one.tag.as_str()),
        (1, format!("sha256-{}.sig", image.digest.hex()).as_str())
    );
    let two = cosign::sign(&r, &repository, &image.digest, &identity, &second, &ctx)
        .await
        .unwrap();
    assert_eq!(two.signatures, 2, "signing again appends");
    let again = cosign::sign(&r, &repository, &image.digest, &identity, &first, &ctx)
        .await
        .unwrap();
    assert_eq!(again.signatures, 2, "the same signature is stored once");

    // What skopeo sees: cosign's manifest, a payload per signature, each
    // signature checked by Python with the signer's public key.
    let copy = dir.path().join("skopeo");
    let manifest = skopeo_dir(&registry.addr, &format!("shop/app:{}", one.tag), &copy);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{manifest}");
    for (layer, public) in layers.iter().zip([&first_pub, &second_pub]) {
        assert_eq!(layer["mediaType"], cosign::MEDIA_TYPE_SIMPLE_SIGNING);
        let digest: Digest = layer["digest"].as_str().unwrap().parse().unwrap();
        let payload = copy.join(digest.hex());
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&payload).unwrap()).unwrap();
        assert_eq!(
            doc["critical"]["image"]["docker-manifest-digest"],
            image.digest.as_str()
        );
        assert_eq!(
            doc["critical"]["identity"]["docker-reference"],
            identity.as_str()
        );
        assert_eq!(doc["critical"]["type"], "cosign container image signature");
        let signature = layer["annotations"][cosign::ANNOTATION_SIGNATURE]
            .as_str()
            .unwrap();
        assert!(python_verifies(public, &payload, signature));
        let other = if public == &first_pub {
            &second_pub
        } else {
            &first_pub
        };
        assert!(!python_verifies(other, &payload, signature));
    }

    // Either key verifies; a third is refused, naming what it accepted.
    let both = CosignKeyVerifier::from_files(&[&first_pub, &second_pub]).unwrap();
    let verified = cosign::verify(&r, &repository, &image.digest, &both, &ctx)
        .await
        .unwrap();
    assert_eq!(verified.identities, [first.identity(), second.identity()]);
    assert_eq!(verified.references, std::slice::from_ref(&identity));
    let stranger = CosignKeySigner::generate();
    let refused = CosignKeyVerifier::from_pem(&stranger.public_key_pem()).unwrap();
    let err = cosign::verify(&r, &repository, &image.digest, &refused, &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not made by an accepted key"), "{err}");
    assert!(err.contains(&stranger.identity()), "{err}");
    assert!(err.contains(image.digest.as_str()), "{err}");

    // An image without signatures, and one whose signature manifest is
    // another image's (a payload naming another digest).
    let unsigned = minimal_image(&dir.path().join("unsigned"), "unsigned").unwrap();
    r.push(&unsigned, &repository, &tags(&["2.0.0"]), &ctx)
        .await
        .unwrap();
    let err = cosign::verify(&r, &repository, &unsigned.digest, &both, &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no signature"), "{err}");
    let to = cosign::signature_tag(&unsigned.digest);
    copy_tag(&r, &one.tag, &to, dir.path()).await;
    let err = cosign::verify(&r, &repository, &unsigned.digest, &both, &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("it signs {}, another image", image.digest)),
        "{err}"
    );
}

#[ignore = "needs python3 with cryptography and pynacl"]
#[test]
fn encrypted_keys_need_their_password() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = python_encrypted_key(dir.path(), "k", "s3cret");
    let signer = CosignKeySigner::from_file(&key, Some(&Secret::new("s3cret"))).unwrap();
    let expected = CosignKeyVerifier::from_files(&[&public]).unwrap();
    use paragon_core::plugin::sign::Verifier;
    assert_eq!(expected.accepted(), [signer.identity()]);
    let wrong = CosignKeySigner::from_file(&key, Some(&Secret::new("guess")))
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("password is wrong") && wrong.contains("k.key"),
        "{wrong}"
    );
    assert!(!wrong.contains("guess"), "{wrong}");
    let none = CosignKeySigner::from_file(&key, None)
        .unwrap_err()
        .to_string();
    assert!(none.contains("no password"), "{none}");
    // The password from a secret source, asked for only when the key
    // is encrypted.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ctx = CallContext::new();
    let source = OneSecret(Secret::new("s3cret"));
    let from_source = rt
        .block_on(CosignKeySigner::from_file_with_secret(
            &key,
            &source,
            "cosign#password",
            &ctx,
        ))
        .unwrap();
    assert_eq!(from_source.identity(), signer.identity());
    let plain = dir.path().join("plain.key");
    std::fs::write(&plain, signer.private_key_pem().expose()).unwrap();
    let refusing = OneSecret(Secret::new(""));
    let again = rt
        .block_on(CosignKeySigner::from_file_with_secret(
            &plain, &refusing, "unused", &ctx,
        ))
        .unwrap();
    assert_eq!(again.identity(), signer.identity());
}

/// A secret source holding one secret, named `cosign#password`; any other
/// name is an error.
#[derive(Debug)]
struct OneSecret(Secret);

#[paragon_core::async_trait]
impl paragon_core::plugin::secrets::SecretSource for OneSecret {
    fn name(&self) -> &str {
        "one"
    }
    async fn secret(&self, name: &str, _: &CallContext) -> paragon_core::Result<Secret> {
        if name == "cosign#password" {
            Ok(self.0.clone())
        } else {
            Err(paragon_core::Error::Secret {
                store: "one".into(),
                name: name.into(),
                message: "no such secret".into(),
            })
        }
    }
}

#[test]
fn keys_that_cannot_be_used_are_named() {
    let cases = [
        ("not a key at all", "no PEM block"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PKCS#8 P-256 key"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a private key"),
        ("-----BEGIN PRIVATE KEY-----\n%%%\n-----END PRIVATE KEY-----\n", "not base64"),
        ("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\ne30=\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n", "no password"),
    ];
    for (text, wanted) in cases {
        let err = CosignKeySigner::from_pem(text, None, "ci.key")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(wanted) && err.contains("ci.key"),
            "{text}: {err}"
        );
    }
    let err = CosignKeySigner::from_pem(
        "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\ne30=\n-----END ENCRYPTED COSIGN PRIVATE KEY-----\n",
        Some(&Secret::new("x")),
        "ci.key",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a cosign encrypted key"), "{err}");
    let err = CosignKeyVerifier::from_pem("nothing")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no `PUBLIC KEY`"), "{err}");
    // A key round-trips through its PKCS#8 PEM, and its Debug output
    // holds no key material.
    let signer = CosignKeySigner::generate();
    let again = CosignKeySigner::from_pem(signer.private_key_pem().expose(), None, "k").unwrap();
    assert_eq!(again.identity(), signer.identity());
    let debug = format!("{signer:?}");
    assert!(
        debug.contains(&signer.identity()) && !debug.contains("BEGIN"),
        "{debug}"
    );
}

/// Whether Python's `cryptography` verifies a DSSE envelope (the file
/// `envelope`) with the public key in `public`: the signature over the
/// pre-authentication encoding Python computes itself. Prints the
/// statement's subject digest when it does.
fn python_verifies_dsse(public: &Path, envelope: &Path) -> Option<String> {
    let script = r#"
import base64, json, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
env = json.load(open(sys.argv[2]))
body = base64.b64decode(env["payload"])
ptype = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
try:
    key.verify(base64.b64decode(env["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
    print(json.loads(body)["subject"][0]["digest"]["sha256"])
except InvalidSignature:
    print("invalid")
"#;
    let out = python(script, &[public.as_os_str(), envelope.as_os_str()]);
    let out = out.trim();
    (out != "invalid").then(|| out.to_owned())
}

#[ignore = "needs docker-registry, htpasswd, skopeo and python3 with cryptography and pynacl"]
#[tokio::test]
async fn attestations_are_dsse_envelopes_that_verify_independently() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let r = client(&registry.addr);
    let ctx = CallContext::new();
    let repository = repo("shop/app");
    let image = minimal_image(&dir.path().join("image"), "attested").unwrap();
    let other = minimal_image(&dir.path().join("other"), "other").unwrap();
    for i in [&image, &other] {
        r.push(i, &repository, &[], &ctx).await.unwrap();
    }
    let name = format!("{}/shop/app", registry.addr);
    let signer = CosignKeySigner::generate();
    let public = dir.path().join("cosign.pub");
    std::fs::write(&public, signer.public_key_pem()).unwrap();
    let sbom =
        serde_json::json!({ "bomFormat": "CycloneDX", "specVersion": "1.5", "components": [] });
    let verdict = serde_json::json!({ "passed": true, "failures": 0 });
    cosign::attest(
        &r,
        &repository,
        &image.digest,
        &name,
        "https://cyclonedx.org/bom",
        &sbom,
        &signer,
        &ctx,
    )
    .await
    .unwrap();
    let att = cosign::attest(
        &r,
        &repository,
        &image.digest,
        &name,
        "https://paragon.dev/verdict/v1",
        &verdict,
        &signer,
        &ctx,
    )
    .await
    .unwrap();
    assert_eq!(att.attestations, 2);
    assert_eq!(att.tag, format!("sha256-{}.att", image.digest.hex()));

    // skopeo sees cosign's attestation layout; Python checks each envelope.
    let copy = dir.path().join("skopeo");
    let manifest = skopeo_dir(&registry.addr, &format!("shop/app:{}", att.tag), &copy);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{manifest}");
    for (layer, predicate_type) in layers.iter().zip([
        "https://cyclonedx.org/bom",
        "https://paragon.dev/verdict/v1",
    ]) {
        assert_eq!(layer["mediaType"], cosign::MEDIA_TYPE_DSSE);
        assert_eq!(layer["annotations"]["predicateType"], predicate_type);
        let digest: Digest = layer["digest"].as_str().unwrap().parse().unwrap();
        let subject = python_verifies_dsse(&public, &copy.join(digest.hex()));
        assert_eq!(subject.as_deref(), Some(image.digest.hex()));
    }

    let verifier = CosignKeyVerifier::from_pem(&signer.public_key_pem()).unwrap();
    let found = cosign::verify_attestations(
        &r,
        &repository,
        &image.digest,
        "https://paragon.dev/verdict/v1",
        &verifier,
        &ctx,
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].predicate, verdict);
    assert_eq!(found[0].identity, signer.identity());
    // Another key; a type nobody attested; another image's attestations.
    let stranger =
        CosignKeyVerifier::from_pem(&CosignKeySigner::generate().public_key_pem()).unwrap();
    let err = cosign::verify_attestations(
        &r,
        &repository,
        &image.digest,
        "https://cyclonedx.org/bom",
        &stranger,
        &ctx,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("not signed by an accepted key"), "{err}");
    let err = cosign::verify_attestations(
        &r,
        &repository,
        &image.digest,
        "https://slsa.dev/provenance/v1",
        &verifier,
        &ctx,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no `https://slsa.dev/provenance/v1` attestation"),
        "{err}"
    );
    let to = cosign::attestation_tag(&other.digest);
    copy_tag(&r, &att.tag, &to, dir.path()).await;
    let err = cosign::verify_attestations(
        &r,
        &repository,
        &other.digest,
        "https://paragon.dev/verdict/v1",
        &verifier,
        &ctx,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("its subject is another image"), "{err}");
}

/// A signature manifest naming a payload the registry does not hold is an
/// error naming the blob, never a pass (on the layout registry, where the
/// blob can be taken away under the manifest).
#[tokio::test]
async fn a_signature_whose_payload_is_missing_is_an_error() {
    use paragon_core::plugin::sign::Verifier as _;
    let dir = tempfile::tempdir().unwrap();
    let r = paragon_registry::LayoutRegistry::new(dir.path().join("registry"));
    let ctx = CallContext::new();
    let repository = repo("shop/app");
    let image = minimal_image(&dir.path().join("image"), "missing").unwrap();
    r.push(&image, &repository, &tags(&["1.0.0"]), &ctx)
        .await
        .unwrap();
    let signer = CosignKeySigner::generate();
    cosign::sign(&r, &repository, &image.digest, "shop/app", &signer, &ctx)
        .await
        .unwrap();
    let payload = cosign::payload("shop/app", &image.digest, &Default::default());
    let blob = dir
        .path()
        .join("registry/blobs/sha256")
        .join(Digest::of(&payload).hex());
    std::fs::remove_file(&blob).unwrap();
    let verifier = CosignKeyVerifier::from_pem(&signer.public_key_pem()).unwrap();
    assert_eq!(verifier.accepted(), [signer.identity()]);
    let err = cosign::verify(&r, &repository, &image.digest, &verifier, &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(Digest::of(&payload).as_str()) && err.contains("missing"),
        "{err}"
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cosign")
        .join(name)
}

/// A signature image laid out as cosign lays it out, holding `payload`
/// signed `signature` (base64), pushed under `digest`'s `.sig` tag.
async fn cosign_signature_image(
    r: &dyn Registry,
    repository: &paragon_core::Repository,
    digest: &Digest,
    payload: &[u8],
    signature: &str,
    scratch: &Path,
) {
    use paragon_core::model::oci::{to_canonical_json, Descriptor, ImageManifest, OciLayout};
    let layout = OciLayout::create(scratch).unwrap();
    let (payload_digest, size) = layout.write_blob(payload).unwrap();
    let mut layer = Descriptor::new(
        "application/vnd.dev.cosign.simplesigning.v1+json",
        payload_digest.clone(),
        size,
    );
    layer.annotations.insert(
        "dev.cosignproject.cosign/signature".into(),
        signature.trim().into(),
    );
    let config = serde_json::json!({
        "architecture": "", "config": {}, "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
        "rootfs": {"type": "layers", "diff_ids": [payload_digest.to_string()]},
    });
    let (config_digest, config_size) = layout.write_blob(&to_canonical_json(&config)).unwrap();
    let manifest = ImageManifest::new(
        Descriptor::new(
            "application/vnd.oci.image.config.v1+json",
            config_digest,
            config_size,
        ),
        vec![layer],
    );
    let (m, s) = layout.write_blob(&to_canonical_json(&manifest)).unwrap();
    layout
        .set_ref(
            "sig",
            &Descriptor::new("application/vnd.oci.image.manifest.v1+json", m, s),
        )
        .unwrap();
    let image = paragon_core::BuiltImage::from_layout(scratch, Some("sig")).unwrap();
    let tag = cosign::signature_tag(digest);
    r.push(&image, repository, &[tag], &CallContext::new())
        .await
        .unwrap();
}

/// A payload and signature cosign wrote (with a P-256 key, in ratify's
/// tests) verify with the key's public half, and name the image cosign
/// signed; a payload changed by one byte, or another key, does not.
#[tokio::test]
async fn a_signature_cosign_made_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let payload = std::fs::read(fixture("ratify-payload.json")).unwrap();
    let signature = std::fs::read_to_string(fixture("ratify-signature.b64")).unwrap();
    let verifier = CosignKeyVerifier::from_files(&[fixture("ratify-cosign.pub")]).unwrap();
    let signed: Digest = "sha256:d37ada95d47ad12224c205a938129df7a3e52345828b4fa27b03a98825d1e2e7"
        .parse()
        .unwrap();
    let registry = paragon_core::MemoryRegistry::new();
    let hello = repo("cosign/hello-world");
    cosign_signature_image(
        &registry,
        &hello,
        &signed,
        &payload,
        &signature,
        &dir.path().join("good"),
    )
    .await;
    let verified = cosign::verify(&registry, &hello, &signed, &verifier, &CallContext::new())
        .await
        .unwrap();
    assert_eq!(
        verified.references,
        ["artifactstest.azurecr.io/4-15-24/cosign/hello-world"]
    );
    assert_eq!(verified.identities, verifier.accepted());

    // One byte of the payload changed: the signature no longer holds.
    let mut tampered = payload.clone();
    let at = tampered.windows(5).position(|w| w == b"hello").unwrap();
    tampered[at] = b'j';
    let other = repo("cosign/other");
    cosign_signature_image(
        &registry,
        &other,
        &signed,
        &tampered,
        &signature,
        &dir.path().join("tampered"),
    )
    .await;
    let err = cosign::verify(&registry, &other, &signed, &verifier, &CallContext::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, paragon_core::Error::NotVerified { .. }),
        "{err}"
    );

    // Another key: refused, naming the key it would accept.
    let stranger =
        CosignKeyVerifier::from_pem(&CosignKeySigner::generate().public_key_pem()).unwrap();
    let err = cosign::verify(&registry, &hello, &signed, &stranger, &CallContext::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&stranger.accepted()[0]), "{err}");
}

/// A key `cosign generate-key-pair` wrote with an empty password (in
/// sigstore-rs's tests) loads with the empty password, signs, and its
/// signatures verify; without a password it is refused, saying why.
#[tokio::test]
async fn a_key_cosign_generated_loads() {
    let key = fixture("sigstore-rs-cosign-generated-empty-password.key");
    let signer = CosignKeySigner::from_file(&key, Some(&Secret::new(""))).unwrap();
    let verifier = CosignKeyVerifier::from_pem(&signer.public_key_pem()).unwrap();
    assert_eq!(verifier.accepted(), [signer.identity()]);
    let registry = paragon_core::MemoryRegistry::new();
    let (app, digest, ctx) = (repo("shop/app"), Digest::of(b"image"), CallContext::new());
    cosign::sign(&registry, &app, &digest, "shop/app", &signer, &ctx)
        .await
        .unwrap();
    cosign::verify(&registry, &app, &digest, &verifier, &ctx)
        .await
        .unwrap();
    let err = CosignKeySigner::from_file(&key, None).unwrap_err();
    assert!(err.to_string().contains("no password"), "{err}");
    let err = CosignKeySigner::from_file(&key, Some(&Secret::new("guess"))).unwrap_err();
    assert!(err.to_string().contains("password is wrong"), "{err}");
}

/// Signers racing on one image against the real registry (no conditional
/// write): each reads the signature image back after the settle wait and
/// writes again when another signer's image replaced its own, so every
/// signature and every attestation is kept and verifies.
#[ignore = "needs docker-registry and htpasswd"]
#[tokio::test]
async fn signers_racing_on_one_image_each_keep_their_signature() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let r = client(&registry.addr).with_tag_settle(std::time::Duration::from_millis(300));
    let ctx = CallContext::new();
    let repository = repo("shop/app");
    let image = minimal_image(&dir.path().join("image"), "raced").unwrap();
    r.push(&image, &repository, &tags(&["1.0.0"]), &ctx)
        .await
        .unwrap();
    let signers: Vec<CosignKeySigner> = (0..5).map(|_| CosignKeySigner::generate()).collect();
    let identity = format!("{}/shop/app", registry.addr);
    let signing = signers
        .iter()
        .map(|s| cosign::sign(&r, &repository, &image.digest, &identity, s, &ctx));
    for signed in futures_util::future::join_all(signing).await {
        assert!(signed.unwrap().signatures >= 1);
    }
    let predicate = serde_json::json!({ "scanner": "raced" });
    let predicates = [("https://example.test/race", &predicate)];
    let (r_, repository_, digest, identity_, ctx_) =
        (&r, &repository, &image.digest, &identity, &ctx);
    let predicates_ = &predicates;
    let attesting = signers.iter().take(3).map(|s| async move {
        cosign::attest_all(r_, repository_, digest, identity_, predicates_, s, ctx_).await
    });
    for attested in futures_util::future::join_all(attesting).await {
        attested.unwrap();
    }

    let pems: String = signers.iter().map(|s| s.public_key_pem()).collect();
    let all = CosignKeyVerifier::from_pem(&pems).unwrap();
    let verified = cosign::verify(&r, &repository, &image.digest, &all, &ctx)
        .await
        .unwrap();
    let mut want: Vec<String> = signers.iter().map(|s| s.identity()).collect();
    let mut got = verified.identities.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "no signer lost its signature");
    let raw = crate::support::skopeo_raw(
        &registry.addr,
        &format!("shop/app:{}", cosign::signature_tag(&image.digest)),
    )
    .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        5,
        "{manifest}"
    );
    let raw = crate::support::skopeo_raw(
        &registry.addr,
        &format!("shop/app:{}", cosign::attestation_tag(&image.digest)),
    )
    .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        3,
        "{manifest}"
    );
}

/// A registry where another writer replaces the signature image right
/// after each of the first `rivals` writes of this one, with `rival`, an
/// image it read before: what a racing signer does to the tag.
fn replaced(
    rival: paragon_core::plugin::build::BuiltImage,
    rivals: usize,
) -> paragon_core::plugin::registry::testing::Intercepted {
    use paragon_core::plugin::registry::testing::{Intercept, Intercepted};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let left = AtomicUsize::new(rivals);
    let inner = paragon_core::plugin::registry::MemoryRegistry::new();
    Intercepted::new(inner, move |_, tags| {
        let racing = tags.iter().any(|t| t.as_str().ends_with(".sig"));
        let rival_writes = racing
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if rival_writes {
            Intercept::ReplaceWith(rival.clone())
        } else {
            Intercept::Pass
        }
    })
}

/// The rival's signature image for `image`, as another signer wrote it:
/// pulled into `into`.
async fn rival_signature(
    image: &paragon_core::plugin::build::BuiltImage,
    into: &Path,
) -> (paragon_core::plugin::build::BuiltImage, CosignKeySigner) {
    let elsewhere = paragon_core::plugin::registry::MemoryRegistry::new();
    let (repository, ctx) = (repo("shop/app"), CallContext::new());
    let rival = CosignKeySigner::generate();
    cosign::sign(
        &elsewhere,
        &repository,
        &image.digest,
        "shop/app",
        &rival,
        &ctx,
    )
    .await
    .unwrap();
    let tag = cosign::signature_tag(&image.digest);
    let pulled = elsewhere
        .pull(&repository, &Reference::Tag(tag), into, &ctx)
        .await
        .unwrap()
        .unwrap();
    (pulled, rival)
}

#[tokio::test]
async fn a_signature_another_signer_wrote_over_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let image = minimal_image(&dir.path().join("image"), "app").unwrap();
    let (rival_image, rival) = rival_signature(&image, &dir.path().join("rival")).await;
    let r = replaced(rival_image, 2);
    let (repository, ctx) = (repo("shop/app"), CallContext::new());
    r.push(&image, &repository, &tags(&["1.0.0"]), &ctx)
        .await
        .unwrap();
    let signer = CosignKeySigner::generate();
    let signed = cosign::sign(&r, &repository, &image.digest, "shop/app", &signer, &ctx)
        .await
        .unwrap();
    assert_eq!(signed.signatures, 2, "the rival's and this one");
    let both =
        CosignKeyVerifier::from_pem(&(signer.public_key_pem() + &rival.public_key_pem())).unwrap();
    let verified = cosign::verify(&r, &repository, &image.digest, &both, &ctx)
        .await
        .unwrap();
    assert_eq!(verified.identities.len(), 2, "{verified:?}");
    assert_eq!(
        r.resolve(&repository, &cosign::signature_tag(&image.digest), &ctx)
            .await
            .unwrap(),
        Some(signed.manifest),
        "the manifest reported is the one the tag names"
    );
}

#[tokio::test]
async fn a_signature_replaced_at_every_write_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let image = minimal_image(&dir.path().join("image"), "app").unwrap();
    let (rival_image, _) = rival_signature(&image, &dir.path().join("rival")).await;
    let r = replaced(rival_image, usize::MAX);
    let (repository, ctx) = (repo("shop/app"), CallContext::new());
    r.push(&image, &repository, &tags(&["1.0.0"]), &ctx)
        .await
        .unwrap();
    let signer = CosignKeySigner::generate();
    let err = cosign::sign(&r, &repository, &image.digest, "shop/app", &signer, &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), paragon_core::ErrorKind::Conflict, "{err:?}");
    let text = err.to_string();
    assert!(text.contains("intercepted.test"), "{text}");
    assert!(text.contains(".sig"), "{text}");
    assert!(text.contains("8 times"), "{text}");
}

/// Signers racing on one image in an OCI layout, through two registries
/// on the same directory as two processes would be (each with its own
/// in-process lock; only the layout's index lock is shared): the tag
/// moves only from the image each signer read, so none loses its
/// signature though the layout's tag-settle wait is zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signers_racing_on_a_layout_each_keep_their_signature() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let (a, b) = (
        paragon_registry::LayoutRegistry::new(&root),
        paragon_registry::LayoutRegistry::new(&root),
    );
    let ctx = CallContext::new();
    let repository = repo("shop/app");
    let image = minimal_image(&dir.path().join("image"), "raced").unwrap();
    a.push(&image, &repository, &tags(&["1.0.0"]), &ctx)
        .await
        .unwrap();
    let signers: Vec<CosignKeySigner> = (0..8).map(|_| CosignKeySigner::generate()).collect();
    let signing = signers.iter().enumerate().map(|(i, s)| {
        let r: &dyn Registry = if i % 2 == 0 { &a } else { &b };
        cosign::sign(r, &repository, &image.digest, "shop/app", s, &ctx)
    });
    for signed in futures_util::future::join_all(signing).await {
        signed.unwrap();
    }
    let pems: String = signers.iter().map(|s| s.public_key_pem()).collect();
    let all = CosignKeyVerifier::from_pem(&pems).unwrap();
    let verified = cosign::verify(&a, &repository, &image.digest, &all, &ctx)
        .await
        .unwrap();
    assert_eq!(
        verified.identities.len(),
        signers.len(),
        "no signer lost its signature: {verified:?}"
    );
}

/// cosign 3's layout on the real registry (no referrers API: the
/// referrers tag): skopeo sees the bundle manifest in the referrers
/// index with cosign's annotations; Python checks the envelope's
/// signature and the key hint; a bundle Python made from the
/// specification alone (the statement `cosign sign` makes, signed by
/// Python's own key) verifies with `CosignKeyVerifier`.
#[ignore = "needs docker-registry, htpasswd, skopeo and python3 with cryptography"]
#[tokio::test]
async fn cosign_3_bundles_are_laid_out_as_specified_and_verify_independently() {
    use paragon_core::plugin::registry::referrers::{self, Artifact};
    use paragon_core::plugin::sign::bundle;
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let r = client(&registry.addr);
    let ctx = CallContext::new();
    let repository = repo("shop/app");
    let image = minimal_image(&dir.path().join("image"), "bundled").unwrap();
    r.push(&image, &repository, &tags(&["1.0.0"]), &ctx)
        .await
        .unwrap();
    let signer = CosignKeySigner::generate();
    let public = dir.path().join("cosign.pub");
    std::fs::write(&public, signer.public_key_pem()).unwrap();
    let attached = bundle::sign(&r, &repository, &image.descriptor(), &signer, &ctx)
        .await
        .unwrap();

    // The referrers index under `sha256-<hex>`, as skopeo reads it.
    let index: serde_json::Value = serde_json::from_slice(
        &crate::support::skopeo_raw(
            &registry.addr,
            &format!("shop/app:sha256-{}", image.digest.hex()),
        )
        .unwrap(),
    )
    .unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], attached.digest.as_str(), "{index}");
    assert_eq!(entry["artifactType"], bundle::MEDIA_TYPE_BUNDLE);
    assert_eq!(
        entry["annotations"][bundle::ANNOTATION_CONTENT],
        "dsse-envelope"
    );
    assert_eq!(
        entry["annotations"][bundle::ANNOTATION_PREDICATE_TYPE],
        bundle::PREDICATE_COSIGN_SIGN
    );
    // The bundle manifest and its one layer.
    let copy = dir.path().join("skopeo");
    let manifest = skopeo_dir(
        &registry.addr,
        &format!("shop/app@{}", attached.digest),
        &copy,
    );
    assert_eq!(manifest["artifactType"], bundle::MEDIA_TYPE_BUNDLE);
    assert_eq!(manifest["subject"]["digest"], image.digest.as_str());
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], bundle::MEDIA_TYPE_BUNDLE);
    let blob: Digest = layers[0]["digest"].as_str().unwrap().parse().unwrap();
    let bundled: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join(blob.hex())).unwrap()).unwrap();
    assert_eq!(bundled["mediaType"], bundle::MEDIA_TYPE_BUNDLE);
    let envelope = dir.path().join("envelope.json");
    std::fs::write(&envelope, bundled["dsseEnvelope"].to_string()).unwrap();
    let subject = python_verifies_dsse(&public, &envelope);
    assert_eq!(subject.as_deref(), Some(image.digest.hex()));
    let hint = python(
        r#"
import base64, hashlib, sys
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
print(base64.b64encode(hashlib.sha256(der).digest()).decode())
"#,
        &[public.as_os_str()],
    );
    assert_eq!(
        bundled["verificationMaterial"]["publicKey"]["hint"],
        hint.trim()
    );
    let verifier = CosignKeyVerifier::from_pem(&signer.public_key_pem()).unwrap();
    let verified = cosign::verify(&r, &repository, &image.digest, &verifier, &ctx)
        .await
        .unwrap();
    assert_eq!(verified.identities, [signer.identity()]);

    // A bundle made by Python alone, attached as cosign 3 attaches it.
    let made = dir.path().join("python");
    let script = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
digest, out = sys.argv[1], sys.argv[2]
key = ec.generate_private_key(ec.SECP256R1())
statement = {"_type": "https://in-toto.io/Statement/v1",
             "subject": [{"digest": {"sha256": digest}}],
             "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}}
body = json.dumps(statement, separators=(",", ":")).encode()
ptype = b"application/vnd.in-toto+json"
pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
sig = key.sign(pae, ec.ECDSA(hashes.SHA256()))
bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
          "verificationMaterial": {"publicKey": {"hint": ""}},
          "dsseEnvelope": {"payload": base64.b64encode(body).decode(),
                           "payloadType": ptype.decode(),
                           "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}]}}
open(out + ".json", "w").write(json.dumps(bundle))
open(out + ".pub", "wb").write(key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
"#;
    python(script, &[image.digest.hex().as_ref(), made.as_os_str()]);
    let artifact = Artifact::new(bundle::MEDIA_TYPE_BUNDLE, image.descriptor())
        .with_blob(
            bundle::MEDIA_TYPE_BUNDLE,
            std::fs::read(made.with_extension("json")).unwrap(),
        )
        .with_annotation(bundle::ANNOTATION_CONTENT, "dsse-envelope")
        .with_annotation(
            bundle::ANNOTATION_PREDICATE_TYPE,
            bundle::PREDICATE_COSIGN_SIGN,
        );
    referrers::attach(&r, &repository, &artifact, &ctx)
        .await
        .unwrap();
    let theirs =
        CosignKeyVerifier::from_pem(&std::fs::read_to_string(made.with_extension("pub")).unwrap())
            .unwrap();
    let verified = cosign::verify(&r, &repository, &image.digest, &theirs, &ctx)
        .await
        .unwrap();
    assert_eq!(verified.identities, theirs.accepted());
}
