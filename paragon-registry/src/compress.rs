//! Layer compression for the native builder: gzip in parallel with output
//! that does not depend on the number of threads, zstd, or none.
//!
//! The gzip stream is cut into fixed blocks of [`BLOCK`] bytes of input, as
//! pigz cuts it. Each block is deflated on its own, primed with the 32 KiB
//! of input before it as its dictionary, and ends byte-aligned (a sync
//! flush), so the blocks concatenate into one deflate stream. What a block
//! compresses to depends only on its bytes, the bytes before it and the
//! level, never on which thread compressed it or when: the same layer
//! gives the same digest on one core or on sixty-four. A block whose first
//! [`SAMPLE`] bytes do not shrink at the fastest level (already-compressed
//! content: archives, images, random data) is stored as it is, without
//! spending a deflate pass on it; that test looks only at the bytes too.
//!
//! The deflate backend is zlib-rs, whose output does not depend on the
//! CPU's features (its SIMD paths find the same matches).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::Arc;

use flate2::{Compress, Compression, FlushCompress, Status};
#[cfg(feature = "zstd")]
use paragon_core::model::oci::MEDIA_TYPE_LAYER_ZSTD;
use paragon_core::model::oci::{MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR};

/// Input bytes per independently deflated block (pigz's default).
pub(crate) const BLOCK: usize = 128 * 1024;
/// The deflate window: the dictionary each block is primed with.
const WINDOW: usize = 32 * 1024;
/// Bytes of a block compressed at the fastest level to decide whether the
/// block is worth deflating.
pub(crate) const SAMPLE: usize = 16 * 1024;
/// Input bytes per zstd job.
#[cfg(feature = "zstd")]
const ZSTD_JOB: u32 = 1 << 20;

/// How the native builder compresses its layers.
///
/// Every choice is reproducible: the same inputs give the same layer
/// digest, whatever the number of threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerCompression {
    /// gzip (`application/vnd.oci.image.layer.v1.tar+gzip`), which every
    /// registry and runtime takes; `level` from 1 (fastest) to 9 (smallest).
    Gzip {
        /// The deflate level, 1–9.
        level: u32,
    },
    /// zstd (`application/vnd.oci.image.layer.v1.tar+zstd`), smaller and
    /// faster to compress and unpack than gzip, for registries and runtimes
    /// that take it (containerd 1.5+, CRI-O, Podman); `level` 1–19.
    #[cfg(feature = "zstd")]
    Zstd {
        /// The zstd level, 1–19.
        level: i32,
    },
    /// No compression (`application/vnd.oci.image.layer.v1.tar`): for
    /// content that is already compressed, or a registry next to the
    /// runtime, where compressing costs more than it saves.
    None,
}

impl Default for LayerCompression {
    /// gzip at level 6, zlib's default.
    fn default() -> LayerCompression {
        LayerCompression::Gzip { level: 6 }
    }
}

impl LayerCompression {
    /// The media type of a layer compressed this way.
    pub fn media_type(&self) -> &'static str {
        match self {
            LayerCompression::Gzip { .. } => MEDIA_TYPE_LAYER_GZIP,
            #[cfg(feature = "zstd")]
            LayerCompression::Zstd { .. } => MEDIA_TYPE_LAYER_ZSTD,
            LayerCompression::None => MEDIA_TYPE_LAYER_TAR,
        }
    }

    /// Checks the level.
    pub(crate) fn check(&self) -> Result<(), String> {
        match *self {
            LayerCompression::Gzip { level } if !(1..=9).contains(&level) => {
                Err(format!("gzip level {level} is not between 1 and 9"))
            }
            #[cfg(feature = "zstd")]
            LayerCompression::Zstd { level } if !(1..=19).contains(&level) => {
                Err(format!("zstd level {level} is not between 1 and 19"))
            }
            _ => Ok(()),
        }
    }
}

impl std::str::FromStr for LayerCompression {
    type Err = String;

    /// `gzip`, `gzip:LEVEL`, `zstd`, `zstd:LEVEL` (zstd's default level
    /// is 3) or `none`.
    fn from_str(s: &str) -> Result<LayerCompression, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (s, None),
        };
        let level_of = |l: &str| {
            l.parse::<i32>()
                .map_err(|_| format!("`{l}` in `{s}` is not a compression level"))
        };
        let c = match (name, level) {
            ("gzip", None) => LayerCompression::default(),
            ("gzip", Some(l)) => {
                let n = level_of(l)?;
                LayerCompression::Gzip {
                    level: u32::try_from(n)
                        .map_err(|_| format!("gzip level {n} is not between 1 and 9"))?,
                }
            }
            #[cfg(feature = "zstd")]
            ("zstd", l) => LayerCompression::Zstd {
                level: l.map(level_of).transpose()?.unwrap_or(3),
            },
            #[cfg(not(feature = "zstd"))]
            ("zstd", _) => return Err("zstd layers need paragon-registry's `zstd` feature".into()),
            ("none", None) => LayerCompression::None,
            _ => {
                return Err(format!(
                    "unknown layer compression `{s}` (gzip[:1-9], zstd[:1-19] or none)"
                ))
            }
        };
        c.check()?;
        Ok(c)
    }
}

/// A layer's compressed stream, written through and finished once.
pub(crate) enum LayerWriter<W: Write> {
    Gzip(BlockGzip<W>),
    #[cfg(feature = "zstd")]
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> LayerWriter<W> {
    /// A writer compressing into `out` with `threads` workers of `pool`.
    pub(crate) fn new(
        out: W,
        compression: LayerCompression,
        pool: Arc<rayon::ThreadPool>,
    ) -> io::Result<LayerWriter<W>> {
        Ok(match compression {
            LayerCompression::Gzip { level } => {
                LayerWriter::Gzip(BlockGzip::new(out, level, pool)?)
            }
            #[cfg(feature = "zstd")]
            LayerCompression::Zstd { level } => {
                let mut z = zstd::stream::write::Encoder::new(out, level)?;
                // With one worker or more, zstd's output does not depend on
                // their number; zero workers would compress differently.
                let workers = u32::try_from(pool.current_num_threads().max(1)).unwrap_or(1);
                z.multithread(workers)?;
                // Jobs of 1 MiB instead of zstd's default (several times
                // the window) keep each worker's memory small; the size is
                // fixed, so the output still does not depend on `workers`.
                z.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB))?;
                z.include_contentsize(false)?;
                LayerWriter::Zstd(z)
            }
            LayerCompression::None => LayerWriter::None(out),
        })
    }

    /// Ends the stream and gives back the inner writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            LayerWriter::Gzip(g) => g.finish(),
            #[cfg(feature = "zstd")]
            LayerWriter::Zstd(z) => z.finish(),
            LayerWriter::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for LayerWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LayerWriter::Gzip(g) => g.write(buf),
            #[cfg(feature = "zstd")]
            LayerWriter::Zstd(z) => z.write(buf),
            LayerWriter::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LayerWriter::Gzip(_) => Ok(()),
            #[cfg(feature = "zstd")]
            LayerWriter::Zstd(z) => z.flush(),
            LayerWriter::None(w) => w.flush(),
        }
    }
}

/// gzip compressed in fixed blocks on a thread pool (see the
/// [module docs](self)). At most a few blocks per thread are in flight, so
/// memory stays bounded whatever the layer's size.
pub(crate) struct BlockGzip<W: Write> {
    out: W,
    level: u32,
    pool: Arc<rayon::ThreadPool>,
    block: Vec<u8>,
    /// The last [`WINDOW`] bytes of input before `block`.
    window: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
    pending: VecDeque<mpsc::Receiver<io::Result<Vec<u8>>>>,
    in_flight: usize,
}

impl<W: Write> BlockGzip<W> {
    fn new(mut out: W, level: u32, pool: Arc<rayon::ThreadPool>) -> io::Result<BlockGzip<W>> {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=unknown, as `GzBuilder`
        // writes them with no time and no name.
        let xfl = match level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
        let in_flight = (pool.current_num_threads() * 2).clamp(2, 32);
        Ok(BlockGzip {
            out,
            level,
            pool,
            block: Vec::with_capacity(BLOCK),
            window: Vec::new(),
            crc: crc32fast::Hasher::new(),
            len: 0,
            pending: VecDeque::new(),
            in_flight,
        })
    }

    /// Hands the current block to the pool.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        self.crc.update(&block);
        self.len += block.len() as u64;
        let tail = block.len().saturating_sub(WINDOW);
        let mut window = if block.len() >= WINDOW {
            Vec::new()
        } else {
            // A short block: the window reaches into the one before.
            let keep = self.window.len().min(WINDOW - block.len());
            self.window[self.window.len() - keep..].to_vec()
        };
        window.extend_from_slice(&block[tail..]);
        let dictionary = std::mem::replace(&mut self.window, window);
        let level = self.level;
        let (tx, rx) = mpsc::sync_channel(1);
        self.pool.spawn(move || {
            let _ = tx.send(deflate_block(&block, &dictionary, level, last));
        });
        self.pending.push_back(rx);
        while self.pending.len() > self.in_flight {
            self.write_next()?;
        }
        Ok(())
    }

    /// Writes the oldest block's output once it is ready.
    fn write_next(&mut self) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let bytes = rx
            .recv()
            .map_err(|_| io::Error::other("a compression worker stopped"))??;
        self.out.write_all(&bytes)
    }

    fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.write_next()?;
        }
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        // ISIZE is the length modulo 2^32.
        self.out.write_all(&(self.len as u32).to_le_bytes())?;
        Ok(self.out)
    }
}

impl<W: Write> Write for BlockGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK {
            self.submit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One block as raw deflate, ending byte-aligned; the last one ends the
/// stream.
pub(crate) fn deflate_block(
    input: &[u8],
    dictionary: &[u8],
    level: u32,
    last: bool,
) -> io::Result<Vec<u8>> {
    if !worth_deflating(input) {
        return Ok(stored(input, last));
    }
    let mut z = Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        z.set_dictionary(dictionary).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    loop {
        if out.len() == out.capacity() {
            out.reserve(input.len() / 4 + 64);
        }
        let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let status = z
            .compress_vec(&input[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let done = z.total_in() as usize == input.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once deflate left output room over.
            _ if !last && done && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}

/// Whether the block's first [`SAMPLE`] bytes shrink by at least 1/64 at
/// the fastest level; a block shorter than that is always deflated.
fn worth_deflating(input: &[u8]) -> bool {
    if input.len() < 2 * SAMPLE {
        return true;
    }
    let sample = &input[..SAMPLE];
    let mut z = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(SAMPLE + 64);
    if z.compress_vec(sample, &mut out, FlushCompress::Finish)
        .is_err()
    {
        return true;
    }
    z.total_in() as usize == SAMPLE && out.len() < SAMPLE - SAMPLE / 64
}

/// `input` as stored deflate blocks of at most 65,535 bytes, ending
/// byte-aligned; with `last`, the final one ends the stream.
fn stored(input: &[u8], last: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 65_535 * 5 + 5);
    let mut chunks = input.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[u8::from(last), 0, 0, 0xff, 0xff]);
        return out;
    }
    while let Some(chunk) = chunks.next() {
        let fin = last && chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(fin));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap(),
        )
    }

    fn gzip(data: &[u8], level: u32, threads: usize, chunk: usize) -> Vec<u8> {
        let mut w = BlockGzip::new(Vec::new(), level, pool(threads)).unwrap();
        for part in data.chunks(chunk.max(1)) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Text, then random bytes, then a run: every kind of block.
    fn mixed(len: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(len);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while data.len() < len / 3 {
            data.extend_from_slice(
                format!("line {} of a source file\n", data.len() % 977).as_bytes(),
            );
        }
        while data.len() < 2 * len / 3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.resize(len, b'z');
        data
    }

    #[test]
    fn gzip_round_trips_and_does_not_depend_on_threads_or_writes() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 12_345] {
            let data = mixed(len);
            let one = gzip(&data, 6, 1, 1 << 20);
            assert_eq!(gunzip(&one), data, "length {len}");
            assert_eq!(gzip(&data, 6, 4, 1 << 20), one, "length {len}, 4 threads");
            assert_eq!(gzip(&data, 6, 3, 7_777), one, "length {len}, small writes");
        }
    }

    #[test]
    fn random_blocks_are_stored_and_text_is_compressed() {
        let data = mixed(6 * BLOCK);
        let gz = gzip(&data, 6, 2, 1 << 20);
        // A third random (stored, a few bytes over), two thirds compressible.
        assert!(gz.len() < data.len() / 2, "{} of {}", gz.len(), data.len());
        assert!(gz.len() > data.len() / 3, "{} of {}", gz.len(), data.len());
        let stored = stored(&data[..70_000], true);
        assert_eq!(stored.len(), 70_000 + 10);
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&stored[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, &data[..70_000]);
    }

    #[test]
    fn levels_are_checked() {
        assert!(LayerCompression::Gzip { level: 0 }.check().is_err());
        assert!(LayerCompression::Gzip { level: 10 }.check().is_err());
        assert!(LayerCompression::default().check().is_ok());
        assert_eq!(LayerCompression::None.media_type(), MEDIA_TYPE_LAYER_TAR);
        assert_eq!("gzip:9".parse(), Ok(LayerCompression::Gzip { level: 9 }));
        assert_eq!("none".parse(), Ok(LayerCompression::None));
        for bad in ["gzip:0", "gzip:x", "gzip:-1", "brotli", "none:1"] {
            assert!(bad.parse::<LayerCompression>().is_err(), "{bad}");
        }
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_does_not_depend_on_threads() {
        let data = mixed(40 << 20);
        let z = |threads| {
            let mut w = LayerWriter::new(
                Vec::new(),
                LayerCompression::Zstd { level: 3 },
                pool(threads),
            )
            .unwrap();
            w.write_all(&data).unwrap();
            w.finish().unwrap()
        };
        let one = z(1);
        assert_eq!(z(4), one);
        assert_eq!(zstd::decode_all(&one[..]).unwrap(), data);
    }
}
