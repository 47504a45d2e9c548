//! Opening an input video and describing the stream that will be stylized.

use std::path::PathBuf;

use ff::format::stream::Disposition;
use ff::media::Type as Media;
use ff::{Rational, ffi};
use ffmpeg_next as ff;

use super::endpoint::{self, Endpoint, OpenFailure, SequencePattern};
use crate::error::Error;

/// An opened input and the facts about its video stream that the pipeline needs.
pub struct Source {
    pub path: PathBuf,
    pub input: ff::format::context::Input,
    pub video_index: usize,
    pub time_base: Rational,
    /// Average frame rate (the stream's, not the decoder's guess; see `open`).
    pub frame_rate: Rational,
    pub width: u32,
    pub height: u32,
    pub pixel_format: ff::format::Pixel,
    pub sample_aspect_ratio: Rational,
    pub color_primaries: ff::color::Primaries,
    pub color_transfer: ff::color::TransferCharacteristic,
    pub color_space: ff::color::Space,
    pub color_range: ff::color::Range,
    /// The 3x3 display matrix (rotation/flip) as stored in the stream's side data.
    pub display_matrix: Option<Vec<u8>>,
    /// Frames in the stream as the container states them, or estimated from the duration.
    pub frames_estimate: Option<u64>,
    /// Duration of the whole file in seconds, if known.
    pub duration_seconds: Option<f64>,
}

impl Source {
    /// Opens a file, stdin, a URL or a picture sequence; `format` and `options` are the
    /// user's `--input-format` and `--input-option`s.
    pub fn open(
        endpoint: &Endpoint,
        format: Option<&str>,
        options: &[(String, String)],
    ) -> Result<Self, Error> {
        let path = endpoint.display(false);
        let input_error = |detail: String| Error::Input {
            path: path.clone(),
            detail,
        };
        match endpoint {
            Endpoint::File(file) if !file.exists() => {
                return Err(input_error("no such file".to_string()));
            }
            Endpoint::File(file) if file.is_dir() => {
                return Err(input_error("is a folder, not a video file".to_string()));
            }
            Endpoint::Sequence(pattern) if SequencePattern::existing(pattern).is_empty() => {
                return Err(input_error(format!(
                    "no pictures in {} match the pattern",
                    endpoint::folder_of(pattern).display()
                )));
            }
            _ => {}
        }
        let input =
            endpoint::open_input(&endpoint.url(false), format, options).map_err(|e| match e {
                OpenFailure::Setting(detail) => Error::Usage(detail),
                OpenFailure::Media(e) => {
                    input_error(format!("is not a video FFmpeg can read ({e})"))
                }
            })?;
        let stream = Self::video_stream_index(&input)
            .and_then(|i| input.stream(i))
            .ok_or_else(|| input_error("has no video stream".to_string()))?;

        let decoder = ff::codec::context::Context::from_parameters(stream.parameters())
            .and_then(|c| c.decoder().video())
            .map_err(|e| input_error(format!("its video codec cannot be decoded ({e})")))?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(input_error(
                "its video stream has no frame size".to_string(),
            ));
        }

        let time_base = stream.time_base();
        // The decoder's frame rate can be missing for MP4; the stream's average rate is
        // what the container says and what players show.
        let frame_rate = [stream.avg_frame_rate(), stream.rate()]
            .into_iter()
            .find(|r| r.numerator() > 0 && r.denominator() > 0)
            .unwrap_or(Rational(25, 1));
        let duration_seconds = if input.duration() > 0 {
            Some(input.duration() as f64 / f64::from(ffi::AV_TIME_BASE))
        } else if stream.duration() > 0 {
            Some(stream.duration() as f64 * f64::from(time_base))
        } else {
            None
        };
        let frames_estimate = if stream.frames() > 0 {
            Some(stream.frames() as u64)
        } else {
            duration_seconds.map(|d| (d * f64::from(frame_rate)).round() as u64)
        };
        let display_matrix = unsafe {
            let mut size: usize = 0;
            let data = ffi::av_stream_get_side_data(
                stream.as_ptr(),
                ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
                &mut size,
            );
            (!data.is_null() && size >= 36).then(|| std::slice::from_raw_parts(data, size).to_vec())
        };
        let sample_aspect_ratio = {
            let sar = decoder.aspect_ratio();
            if sar.numerator() > 0 {
                sar
            } else {
                Rational(0, 1)
            }
        };

        Ok(Self {
            path,
            video_index: stream.index(),
            time_base,
            frame_rate,
            width: decoder.width(),
            height: decoder.height(),
            pixel_format: decoder.format(),
            sample_aspect_ratio,
            color_primaries: decoder.color_primaries(),
            color_transfer: decoder.color_transfer_characteristic(),
            color_space: decoder.color_space(),
            color_range: decoder.color_range(),
            display_matrix,
            frames_estimate,
            duration_seconds,
            input,
        })
    }

    /// The stream that is stylized: the best video stream that is not a cover picture.
    pub fn video_stream_index(input: &ff::format::context::Input) -> Option<usize> {
        input
            .streams()
            .best(Media::Video)
            .filter(|s| !s.disposition().contains(Disposition::ATTACHED_PIC))
            .or_else(|| {
                input.streams().find(|s| {
                    s.parameters().medium() == Media::Video
                        && !s.disposition().contains(Disposition::ATTACHED_PIC)
                })
            })
            .map(|s| s.index())
    }

    /// A decoder for the video stream, single-threaded: it hands each frame out as soon as
    /// it is decoded (frame threading would hold several back).
    pub fn video_decoder(&self) -> Result<ff::decoder::Video, ff::Error> {
        let params = self
            .input
            .stream(self.video_index)
            .expect("video stream")
            .parameters();
        let mut ctx = ff::codec::context::Context::from_parameters(params)?;
        unsafe {
            (*ctx.as_mut_ptr()).pkt_timebase = self.time_base.into();
        }
        ctx.decoder().video()
    }

    /// Whether seeking is possible: not in stdin or a live stream, where a demuxer's
    /// attempt would read the stream away looking for the target.
    pub fn seekable(&self) -> bool {
        unsafe {
            let pb = (*self.input.as_ptr()).pb;
            // No I/O context: the demuxer opens its own files (a picture sequence).
            pb.is_null() || (*pb).seekable & ffi::AVIO_SEEKABLE_NORMAL != 0
        }
    }

    /// Rotation in degrees (counter-clockwise, as ffprobe reports it) from the display matrix.
    pub fn rotation(&self) -> Option<f64> {
        let m = self.display_matrix.as_ref()?;
        let v: Vec<i32> = m
            .chunks_exact(4)
            .take(9)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        unsafe { Some(ffi::av_display_rotation_get(v.as_ptr())) }
    }
}
