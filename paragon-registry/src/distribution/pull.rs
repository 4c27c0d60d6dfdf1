//! Pulls: a manifest (an image, an index and its images, or an artifact)
//! and its blobs copied into an OCI layout, each blob streamed to disk and
//! checked against its digest.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use paragon_core::model::oci::{
    Descriptor, Digest, ImageIndex, ImageManifest, OciLayout, MEDIA_TYPE_DOCKER_LIST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use paragon_core::plugin::build::BuiltImage;
use paragon_core::plugin::registry::Reference;
use paragon_core::{CallContext, Error, ErrorKind, Result};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use super::auth::{scope, Access};
use super::blobs::UPLOAD_RATE_FLOOR;
use super::manifests::ACCEPT_MANIFESTS;
use super::DistributionRegistry;

/// How deep indexes may nest.
const MAX_DEPTH: usize = 4;

impl DistributionRegistry {
    /// See [`Registry::pull`](paragon_core::plugin::registry::Registry::pull).
    pub(super) async fn pull_into(
        &self,
        repository: &str,
        reference: &Reference,
        into: &Path,
        ctx: &CallContext,
    ) -> Result<Option<BuiltImage>> {
        if ctx.cancel.is_cancelled() {
            return Err(self.cancelled());
        }
        let name = reference.to_string();
        let Some(root) = self.fetch_manifest(repository, &name, ctx).await? else {
            return Ok(None);
        };
        if let Reference::Digest(wanted) = reference {
            if root.digest != *wanted {
                return Err(self.registry_error(
                    format!("pull {repository}@{wanted}"),
                    None,
                    format!(
                        "the registry answered a manifest whose digest is {}",
                        root.digest
                    ),
                    false,
                ));
            }
        }
        let layout = OciLayout::create(into)?;
        self.store(repository, &layout, &root, 0, ctx).await?;
        layout.set_ref(&name, &root.descriptor)?;
        BuiltImage::from_layout(into, Some(&name)).map(Some)
    }

    /// Writes a fetched manifest and everything it names into `layout`.
    async fn store(
        &self,
        repository: &str,
        layout: &OciLayout,
        manifest: &Fetched,
        depth: usize,
        ctx: &CallContext,
    ) -> Result<()> {
        let op = format!("pull {repository}@{}", manifest.digest);
        if depth > MAX_DEPTH {
            return Err(self.registry_error(op, None, "indexes nest too deeply".into(), false));
        }
        let media_type = manifest.descriptor.media_type.as_str();
        if media_type == MEDIA_TYPE_INDEX || media_type == MEDIA_TYPE_DOCKER_LIST {
            let index: ImageIndex = serde_json::from_slice(&manifest.bytes).map_err(|e| {
                self.registry_error(op.clone(), None, format!("not an index: {e}"), false)
            })?;
            for child in &index.manifests {
                let fetched = self
                    .fetch_manifest(repository, child.digest.as_str(), ctx)
                    .await?
                    .ok_or_else(|| self.missing(&op, &child.digest))?;
                if fetched.digest != child.digest {
                    return Err(self.registry_error(
                        op,
                        None,
                        format!("manifest {} hashes to {}", child.digest, fetched.digest),
                        false,
                    ));
                }
                Box::pin(self.store(repository, layout, &fetched, depth + 1, ctx)).await?;
            }
        } else {
            let image: ImageManifest = serde_json::from_slice(&manifest.bytes).map_err(|e| {
                self.registry_error(
                    op.clone(),
                    None,
                    format!("not an image manifest: {e}"),
                    false,
                )
            })?;
            for blob in std::iter::once(&image.config).chain(&image.layers) {
                if ctx.cancel.is_cancelled() {
                    return Err(self.cancelled());
                }
                if !layout.has_blob(&blob.digest) {
                    self.fetch_blob(repository, blob, layout, &op, ctx).await?;
                }
            }
        }
        layout.write_blob(&manifest.bytes)?;
        Ok(())
    }

    fn missing(&self, op: &str, digest: &Digest) -> Error {
        Error::Registry {
            host: self.host.clone(),
            operation: op.to_owned(),
            message: format!("the registry does not have {digest}, which the manifest names"),
            kind: ErrorKind::NotFound,
        }
    }

    /// `GET …/manifests/<reference>`, retried; `None` on 404. The digest
    /// is the body's.
    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &str,
        ctx: &CallContext,
    ) -> Result<Option<Fetched>> {
        let op = format!("get manifest {repository}:{reference}");
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base());
        let Some(doc) = self
            .get_document(&op, &url, ACCEPT_MANIFESTS, repository, ctx)
            .await?
        else {
            return Ok(None);
        };
        let media_type = media_type_of(&doc.bytes, doc.content_type.as_deref());
        let bytes = doc.bytes;
        let digest = Digest::of(&bytes);
        let descriptor = Descriptor::new(media_type, digest.clone(), bytes.len() as u64);
        Ok(Some(Fetched {
            bytes,
            digest,
            descriptor,
        }))
    }

    /// `GET …/blobs/<digest>` streamed into the layout, retried, checked
    /// against the descriptor's size and digest.
    async fn fetch_blob(
        &self,
        repository: &str,
        blob: &Descriptor,
        layout: &OciLayout,
        manifest_op: &str,
        ctx: &CallContext,
    ) -> Result<()> {
        let op = format!("get blob {repository}@{}", blob.digest);
        let url = format!("{}/v2/{repository}/blobs/{}", self.base(), blob.digest);
        let scopes = [scope(repository, Access::Pull)];
        let limit = self.timeout + Duration::from_secs(blob.size / UPLOAD_RATE_FLOOR);
        self.retrying(&op, ctx, || async {
            let mut res = self
                .execute(&op, Method::GET, &url, &[], None, &scopes, Some(limit))
                .await?;
            if res.status() == StatusCode::NOT_FOUND {
                return Err(self.missing(manifest_op, &blob.digest));
            }
            res = self.expect_success(res, &op).await?;
            let staged = layout.staging_path();
            let written = self.download(&mut res, &staged, blob, &op).await;
            match written {
                Ok(()) => layout.adopt_checked_blob(&staged, &blob.digest),
                Err(e) => {
                    let _ = tokio::fs::remove_file(&staged).await;
                    Err(e)
                }
            }
        })
        .await
    }

    /// Writes the answer's body to `path`, hashing it; fails when it is
    /// longer than the descriptor says, or does not match its digest.
    async fn download(
        &self,
        res: &mut reqwest::Response,
        path: &Path,
        blob: &Descriptor,
        op: &str,
    ) -> Result<()> {
        let io = |e: std::io::Error| Error::Io {
            path: path.to_owned(),
            source: e,
        };
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut hash = Sha256::new();
        let mut len = 0u64;
        while let Some(chunk) = res.chunk().await.map_err(|e| self.request_error(op, e))? {
            len += chunk.len() as u64;
            if len > blob.size {
                return Err(self.registry_error(
                    op,
                    None,
                    format!("the blob is longer than its {} bytes", blob.size),
                    false,
                ));
            }
            hash.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        let actual = Digest::from_sha256(&hash.finalize());
        if len != blob.size || actual != blob.digest {
            // A cut answer is worth another attempt; other bytes are not.
            return Err(self.registry_error(
                op,
                None,
                format!(
                    "got {len} bytes hashing to {actual}, not {} bytes of {}",
                    blob.size, blob.digest
                ),
                len < blob.size,
            ));
        }
        Ok(())
    }
}

/// A manifest as the registry gave it.
struct Fetched {
    bytes: Bytes,
    digest: Digest,
    descriptor: Descriptor,
}

/// The media type from the answer's `Content-Type`, else from the
/// document's `mediaType`, else from its shape.
fn media_type_of(bytes: &[u8], content_type: Option<&str>) -> String {
    if let Some(t) = content_type.filter(|t| t.contains("manifest") || t.contains("index")) {
        return t.to_owned();
    }
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(Shape {
            media_type: Some(m),
            ..
        }) => m,
        Ok(Shape {
            manifests: Some(_), ..
        }) => MEDIA_TYPE_INDEX.to_owned(),
        _ => MEDIA_TYPE_MANIFEST.to_owned(),
    }
}
