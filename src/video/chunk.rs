//! Splitting one video into N chunks of exact frame ranges for separate processes or
//! machines (Slurm job arrays, Kubernetes Indexed Jobs), and the manifests that let
//! `faststyle join` check them and a rerun skip the ones already done.
//!
//! A chunk is frames `[K*F/N, (K+1)*F/N)` of the F frames in presentation order, found
//! from the video packets' timestamps (a demux pass, no decoding). It is encoded video only,
//! with the source's own timestamps, in NUT (which keeps any time base exactly); its
//! manifest beside it holds the source's fingerprint, the range, the frame count and the
//! file's CRC-32.

use std::io::Read;
use std::path::{Path, PathBuf};

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use super::pipeline::FrameRange;
use super::source::Source;
use crate::error::{Error, Result};
use crate::fsutil;

pub const CHUNK_EXTENSION: &str = "mp4";
pub const CHUNK_FORMAT: &str = "mp4";
const MANIFEST_FORMAT: &str = "faststyle-chunk-1";

/// Which chunk of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpec {
    pub index: u32,
    pub count: u32,
}

impl ChunkSpec {
    /// From `--chunk K/N`, or `--chunks N` with `--chunk-index K`, where K defaults to
    /// the array index a job engine sets (`$SLURM_ARRAY_TASK_ID`, `$JOB_COMPLETION_INDEX`).
    pub fn resolve(
        chunk: Option<&str>,
        chunks: Option<u32>,
        index: Option<u32>,
    ) -> Result<Option<Self>> {
        let usage = |m: String| Error::Usage(m);
        let spec = match (chunk, chunks) {
            (Some(text), None) => {
                let (k, n) = text
                    .split_once('/')
                    .ok_or_else(|| usage(format!("--chunk {text}: give K/N, e.g. 0/8")))?;
                let parse = |v: &str| {
                    v.trim().parse::<u32>().map_err(|_| {
                        usage(format!("--chunk {text}: K and N must be whole numbers"))
                    })
                };
                Self {
                    index: parse(k)?,
                    count: parse(n)?,
                }
            }
            (None, Some(count)) => {
                let index = match index {
                    Some(i) => i,
                    None => engine_index()?.ok_or_else(|| {
                        usage(
                            "--chunks N needs --chunk-index K, or $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX set by the job engine".to_string(),
                        )
                    })?,
                };
                Self { index, count }
            }
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => unreachable!("clap keeps --chunk and --chunks apart"),
        };
        if spec.count == 0 || spec.index >= spec.count {
            return Err(usage(format!(
                "chunk {} of {} does not exist: chunks are numbered 0 to N-1",
                spec.index, spec.count
            )));
        }
        Ok(Some(spec))
    }

    pub fn file_name(&self) -> String {
        format!(
            "chunk-{:04}-of-{:04}.{CHUNK_EXTENSION}",
            self.index, self.count
        )
    }

    pub fn manifest_name(&self) -> String {
        format!("chunk-{:04}-of-{:04}.json", self.index, self.count)
    }

    /// The chunk's frames, as indices into the presentation order.
    pub fn frames(&self, total: u64) -> std::ops::Range<u64> {
        let at = |k: u32| total * u64::from(k) / u64::from(self.count);
        at(self.index)..at(self.index + 1)
    }
}

fn engine_index() -> Result<Option<u32>> {
    for var in ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        if let Ok(value) = std::env::var(var) {
            return value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::Usage(format!("${var} is '{value}', not a chunk index")));
        }
    }
    Ok(None)
}

/// The video frames' timestamps in presentation order, and a fingerprint of the source
/// that does not depend on where it is mounted (the frames' timestamps and coded data).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameIndex {
    pub timestamps: Vec<i64>,
    pub fingerprint: String,
}

/// The index as cached in the chunk folder, with what identifies the file it was made from.
#[derive(Serialize, Deserialize)]
struct CachedIndex {
    format: String,
    source_bytes: u64,
    source_modified_ns: u128,
    index: FrameIndex,
}

const INDEX_FILE: &str = "index.json";

impl FrameIndex {
    /// The index cached in `dir` by an earlier task if it was made from this very file
    /// (same size and modification time), else a fresh scan, cached for the next ones: a
    /// film split 64 ways is then read through once or a few times, not 64.
    pub fn cached(path: &Path, dir: &Path) -> Result<Self> {
        let identity = std::fs::metadata(path).ok().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), modified)
        });
        let cache = dir.join(INDEX_FILE);
        if let (Some((bytes, modified)), Ok(text)) = (identity, std::fs::read_to_string(&cache))
            && let Ok(cached) = serde_json::from_str::<CachedIndex>(&text)
            && cached.format == MANIFEST_FORMAT
            && (cached.source_bytes, cached.source_modified_ns) == (bytes, modified)
        {
            return Ok(cached.index);
        }
        let index = Self::scan(path)?;
        if let Some((source_bytes, source_modified_ns)) = identity {
            let cached = CachedIndex {
                format: MANIFEST_FORMAT.to_string(),
                source_bytes,
                source_modified_ns,
                index,
            };
            let text = serde_json::to_string(&cached).expect("an index serializes");
            // Best effort: another task may be writing the same index at the same time.
            let _ = fsutil::write_atomically(&cache, true, |w| {
                use std::io::Write;
                w.write_all(text.as_bytes())
            });
            return Ok(cached.index);
        }
        Ok(index)
    }

    /// One demux pass over the video stream's packets. Refuses what cannot be cut
    /// exactly: packets without timestamps, or repeated ones.
    pub fn scan(path: &Path) -> Result<Self> {
        let input_error = |detail: String| Error::Input {
            path: path.to_path_buf(),
            detail,
        };
        let mut input = ff::format::input(path)
            .map_err(|e| input_error(format!("is not a video FFmpeg can read ({e})")))?;
        let video = Source::video_stream_index(&input)
            .ok_or_else(|| input_error("has no video stream".to_string()))?;
        let mut timestamps = Vec::new();
        // The fingerprint covers the coded pictures themselves, so two videos that merely
        // share a length and frame rate are told apart.
        let mut data = crc32fast::Hasher::new();
        let mut packet = ff::Packet::empty();
        loop {
            match packet.read(&mut input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => break,
                Err(e) => return Err(input_error(format!("cannot be read to the end ({e})"))),
            }
            if packet.stream() != video {
                continue;
            }
            let pts = packet.pts().ok_or_else(|| {
                input_error(
                    "cannot be split into chunks: its video packets carry no timestamps (remux it to MKV or MP4 first)"
                        .to_string(),
                )
            })?;
            timestamps.push(pts);
            data.update(packet.data().unwrap_or_default());
        }
        timestamps.sort_unstable();
        if timestamps.is_empty() {
            return Err(input_error("has no video frames".to_string()));
        }
        if timestamps.windows(2).any(|w| w[0] == w[1]) {
            return Err(input_error(
                "cannot be split into chunks: two video frames share a timestamp".to_string(),
            ));
        }
        let mut times = crc32fast::Hasher::new();
        for t in &timestamps {
            times.update(&t.to_le_bytes());
        }
        Ok(Self {
            fingerprint: format!(
                "{}-{:08x}-{:08x}",
                timestamps.len(),
                times.finalize(),
                data.finalize()
            ),
            timestamps,
        })
    }

    pub fn frames(&self) -> u64 {
        self.timestamps.len() as u64
    }

    pub fn range(&self, spec: ChunkSpec) -> FrameRange {
        let frames = spec.frames(self.frames());
        FrameRange {
            from_start: frames.start == 0,
            first_pts: self.timestamps[frames.start as usize],
            end_pts: self.timestamps.get(frames.end as usize).copied(),
            count: frames.end - frames.start,
        }
    }
}

/// What a finished chunk says of itself, in `chunk-KKKK-of-NNNN.json` beside it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub chunk: u32,
    pub chunks: u32,
    /// `FrameIndex::fingerprint` of the source.
    pub source: String,
    pub source_name: String,
    pub first_frame: u64,
    pub frames: u64,
    pub first_pts: i64,
    pub end_pts: Option<i64>,
    /// The style's name and weights' CRC-32 and the encoder settings: chunks made
    /// differently do not belong together.
    pub settings: String,
    pub file: String,
    pub bytes: u64,
    pub crc32: String,
}

impl Manifest {
    /// The manifest of `file`, chunk `spec` of the source `index` describes.
    pub fn new(
        spec: ChunkSpec,
        index: &FrameIndex,
        source_name: &Path,
        settings: String,
        file: &Path,
    ) -> Result<Self> {
        let (bytes, crc32) = checksum(file)?;
        Ok(Self {
            bytes,
            crc32,
            ..Self::new_unchecked(spec, index, source_name, settings)
        })
    }

    /// The manifest without the file's size and checksum: what a chunk made now would say.
    pub fn new_unchecked(
        spec: ChunkSpec,
        index: &FrameIndex,
        source_name: &Path,
        settings: String,
    ) -> Self {
        let frames = spec.frames(index.frames());
        let range = index.range(spec);
        Self {
            format: MANIFEST_FORMAT.to_string(),
            chunk: spec.index,
            chunks: spec.count,
            source: index.fingerprint.clone(),
            source_name: source_name.to_string_lossy().into_owned(),
            first_frame: frames.start,
            frames: range.count,
            first_pts: range.first_pts,
            end_pts: range.end_pts,
            settings,
            file: spec.file_name(),
            bytes: 0,
            crc32: String::new(),
        }
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            detail: fsutil::describe_io(&e),
        })?;
        let manifest: Self = serde_json::from_str(&text).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            detail: format!("is not a chunk manifest ({e})"),
        })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::Input {
                path: path.to_path_buf(),
                detail: format!(
                    "is a manifest of format '{}', not {MANIFEST_FORMAT}",
                    manifest.format
                ),
            });
        }
        Ok(manifest)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("a manifest serializes");
        fsutil::write_atomically(path, true, |w| {
            use std::io::Write;
            w.write_all(text.as_bytes())?;
            w.write_all(b"\n")
        })
        .map_err(|e| Error::Output {
            path: path.to_path_buf(),
            detail: fsutil::describe_io(&e),
        })
    }

    /// Why the chunk file in `dir` is not what this manifest says, if it is not.
    pub fn verify_file(&self, dir: &Path) -> Option<String> {
        match checksum(&dir.join(&self.file)) {
            Err(_) => Some(format!("{} is missing", self.file)),
            Ok((bytes, _)) if bytes != self.bytes => Some(format!(
                "{} has {bytes} bytes, its manifest says {} (cut short or replaced)",
                self.file, self.bytes
            )),
            Ok((_, crc)) if crc != self.crc32 => Some(format!(
                "{} is corrupt: its CRC-32 is {crc}, its manifest says {}",
                self.file, self.crc32
            )),
            Ok(_) => None,
        }
    }
}

/// Size and CRC-32 (hex) of a file, read in blocks.
pub fn checksum(path: &Path) -> Result<(u64, String)> {
    let io_error = |e: std::io::Error| Error::Input {
        path: path.to_path_buf(),
        detail: fsutil::describe_io(&e),
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(io_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((bytes, format!("{:08x}", hasher.finalize())))
}

/// Removes the temporary files that killed attempts at `spec` left in `dir` (an engine's
/// retry runs after the attempt it replaces has ended).
pub fn remove_unfinished(dir: &Path, spec: ChunkSpec) {
    let prefix = format!(".{}.", spec.file_name());
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The chunk file and manifest paths of `spec` in `dir`.
pub fn paths(dir: &Path, spec: ChunkSpec) -> (PathBuf, PathBuf) {
    (dir.join(spec.file_name()), dir.join(spec.manifest_name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_frame_once() {
        for total in [1u64, 7, 100, 172_800] {
            for count in 1..=9u32 {
                let mut next = 0;
                for index in 0..count {
                    let r = ChunkSpec { index, count }.frames(total);
                    assert_eq!(r.start, next);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn chunk_specs_parse_and_refuse_what_does_not_exist() {
        let spec = ChunkSpec::resolve(Some("3/8"), None, None)
            .unwrap()
            .unwrap();
        assert_eq!((spec.index, spec.count), (3, 8));
        assert_eq!(spec.file_name(), "chunk-0003-of-0008.mp4");
        let spec = ChunkSpec::resolve(None, Some(4), Some(2)).unwrap().unwrap();
        assert_eq!((spec.index, spec.count), (2, 4));
        for bad in ["8/8", "1/0", "x/2", "3"] {
            assert!(ChunkSpec::resolve(Some(bad), None, None).is_err(), "{bad}");
        }
        assert!(ChunkSpec::resolve(None, None, None).unwrap().is_none());
    }
}
