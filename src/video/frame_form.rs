//! The form decoded frames travel in between the pipeline's stages: f32 RGB for the CPU
//! (and for options that work on RGB), or 8-bit 4:2:0 planes that a GPU converts itself
//! (`Kernels::rgb_from_yuv420`), so that 1.5 bytes a pixel cross the bus each way.

use ff::format::Pixel;
use ff::util::frame::video::Video as VideoFrame;
use ffmpeg_next as ff;

use super::convert::{ColorModel, FromRgb, FromYuv420, ToRgb, ToYuv420};
use crate::kernels::Kernels;
use crate::picture::Planar;
use crate::stylize::Stylizer;
use crate::yuv::{Yuv420, YuvModel};

pub enum Picture {
    Rgb(Planar),
    Yuv(Yuv420),
}

/// Decoded frames → pictures of one form at the output size.
pub enum Importer {
    Rgb(ToRgb),
    Yuv(ToYuv420),
}

impl Importer {
    pub fn new(yuv: bool, width: u32, height: u32) -> Self {
        if yuv {
            Self::Yuv(ToYuv420::new(width, height))
        } else {
            Self::Rgb(ToRgb::new(width, height))
        }
    }

    pub fn convert(&mut self, frame: &VideoFrame) -> Result<Picture, ff::Error> {
        Ok(match self {
            Self::Rgb(c) => Picture::Rgb(c.convert(frame)?),
            Self::Yuv(c) => Picture::Yuv(c.convert(frame)?),
        })
    }
}

/// Pictures of either form → frames for the encoder.
pub struct Exporter {
    rgb: FromRgb,
    yuv: FromYuv420,
}

impl Exporter {
    pub fn new(format: Pixel, model: ColorModel) -> Self {
        Self {
            rgb: FromRgb::new(format, model),
            yuv: FromYuv420::new(format, model),
        }
    }

    pub fn convert(&mut self, picture: &Picture) -> Result<VideoFrame, ff::Error> {
        match picture {
            Picture::Rgb(p) => self.rgb.convert(p),
            Picture::Yuv(p) => self.yuv.convert(p),
        }
    }
}

/// Stylizes a batch of one form; 4:2:0 frames come back in `out` (the encoder's model).
pub fn stylize<B: Kernels>(
    stylizer: &Stylizer<B>,
    pictures: Vec<Picture>,
    out: YuvModel,
) -> Vec<Picture> {
    let mut rgb = Vec::new();
    let mut yuv = Vec::new();
    for p in pictures {
        match p {
            Picture::Rgb(p) => rgb.push(p),
            Picture::Yuv(p) => yuv.push(p),
        }
    }
    // The decoder makes one form for the whole run, so one of the two is empty (and the
    // order within the batch is kept).
    debug_assert!(rgb.is_empty() || yuv.is_empty());
    let mut styled: Vec<Picture> = stylizer.run(&rgb).into_iter().map(Picture::Rgb).collect();
    if !yuv.is_empty() {
        let refs: Vec<&Yuv420> = yuv.iter().collect();
        styled.extend(stylizer.run_yuv(&refs, out).into_iter().map(Picture::Yuv));
    }
    styled
}
