//! Reading report files within limits: a size limit, and pipes that give
//! no data are abandoned rather than waited on forever.

use std::io::Read;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Error, Result};

/// How report files are read.
///
/// A regular file larger than [`max_bytes`](ReadLimits::max_bytes) is
/// refused before it is read. A pipe (a FIFO, or `<(command)` in a shell)
/// is read as it comes, up to the same limit, and abandoned when it gives
/// no data for [`idle_timeout`](ReadLimits::idle_timeout): when nothing
/// opens it for writing, or its writer stalls. Devices, sockets and
/// directories are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadLimits {
    /// The largest report read, in bytes. Default: 1 GiB.
    pub max_bytes: u64,
    /// How long a pipe may give no data. Default: 30 s.
    pub idle_timeout: Duration,
}

impl Default for ReadLimits {
    fn default() -> ReadLimits {
        ReadLimits {
            max_bytes: 1 << 30,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl ReadLimits {
    /// Sets the largest report read, in bytes.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: u64) -> ReadLimits {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets how long a pipe may give no data.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> ReadLimits {
        self.idle_timeout = timeout;
        self
    }
}

/// Reads `path` into `buf` (cleared first) within `limits`.
pub(crate) fn read_into(path: &Path, buf: &mut Vec<u8>, limits: &ReadLimits) -> Result<()> {
    buf.clear();
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let ty = meta.file_type();
    let not_a_file = |what| {
        Err(Error::NotAFile {
            path: path.to_owned(),
            what,
        })
    };
    if ty.is_file() {
        if meta.len() > limits.max_bytes {
            return Err(too_large(path, limits));
        }
        let file = std::fs::File::open(path).map_err(io)?;
        // The file may grow after the check: read one byte past the limit.
        file.take(limits.max_bytes + 1)
            .read_to_end(buf)
            .map_err(io)?;
        if buf.len() as u64 > limits.max_bytes {
            buf.clear();
            return Err(too_large(path, limits));
        }
        Ok(())
    } else if ty.is_dir() {
        not_a_file("a directory")
    } else {
        match special(&ty) {
            Special::Pipe => read_pipe(path, buf, limits),
            Special::Other(what) => not_a_file(what),
        }
    }
}

/// What a path that is neither a file nor a directory is.
enum Special {
    Pipe,
    Other(&'static str),
}

#[cfg(unix)]
fn special(ty: &std::fs::FileType) -> Special {
    use std::os::unix::fs::FileTypeExt;
    if ty.is_fifo() {
        Special::Pipe
    } else if ty.is_char_device() {
        Special::Other("a character device")
    } else if ty.is_block_device() {
        Special::Other("a block device")
    } else if ty.is_socket() {
        Special::Other("a socket")
    } else {
        Special::Other("not a regular file")
    }
}

#[cfg(not(unix))]
fn special(_: &std::fs::FileType) -> Special {
    Special::Other("not a regular file")
}

fn too_large(path: &Path, limits: &ReadLimits) -> Error {
    Error::TooLarge {
        path: path.to_owned(),
        limit: limits.max_bytes,
    }
}

/// Reads a pipe on a thread of its own, which hands over what it reads in
/// chunks; this thread gives up when no chunk comes within the idle
/// timeout (opening a FIFO with no writer blocks, and so does reading from
/// one whose writer stalls). A thread given up on stays blocked until the
/// pipe's writer comes or goes; it holds no more than one chunk.
fn read_pipe(path: &Path, buf: &mut Vec<u8>, limits: &ReadLimits) -> Result<()> {
    let (tx, rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(1);
    let owned = path.to_owned();
    std::thread::Builder::new()
        .name("paragon-read-pipe".into())
        .spawn(move || {
            let mut file = match std::fs::File::open(&owned) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            loop {
                let mut chunk = vec![0u8; 64 * 1024];
                match file.read(&mut chunk) {
                    Ok(0) => {
                        let _ = tx.send(Ok(Vec::new()));
                        return;
                    }
                    Ok(n) => {
                        chunk.truncate(n);
                        if tx.send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
    loop {
        match rx.recv_timeout(limits.idle_timeout) {
            Ok(Ok(chunk)) if chunk.is_empty() => return Ok(()),
            Ok(Ok(chunk)) => {
                buf.extend_from_slice(&chunk);
                if buf.len() as u64 > limits.max_bytes {
                    buf.clear();
                    return Err(too_large(path, limits));
                }
            }
            Ok(Err(source)) => {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source,
                })
            }
            Err(_) => {
                buf.clear();
                return Err(Error::NoData {
                    path: path.to_owned(),
                    waited: limits.idle_timeout,
                });
            }
        }
    }
}
