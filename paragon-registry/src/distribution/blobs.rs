//! Blob uploads (whole, chunked, or mounted from another repository) and
//! checks for blobs the registry has.

use bytes::Bytes;
use paragon_core::model::oci::{Descriptor, Digest, OciLayout};
use paragon_core::{CallContext, Error, Result};
use reqwest::header::{HeaderName, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, StatusCode};

use super::auth::{scope, Access};
use super::DistributionRegistry;

impl DistributionRegistry {
    /// Resolves an upload session's `Location` (absolute, or a path on
    /// the registry).
    pub(super) fn upload_location(&self, res: &reqwest::Response, op: &str) -> Result<String> {
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| {
                self.registry_error(
                    op,
                    Some(res.status().as_u16()),
                    "the upload session has no Location".into(),
                    false,
                )
            })?;
        url::Url::parse(&self.base())
            .and_then(|base| base.join(location))
            .map(String::from)
            .map_err(|e| {
                self.registry_error(
                    op,
                    Some(res.status().as_u16()),
                    format!("invalid upload Location `{location}`: {e}"),
                    false,
                )
            })
    }

    /// Fails with the answer's status and body unless it is a success.
    pub(super) async fn expect_success(
        &self,
        res: reqwest::Response,
        op: &str,
    ) -> Result<reqwest::Response> {
        if res.status().is_success() {
            return Ok(res);
        }
        Err(self.response_error(op, res).await)
    }

    /// Uploads a blob from its file. `POST …/blobs/uploads/` opens a
    /// session; then either one `PUT` of the whole blob with its digest,
    /// or, for a blob larger than the chunk size, one `PATCH` per chunk
    /// (each at the `Location` the previous answer gave, with its
    /// `Content-Range`) and a closing `PUT` with the digest and no body.
    pub(super) async fn upload_blob(
        &self,
        repository: &str,
        digest: &Digest,
        path: &std::path::Path,
        len: u64,
        op: &str,
    ) -> Result<()> {
        let scopes = [scope(repository, Access::Push)];
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base());
        let res = self
            .execute(op, Method::POST, &url, &[], None, &scopes, None)
            .await?;
        let res = self.expect_success(res, op).await?;
        let location = self.upload_location(&res, op)?;
        let whole = Payload::File {
            path,
            offset: 0,
            len,
        };
        // The closing PUT carries the whole blob, or nothing after chunks.
        let (location, last) = match self.chunk.filter(|&c| len > c) {
            Some(chunk) => {
                let session = Session {
                    location,
                    path,
                    digest,
                    scopes: &scopes,
                    op,
                };
                (self.upload_chunks(session, len, chunk).await?, None)
            }
            None => (location, Some(&whole)),
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let headers: &[(HeaderName, &str)] = match last {
            Some(_) => &[(CONTENT_TYPE, "application/octet-stream")],
            None => &[],
        };
        let res = self
            .execute(op, Method::PUT, &url, headers, last, &scopes, None)
            .await?;
        self.expect_success(res, op).await.map(drop)
    }

    /// Sends the blob in `chunk`-sized `PATCH`es, each at the `Location`
    /// the previous answer gave, and checks the `Range` each answer says
    /// it holds; the `Location` for the closing `PUT`.
    pub(super) async fn upload_chunks(
        &self,
        session: Session<'_>,
        len: u64,
        chunk: u64,
    ) -> Result<String> {
        let Session {
            mut location,
            path,
            digest,
            scopes,
            op,
        } = session;
        let mut offset = 0;
        while offset < len {
            let n = chunk.min(len - offset);
            let end = offset + n - 1;
            let range = format!("{offset}-{end}");
            let headers = [
                (CONTENT_TYPE, "application/octet-stream"),
                (CONTENT_RANGE, range.as_str()),
            ];
            let part = Payload::File {
                path,
                offset,
                len: n,
            };
            let res = self
                .execute(
                    op,
                    Method::PATCH,
                    &location,
                    &headers,
                    Some(&part),
                    scopes,
                    None,
                )
                .await?;
            let res = self.expect_success(res, op).await?;
            // The registry says how much it holds: it must be all sent.
            let held = res.headers().get(RANGE).and_then(|h| h.to_str().ok());
            if let Some(held) = held {
                let held_end = held.rsplit('-').next().and_then(|e| e.trim().parse().ok());
                if held_end != Some(end) {
                    return Err(self.registry_error(
                        op,
                        Some(res.status().as_u16()),
                        format!("after the chunk {range}, the registry holds `{held}`"),
                        false,
                    ));
                }
            }
            location = self.upload_location(&res, op)?;
            tracing::debug!(%digest, range = %range, "chunk uploaded");
            offset += n;
        }
        Ok(location)
    }

    /// Asks the registry to mount `digest` from `from` into `repository`
    /// (`POST …/blobs/uploads/?mount=…&from=…`); true when it did (201).
    /// A registry that cannot mount opens an upload session instead (202):
    /// it is cancelled (`DELETE` at its `Location`), the blob is uploaded
    /// afresh.
    pub(super) async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> bool {
        let op = "mount blob";
        let scopes = [scope(repository, Access::Push), scope(from, Access::Pull)];
        let url = format!(
            "{}/v2/{repository}/blobs/uploads/?mount={digest}&from={from}",
            self.base()
        );
        let Ok(res) = self
            .execute(op, Method::POST, &url, &[], None, &scopes, None)
            .await
        else {
            return false;
        };
        if res.status() == StatusCode::ACCEPTED {
            if let Ok(session) = self.upload_location(&res, op) {
                let cancelled = self
                    .execute(op, Method::DELETE, &session, &[], None, &scopes, None)
                    .await;
                tracing::debug!(%digest, %from, cancelled = cancelled.is_ok(), "not mounted");
            }
        }
        res.status() == StatusCode::CREATED
    }

    pub(super) async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base());
        let op = format!("check blob {digest}");
        let res = self
            .send(&op, Method::HEAD, &url, None, repository, Access::Push)
            .await?;
        match res.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.response_error(&op, res).await),
        }
    }

    pub(super) async fn push_one_blob(
        &self,
        layout: &OciLayout,
        repository: &str,
        blob: &Descriptor,
        ctx: &CallContext,
    ) -> Result<bool> {
        let digest = &blob.digest;
        let exists = self
            .retrying(&format!("check blob {digest}"), ctx, || {
                self.blob_exists(repository, digest)
            })
            .await?;
        if exists {
            return Ok(false);
        }
        for from in &self.mount_from {
            if from == repository {
                continue;
            }
            if self.mount_blob(repository, from, digest).await
                && self.blob_exists(repository, digest).await.unwrap_or(false)
            {
                tracing::debug!(%digest, %from, "blob mounted");
                return Ok(false);
            }
        }
        // Streamed from disk, never held whole in memory: layers can be
        // gigabytes. Checked against its digest first, so that a corrupt
        // layout is reported as such, naming the file.
        let (path, len) = layout.verified_blob_file(digest)?;
        if len != blob.size {
            return Err(Error::Layout {
                path,
                message: format!(
                    "blob {digest} has {len} bytes, its descriptor says {}",
                    blob.size
                ),
            });
        }
        let op = format!("upload blob {digest} ({len} bytes) to {repository}");
        self.retrying(&op, ctx, || {
            self.upload_blob(repository, digest, &path, len, &op)
        })
        .await?;
        Ok(true)
    }
}

/// A request body that can be made again, for a second send after a
/// bearer challenge.
pub(super) enum Payload<'a> {
    Bytes(&'a Bytes),
    /// `len` bytes of a file from `offset`, streamed from disk.
    File {
        path: &'a std::path::Path,
        offset: u64,
        len: u64,
    },
}

impl Payload<'_> {
    /// The body of one send; a file that cannot be read is
    /// [`Error::Layout`] naming it.
    pub(super) fn body(&self, op: &str) -> Result<reqwest::Body> {
        match self {
            Payload::Bytes(b) => Ok(reqwest::Body::from((*b).clone())),
            Payload::File { path, offset, len } => {
                use std::io::Seek as _;
                use tokio::io::AsyncReadExt as _;
                let open = || -> std::io::Result<std::fs::File> {
                    let mut file = std::fs::File::open(path)?;
                    file.seek(std::io::SeekFrom::Start(*offset))?;
                    Ok(file)
                };
                let file = open().map_err(|e| Error::Layout {
                    path: path.to_path_buf(),
                    message: format!("cannot read the blob to {op}: {e}"),
                })?;
                let part = tokio::fs::File::from_std(file).take(*len);
                Ok(reqwest::Body::wrap_stream(
                    tokio_util::io::ReaderStream::with_capacity(part, UPLOAD_CHUNK),
                ))
            }
        }
    }
}

/// The smallest upload chunk [`DistributionRegistry::with_chunked_uploads`]
/// accepts.
pub(super) const MIN_CHUNK: u64 = 1 << 20;

/// The slowest upload, in bytes per second, a blob request's timeout
/// allows for (512 KiB/s): see [`DistributionRegistry::with_request_timeout`].
pub const UPLOAD_RATE_FLOOR: u64 = 512 * 1024;

/// The read size when streaming a blob from disk.
pub(super) const UPLOAD_CHUNK: usize = 1 << 20;

/// An open blob upload: where the next request goes, and what for.
pub(super) struct Session<'a> {
    pub(super) location: String,
    pub(super) path: &'a std::path::Path,
    pub(super) digest: &'a Digest,
    pub(super) scopes: &'a [String],
    pub(super) op: &'a str,
}
