//! The output file: the stylized video stream (encoded, H.264 by default) and every other
//! input stream copied packet for packet, in input order.

use std::path::{Path, PathBuf};

use ff::format::Pixel;
use ff::media::Type as Media;
use ff::{Dictionary, Packet, Rational, codec, encoder, ffi};
use ffmpeg_next as ff;

use super::convert::{ColorModel, is_jpeg_format};
use super::endpoint;
use super::source::Source;
use crate::error::Error;

/// Encoder choices from the command line.
#[derive(Debug, Clone)]
pub struct EncodeSettings {
    /// None: the container's usual encoder (see `endpoint::default_encoder`).
    pub codec: Option<String>,
    pub crf: u8,
    pub preset: String,
}

/// How the output's timestamps relate to the input's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The input's own, passed through; every other stream copied alongside.
    Source,
    /// Milliseconds of wall clock, set by the caller (`faststyle live` records what was
    /// shown, when it was shown); the video alone.
    WallClock,
    /// The input's own, the video alone: a chunk of a split run, which `faststyle join`
    /// puts together with the other streams.
    Chunk,
}

/// Where a copied input stream goes.
#[derive(Debug, Clone, Copy)]
pub struct CopiedStream {
    pub input_index: usize,
    pub output_index: usize,
    pub input_time_base: Rational,
    pub output_time_base: Rational,
}

/// The opened output: muxer, encoder and stream map, header written.
pub struct Sink {
    pub output: ff::format::context::Output,
    pub encoder: encoder::Video,
    pub encoder_time_base: Rational,
    pub video_output_index: usize,
    pub video_output_time_base: Rational,
    pub pixel_format: Pixel,
    pub color: ColorModel,
    pub width: u32,
    pub height: u32,
    pub copies: Vec<CopiedStream>,
    pub path: PathBuf,
    /// The video encoder's name.
    pub codec: String,
}

impl Sink {
    /// Opens `url` (a temporary file named like the final output, a pattern, stdout or a
    /// stream; `name` is what messages call it), in the container `format` names or its
    /// name implies, maps the streams and writes the header. `streaming`: the output cannot
    /// be seeked back in (a pipe or a network stream). `warnings` collects streams that had
    /// to be dropped and similar notes for the user.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        url: &str,
        name: &Path,
        format: Option<&str>,
        streaming: bool,
        timing: Timing,
        source: &Source,
        width: u32,
        height: u32,
        settings: &EncodeSettings,
        warnings: &mut Vec<String>,
    ) -> Result<Self, Error> {
        let out_err = |detail: String| Error::Output {
            path: name.to_path_buf(),
            detail,
        };
        let mut output = endpoint::open_output(url, format).map_err(out_err)?;
        let container = output.format().name().to_string();
        let codec_name = match &settings.codec {
            Some(c) => c.clone(),
            None => endpoint::default_encoder(&output, url).ok_or_else(|| {
                Error::Usage(format!(
                    "this FFmpeg has no video encoder for the {container} container; name one with --codec"
                ))
            })?,
        };
        let codec = encoder::find_by_name(&codec_name)
            .filter(|c| c.medium() == Media::Video)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "no video encoder named '{codec_name}' in this FFmpeg (try libx264, libx265, libvpx-vp9, libsvtav1)"
                ))
            })?;
        let supported: Vec<Pixel> = codec
            .video()
            .ok()
            .and_then(|v| v.formats().map(|f| f.collect()))
            .unwrap_or_default();
        let (pixel_format, width, height) =
            choose_format(source.pixel_format, &supported, width, height, warnings);
        let color = ColorModel {
            space: source.color_space,
            full_range: source.color_range == ff::color::Range::JPEG
                || is_jpeg_format(source.pixel_format),
        };

        let time_base = match timing {
            Timing::Source | Timing::Chunk => source.time_base,
            Timing::WallClock => Rational(1, 1000),
        };
        let mut encoder = None;
        let (video_output_index, mut copies) = map_streams(
            &mut output,
            source,
            timing == Timing::Source,
            name,
            warnings,
            |output| {
                let opened = open_encoder(
                    output,
                    codec,
                    source,
                    pixel_format,
                    (width, height),
                    time_base,
                    settings,
                    timing == Timing::Chunk,
                )
                .map_err(|e| {
                    Error::Usage(format!(
                        "cannot open the {codec_name} encoder for {width}x{height} {pixel_format:?}: {e}"
                    ))
                })?;
                encoder = Some(opened);
                Ok(())
            },
        )?;
        let (encoder, encoder_time_base) = encoder.expect("the video stream is among the inputs");
        let header = if streaming {
            output
                .write_header_with(endpoint::streaming_options(&output))
                .map(|_| ())
        } else if timing == Timing::Chunk {
            output
                .write_header_with(chunk_options(time_base))
                .map(|_| ())
        } else {
            output.write_header().map(|_| ())
        };
        header.map_err(|e| out_err(format!("cannot write the container header: {e}")))?;
        settle_time_bases(&output, &mut copies);
        let video_output_time_base = output
            .stream(video_output_index)
            .expect("video stream")
            .time_base();
        Ok(Self {
            output,
            encoder,
            encoder_time_base,
            video_output_index,
            video_output_time_base,
            pixel_format,
            color,
            width,
            height,
            copies,
            path: name.to_path_buf(),
            codec: codec_name,
        })
    }

    /// Sends one frame (or `None` to flush) and writes whatever packets come out.
    pub fn encode(&mut self, frame: Option<&ff::frame::Video>) -> Result<(), Error> {
        let result = match frame {
            Some(f) => self.encoder.send_frame(f),
            None => self.encoder.send_eof(),
        };
        result.map_err(|e| self.error(format!("the video encoder failed: {e}")))?;
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.video_output_index);
            packet.rescale_ts(self.encoder_time_base, self.video_output_time_base);
            packet
                .write_interleaved(&mut self.output)
                .map_err(|e| self.error(format!("cannot write video: {e}")))?;
        }
        Ok(())
    }

    /// Writes a copied packet (timestamps in its input stream's time base).
    pub fn write_copied(&mut self, copy: &CopiedStream, mut packet: Packet) -> Result<(), Error> {
        packet.set_stream(copy.output_index);
        packet.rescale_ts(copy.input_time_base, copy.output_time_base);
        packet.set_position(-1);
        packet
            .write_interleaved(&mut self.output)
            .map_err(|e| self.error(format!("cannot write stream #{}: {e}", copy.input_index)))
    }

    pub fn finish(mut self) -> Result<(), Error> {
        self.output.write_trailer().map_err(|e| Error::Output {
            path: self.path.clone(),
            detail: format!("cannot finish the container: {e}"),
        })
    }

    fn error(&self, detail: String) -> Error {
        Error::Output {
            path: self.path.clone(),
            detail,
        }
    }
}

/// Adds the input's streams to `output` in input order: the video stream through
/// `add_video` (which adds one stream), and, with `copy_others`, every other stream as a
/// packet copy where the container can hold it (the rest are dropped with a warning).
/// Stream metadata, dispositions and the display matrix go with them; the container's
/// metadata and chapters are copied too. Returns the video's output index and the copies.
pub fn map_streams(
    output: &mut ff::format::context::Output,
    source: &Source,
    copy_others: bool,
    name: &Path,
    warnings: &mut Vec<String>,
    mut add_video: impl FnMut(&mut ff::format::context::Output) -> Result<(), Error>,
) -> Result<(usize, Vec<CopiedStream>), Error> {
    let out_err = |detail: String| Error::Output {
        path: name.to_path_buf(),
        detail,
    };
    let container = output.format().name().to_string();
    let mut copies = Vec::new();
    let mut video_output_index = 0;
    let input_streams: Vec<_> = source.input.streams().map(|s| s.index()).collect();
    for index in input_streams {
        let ist = source.input.stream(index).expect("stream index in range");
        if index == source.video_index {
            let next_index = output.nb_streams() as usize;
            add_video(output)?;
            let mut ost = output.stream_mut(next_index).expect("stream just added");
            ost.set_metadata(ist.metadata().to_owned());
            unsafe {
                let st = ost.as_mut_ptr();
                (*st).disposition = ist.disposition().bits();
                if let Some(matrix) = &source.display_matrix {
                    let dst = ffi::av_stream_new_side_data(
                        st,
                        ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
                        matrix.len(),
                    );
                    if !dst.is_null() {
                        std::ptr::copy_nonoverlapping(matrix.as_ptr(), dst, matrix.len());
                    }
                }
            }
            video_output_index = next_index;
            continue;
        }
        if !copy_others {
            continue;
        }
        let params = ist.parameters();
        let medium = params.medium();
        let kind = match medium {
            Media::Audio => "audio",
            Media::Subtitle => "subtitle",
            Media::Video => "video",
            Media::Data => "data",
            Media::Attachment => "attachment",
            _ => "unknown",
        };
        let (supported, has_default) = unsafe {
            let format = output.format().as_ptr();
            let default = match medium {
                Media::Audio => (*format).audio_codec,
                Media::Subtitle => (*format).subtitle_codec,
                _ => ffi::AVCodecID::AV_CODEC_ID_PROBE, // no default to judge by
            };
            let query = ffi::avformat_query_codec(
                format,
                params.id().into(),
                0, // FF_COMPLIANCE_NORMAL
            );
            (query, default != ffi::AVCodecID::AV_CODEC_ID_NONE)
        };
        // A muxer that does not know (negative) but has no default for the medium
        // (picture sequences and audio) cannot hold it either.
        if supported == 0 || (supported < 0 && !has_default) || medium == Media::Unknown {
            warnings.push(format!(
                "dropped {kind} stream #{index} ({:?}): the {container} container cannot hold it",
                params.id(),
            ));
            continue;
        }
        let next_index = output.nb_streams() as usize;
        let mut ost = output
            .add_stream(encoder::find(codec::Id::None))
            .map_err(|e| out_err(format!("cannot add stream #{index}: {e}")))?;
        ost.set_parameters(params);
        ost.set_time_base(ist.time_base());
        ost.set_metadata(ist.metadata().to_owned());
        unsafe {
            let st = ost.as_mut_ptr();
            // The input container's codec tag may mean nothing in the output's.
            (*(*st).codecpar).codec_tag = 0;
            (*st).disposition = ist.disposition().bits();
        }
        copies.push(CopiedStream {
            input_index: index,
            output_index: next_index,
            input_time_base: ist.time_base(),
            output_time_base: Rational(0, 1),
        });
    }
    if copy_others {
        output.set_metadata(source.input.metadata().to_owned());
        for chapter in source.input.chapters() {
            let title = chapter.metadata().get("title").unwrap_or("").to_string();
            if let Ok(mut added) = output.add_chapter(
                chapter.id(),
                chapter.time_base(),
                chapter.start(),
                chapter.end(),
                &title,
            ) {
                for (key, value) in chapter.metadata().iter() {
                    added.set_metadata(key, value);
                }
            }
        }
    }
    Ok((video_output_index, copies))
}

/// A chunk (MP4) starts at its first frame's own time, which the muxer records as an edit
/// list in the movie's time scale: 1/1000 s by default, which would move every frame of a
/// 30000/1001 fps chunk by a fraction of a tick. The track's own scale (as the muxer picks
/// it: the time base's, doubled up to at least 10000) keeps the timestamps exact.
fn chunk_options(time_base: Rational) -> Dictionary<'static> {
    let mut scale = i64::from(time_base.denominator()).max(1);
    while scale < 10_000 {
        scale *= 2;
    }
    let mut options = Dictionary::new();
    options.set("movie_timescale", &scale.to_string());
    options
}

/// The muxer may change a stream's time base when it writes the header: read them back.
pub fn settle_time_bases(output: &ff::format::context::Output, copies: &mut [CopiedStream]) {
    for copy in copies {
        copy.output_time_base = output
            .stream(copy.output_index)
            .expect("mapped")
            .time_base();
    }
}

/// The encoder's pixel format: the input's when the encoder takes it (so 10-bit stays
/// 10-bit and full range stays full range), else 4:2:0. Odd sizes cannot be chroma
/// subsampled, so they get 4:4:4 when possible, else are rounded down to even.
fn choose_format(
    input: Pixel,
    supported: &[Pixel],
    width: u32,
    height: u32,
    warnings: &mut Vec<String>,
) -> (Pixel, u32, u32) {
    let takes = |p: Pixel| supported.is_empty() || supported.contains(&p);
    let mut format = if takes(input) {
        input
    } else if takes(Pixel::YUV420P) {
        Pixel::YUV420P
    } else {
        supported[0]
    };
    let odd = width % 2 == 1 || height % 2 == 1;
    if odd && is_subsampled(format) {
        let full = if is_high_depth(format) {
            Pixel::YUV444P10LE
        } else {
            Pixel::YUV444P
        };
        if takes(full) {
            warnings.push(format!(
                "the odd frame size {width}x{height} cannot use {format:?}; encoding 4:4:4 ({full:?}) to keep the size (some players need even sizes; --max-height gives one)"
            ));
            format = full;
        } else {
            let (w, h) = (width & !1, height & !1);
            warnings.push(format!(
                "the encoder needs even sizes: output is {w}x{h} instead of {width}x{height}"
            ));
            return (format, w.max(2), h.max(2));
        }
    }
    (format, width, height)
}

fn is_subsampled(format: Pixel) -> bool {
    format
        .descriptor()
        .is_some_and(|d| d.log2_chroma_w() > 0 || d.log2_chroma_h() > 0)
}

fn is_high_depth(format: Pixel) -> bool {
    format!("{format:?}").contains("10") || format!("{format:?}").contains("12")
}

#[allow(clippy::too_many_arguments)]
fn open_encoder(
    output: &mut ff::format::context::Output,
    codec: ff::Codec,
    source: &Source,
    format: Pixel,
    (width, height): (u32, u32),
    time_base: Rational,
    settings: &EncodeSettings,
    chunk: bool,
) -> Result<(encoder::Video, Rational), ff::Error> {
    // A chunk's parameter sets go in the stream header even in containers that do not need
    // it: `join` checks that every chunk has the same ones and gives them to the output.
    let global_header = chunk
        || output
            .format()
            .flags()
            .contains(ff::format::Flags::GLOBAL_HEADER);
    let mut ost = output.add_stream(codec)?;
    let mut ctx = codec::context::Context::new_with_codec(codec);
    if global_header {
        ctx.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut enc = ctx.encoder().video()?;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(format);
    // Timestamps pass through unchanged: the encoder works in the time base they are in.
    enc.set_time_base(time_base);
    enc.set_frame_rate(Some(source.frame_rate));
    if source.sample_aspect_ratio.numerator() > 0 {
        enc.set_aspect_ratio(source.sample_aspect_ratio);
    }
    enc.set_color_primaries(source.color_primaries);
    enc.set_color_transfer_characteristic(source.color_transfer);
    enc.set_colorspace(source.color_space);
    enc.set_color_range(if is_jpeg_format(source.pixel_format) {
        ff::color::Range::JPEG
    } else {
        source.color_range
    });
    let mut options = Dictionary::new();
    let name = codec.name();
    options.set("crf", &settings.crf.to_string());
    // As many threads as the encoder can use (as the ffmpeg CLI sets): libavcodec's default
    // is one, and with a GPU painting the frames the encoder sets the pace.
    options.set("threads", "auto");
    if ["libx264", "libx265"].contains(&name) {
        options.set("preset", &settings.preset);
    }
    if name == "libvpx-vp9" || name == "libaom-av1" {
        options.set("b", "0"); // constant quality: crf alone
    }
    let opened = enc.open_as_with(codec, options)?;
    ost.set_parameters(&opened);
    ost.set_time_base(time_base);
    ost.set_avg_frame_rate(source.frame_rate);
    Ok((opened, time_base))
}
