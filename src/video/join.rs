//! `faststyle join`: the chunks of a split run, checked, their video packets concatenated
//! and every other stream (audio, subtitles, data), the chapters and the metadata copied
//! from the source once, so the result is what one `faststyle video` run writes. Audio is
//! never cut per chunk: cutting AAC at every join would add priming gaps.

use std::path::{Path, PathBuf};

use ff::{Packet, Rational, codec, encoder};
use ffmpeg_next as ff;

use super::chunk::{ChunkSpec, FrameIndex, Manifest};
use super::destination::Destination;
use super::endpoint;
use super::sink::{self, CopiedStream};
use super::source::Source;
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct JoinReport {
    pub chunks: u32,
    pub frames: u64,
    pub copied_packets: u64,
    pub warnings: Vec<String>,
}

/// Every chunk of the split in `dir`, checked against the source: all present, made from
/// this source with the same settings, covering its frames exactly, their files intact.
pub fn check_chunks(dir: &Path, index: &FrameIndex, source_name: &Path) -> Result<Vec<Manifest>> {
    let refuse = |detail: String| Error::Input {
        path: dir.to_path_buf(),
        detail,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| refuse(crate::fsutil::describe_io(&e)))?;
    let mut manifests = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("chunk-") && name.ends_with(".json") {
            manifests.push(Manifest::read(&entry.path())?);
        }
    }
    let Some(count) = manifests.first().map(|m| m.chunks) else {
        return Err(refuse(
            "holds no finished chunks (no chunk-KKKK-of-NNNN.json manifests)".to_string(),
        ));
    };
    if let Some(other) = manifests.iter().find(|m| m.chunks != count) {
        return Err(refuse(format!(
            "holds chunks of different splits (of {count} and of {}); keep one split per folder",
            other.chunks
        )));
    }
    manifests.sort_by_key(|m| m.chunk);
    let settings = manifests[0].settings.clone();
    let mut ordered = Vec::with_capacity(count as usize);
    for k in 0..count {
        let spec = ChunkSpec { index: k, count };
        let Some(m) = manifests.iter().find(|m| m.chunk == k) else {
            return Err(refuse(format!(
                "chunk {k} of {count} is missing ({} is not finished or not there)",
                spec.file_name()
            )));
        };
        if m.source != index.fingerprint {
            return Err(refuse(format!(
                "{} was made from another video ({}), not {}",
                m.file,
                m.source_name,
                source_name.display()
            )));
        }
        if m.settings != settings {
            return Err(refuse(format!(
                "{} was made with other settings ({}) than chunk 0 ({settings})",
                m.file, m.settings
            )));
        }
        let frames = spec.frames(index.frames());
        if (m.first_frame, m.frames) != (frames.start, frames.end - frames.start) {
            return Err(refuse(format!(
                "{} holds frames {}..{}, chunk {k} of {count} is frames {}..{}",
                m.file,
                m.first_frame,
                m.first_frame + m.frames,
                frames.start,
                frames.end
            )));
        }
        if let Some(problem) = m.verify_file(dir) {
            return Err(refuse(problem));
        }
        ordered.push(m.clone());
    }
    Ok(ordered)
}

/// The video packets of the chunks, one chunk after the other.
struct ChunkReader {
    dir: PathBuf,
    manifests: Vec<Manifest>,
    next: usize,
    current: Option<(ff::format::context::Input, Manifest, u64)>,
    parameters: ff::codec::Parameters,
    time_base: Rational,
}

impl ChunkReader {
    fn open(dir: &Path, manifests: Vec<Manifest>) -> Result<Self> {
        let first = open_chunk(dir, &manifests[0])?;
        let stream = first.stream(0).expect("a chunk has its video stream");
        let (parameters, time_base) = (stream.parameters(), stream.time_base());
        Ok(Self {
            dir: dir.to_path_buf(),
            manifests,
            next: 0,
            current: None,
            parameters,
            time_base,
        })
    }

    /// The next video packet (timestamps in `self.time_base`), or None after the last chunk.
    fn read(&mut self) -> Result<Option<Packet>> {
        loop {
            if self.current.is_none() {
                let Some(m) = self.manifests.get(self.next).cloned() else {
                    return Ok(None);
                };
                self.next += 1;
                let input = open_chunk(&self.dir, &m)?;
                let stream = input.stream(0).expect("a chunk has its video stream");
                if !same_parameters(&stream.parameters(), &self.parameters)
                    || stream.time_base() != self.time_base
                {
                    return Err(self.error(
                        &m,
                        "is encoded differently from chunk 0 (codec, size or parameter sets)",
                    ));
                }
                self.current = Some((input, m, 0));
            }
            let (input, manifest, count) = self.current.as_mut().expect("opened above");
            let mut packet = Packet::empty();
            match packet.read(input) {
                Ok(()) => {
                    *count += 1;
                    packet.rescale_ts(input.stream(0).expect("video").time_base(), self.time_base);
                    return Ok(Some(packet));
                }
                Err(ff::Error::Eof) => {
                    if *count != manifest.frames {
                        let detail = format!(
                            "holds {count} frames, its manifest says {}",
                            manifest.frames
                        );
                        let m = manifest.clone();
                        return Err(self.error(&m, &detail));
                    }
                    self.current = None;
                }
                Err(e) => {
                    let m = manifest.clone();
                    return Err(self.error(&m, &format!("cannot be read ({e})")));
                }
            }
        }
    }

    fn error(&self, m: &Manifest, detail: &str) -> Error {
        Error::Input {
            path: self.dir.join(&m.file),
            detail: detail.to_string(),
        }
    }
}

fn open_chunk(dir: &Path, m: &Manifest) -> Result<ff::format::context::Input> {
    let path = dir.join(&m.file);
    ff::format::input(&path).map_err(|e| Error::Input {
        path,
        detail: format!("cannot be opened ({e})"),
    })
}

fn same_parameters(a: &ff::codec::Parameters, b: &ff::codec::Parameters) -> bool {
    unsafe {
        let (a, b) = (&*a.as_ptr(), &*b.as_ptr());
        let extradata = |p: &ff::ffi::AVCodecParameters| {
            if p.extradata.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(p.extradata, p.extradata_size as usize)
            }
        };
        a.codec_id == b.codec_id
            && a.width == b.width
            && a.height == b.height
            && a.format == b.format
            && extradata(a) == extradata(b)
    }
}

/// Writes the joined output: the chunks' video and the source's other streams,
/// interleaved by time.
pub fn join(
    mut source: Source,
    dir: &Path,
    manifests: Vec<Manifest>,
    destination: &Destination,
    format: Option<&str>,
) -> Result<JoinReport> {
    let name = destination.name();
    let out_err = |detail: String| Error::Output {
        path: name.clone(),
        detail,
    };
    let chunks = manifests.len() as u32;
    let mut reader = ChunkReader::open(dir, manifests)?;
    let mut output = endpoint::open_output(&destination.url(), format).map_err(out_err)?;
    let mut warnings = Vec::new();
    let (parameters, chunk_time_base) = (reader.parameters.clone(), reader.time_base);
    let frame_rate = source.frame_rate;
    let (video_index, mut copies) =
        sink::map_streams(&mut output, &source, true, &name, &mut warnings, |output| {
            let mut ost = output
                .add_stream(encoder::find(codec::Id::None))
                .map_err(|e| out_err(format!("cannot add the video stream: {e}")))?;
            ost.set_parameters(parameters.clone());
            ost.set_time_base(chunk_time_base);
            ost.set_avg_frame_rate(frame_rate);
            unsafe {
                (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
            }
            Ok(())
        })?;
    let header = if destination.streaming() {
        output
            .write_header_with(endpoint::streaming_options(&output))
            .map(|_| ())
    } else {
        output.write_header().map(|_| ())
    };
    header.map_err(|e| out_err(format!("cannot write the container header: {e}")))?;
    sink::settle_time_bases(&output, &mut copies);
    let video_time_base = output.stream(video_index).expect("video").time_base();
    let copy_of: Vec<Option<CopiedStream>> = {
        let mut map = vec![None; source.input.nb_streams() as usize];
        for c in &copies {
            map[c.input_index] = Some(*c);
        }
        map
    };

    let mut next_video = reader.read()?;
    let mut next_copy = read_copy(&mut source, &copy_of)?;
    let (mut frames, mut copied) = (0u64, 0u64);
    let seconds = |p: &Packet, tb: Rational| {
        p.dts()
            .or(p.pts())
            .map_or(f64::NEG_INFINITY, |t| t as f64 * f64::from(tb))
    };
    loop {
        // The earlier of the two goes first, so the muxer never buffers much.
        let video_first = match (&next_video, &next_copy) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(v), Some((c, p))) => seconds(v, chunk_time_base) <= seconds(p, c.input_time_base),
        };
        if video_first {
            let mut packet = next_video.take().expect("chosen");
            packet.set_stream(video_index);
            packet.rescale_ts(chunk_time_base, video_time_base);
            packet.set_position(-1);
            packet
                .write_interleaved(&mut output)
                .map_err(|e| out_err(format!("cannot write video: {e}")))?;
            frames += 1;
            next_video = reader.read()?;
        } else {
            let (copy, mut packet) = next_copy.take().expect("chosen");
            packet.set_stream(copy.output_index);
            packet.rescale_ts(copy.input_time_base, copy.output_time_base);
            packet.set_position(-1);
            packet
                .write_interleaved(&mut output)
                .map_err(|e| out_err(format!("cannot write stream #{}: {e}", copy.input_index)))?;
            copied += 1;
            next_copy = read_copy(&mut source, &copy_of)?;
        }
        if crate::interrupt::interrupted() {
            return Err(Error::Interrupted);
        }
    }
    output
        .write_trailer()
        .map_err(|e| out_err(format!("cannot finish the container: {e}")))?;
    Ok(JoinReport {
        chunks,
        frames,
        copied_packets: copied,
        warnings,
    })
}

/// The source's next packet of a copied stream.
fn read_copy(
    source: &mut Source,
    copy_of: &[Option<CopiedStream>],
) -> Result<Option<(CopiedStream, Packet)>> {
    let mut packet = Packet::empty();
    loop {
        match packet.read(&mut source.input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => return Ok(None),
            Err(e) => {
                return Err(Error::Input {
                    path: source.path.clone(),
                    detail: format!("cannot be read to the end ({e})"),
                });
            }
        }
        if let Some(copy) = copy_of.get(packet.stream()).copied().flatten() {
            return Ok(Some((copy, packet)));
        }
    }
}
