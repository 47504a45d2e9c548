//! Decoded frames (any pixel format FFmpeg knows) to planar RGB for the network and back,
//! through swscale with the stream's own YUV matrix and range, so that colours survive
//! the round trip.

use ff::ffi;
use ff::format::Pixel;
use ff::software::scaling::{Context as Scaler, Flags};
use ff::util::color::{Range, Space};
use ff::util::frame::video::Video as VideoFrame;
use ffmpeg_next as ff;

use crate::picture::Planar;

/// How Y'CbCr relates to RGB for a stream: matrix and range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorModel {
    pub space: Space,
    pub full_range: bool,
}

impl ColorModel {
    /// The model of a frame (yuvj* formats are full range whatever the tag says).
    pub fn of_frame(frame: &VideoFrame) -> Self {
        Self {
            space: frame.color_space(),
            full_range: frame.color_range() == Range::JPEG || is_jpeg_format(frame.format()),
        }
    }

    fn coefficients(&self) -> *const std::ffi::c_int {
        let cs = match self.space {
            Space::BT709 => ffi::SWS_CS_ITU709,
            Space::FCC => ffi::SWS_CS_FCC,
            Space::SMPTE240M => ffi::SWS_CS_SMPTE240M,
            Space::BT2020NCL | Space::BT2020CL => ffi::SWS_CS_BT2020,
            Space::BT470BG | Space::SMPTE170M => ffi::SWS_CS_ITU601,
            // Unspecified: swscale's default (BT.601), the same both ways, so the
            // round trip is exact whatever a player later assumes.
            _ => ffi::SWS_CS_DEFAULT,
        };
        unsafe { ffi::sws_getCoefficients(cs) }
    }
}

pub fn is_jpeg_format(format: Pixel) -> bool {
    matches!(
        format,
        Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P | Pixel::YUVJ440P | Pixel::YUVJ411P
    )
}

fn set_details(scaler: &mut Scaler, src: ColorModel, dst: ColorModel) {
    unsafe {
        // brightness 0, contrast and saturation 1.0 in 16.16 fixed point
        ffi::sws_setColorspaceDetails(
            scaler.as_mut_ptr(),
            src.coefficients(),
            src.full_range as std::ffi::c_int,
            dst.coefficients(),
            dst.full_range as std::ffi::c_int,
            0,
            1 << 16,
            1 << 16,
        );
    }
}

// Plain bicubic, as the ffmpeg CLI scales. The full-chroma-interpolation and
// accurate-rounding flags round-trip a 4:2:0 test pattern worse (lossless re-encode, mean
// RGB error 4.1 and 2.5 against 1.6), so they are left off.
const SCALE_FLAGS: Flags = Flags::BICUBIC;

/// Decoded frame → planar RGB at a fixed output size (scaling if needed). Rebuilds its
/// scaler when the stream changes format or size mid-way.
pub struct ToRgb {
    width: u32,
    height: u32,
    scaler: Option<((Pixel, u32, u32, ColorModel), Scaler)>,
    rgb: VideoFrame,
}

impl ToRgb {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            scaler: None,
            rgb: VideoFrame::empty(),
        }
    }

    pub fn convert(&mut self, frame: &VideoFrame) -> Result<Planar, ff::Error> {
        let model = ColorModel::of_frame(frame);
        let key = (frame.format(), frame.width(), frame.height(), model);
        if self.scaler.as_ref().map(|(k, _)| *k) != Some(key) {
            let mut scaler = Scaler::get(
                key.0,
                key.1,
                key.2,
                Pixel::RGB24,
                self.width,
                self.height,
                SCALE_FLAGS,
            )?;
            let rgb = ColorModel {
                space: model.space,
                full_range: true,
            };
            set_details(&mut scaler, model, rgb);
            self.scaler = Some((key, scaler));
        }
        let (_, scaler) = self.scaler.as_mut().expect("scaler just set");
        scaler.run(frame, &mut self.rgb)?;
        Ok(planar_from_rgb24(&self.rgb))
    }
}

fn planar_from_rgb24(frame: &VideoFrame) -> Planar {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data(0);
    let n = w * h;
    let mut out = vec![0.0f32; 3 * n];
    for y in 0..h {
        let row = &data[y * stride..y * stride + 3 * w];
        for x in 0..w {
            let i = y * w + x;
            out[i] = row[3 * x] as f32;
            out[n + i] = row[3 * x + 1] as f32;
            out[2 * n + i] = row[3 * x + 2] as f32;
        }
    }
    Planar {
        width: w,
        height: h,
        data: out,
    }
}

/// Planar RGB → a frame in the encoder's pixel format, with the stream's matrix and range.
pub struct FromRgb {
    format: Pixel,
    model: ColorModel,
    scaler: Option<((u32, u32), Scaler)>,
    rgb: VideoFrame,
}

impl FromRgb {
    pub fn new(format: Pixel, model: ColorModel) -> Self {
        Self {
            format,
            model,
            scaler: None,
            rgb: VideoFrame::empty(),
        }
    }

    pub fn convert(&mut self, image: &Planar) -> Result<VideoFrame, ff::Error> {
        let (w, h) = (image.width as u32, image.height as u32);
        if self.scaler.as_ref().map(|(k, _)| *k) != Some((w, h)) {
            let mut scaler = Scaler::get(Pixel::RGB24, w, h, self.format, w, h, SCALE_FLAGS)?;
            let rgb = ColorModel {
                space: self.model.space,
                full_range: true,
            };
            set_details(&mut scaler, rgb, self.model);
            self.scaler = Some(((w, h), scaler));
            self.rgb = VideoFrame::new(Pixel::RGB24, w, h);
        }
        fill_rgb24(&mut self.rgb, image);
        let mut out = VideoFrame::new(self.format, w, h);
        let (_, scaler) = self.scaler.as_mut().expect("scaler just set");
        scaler.run(&self.rgb, &mut out)?;
        out.set_color_space(self.model.space);
        out.set_color_range(if self.model.full_range {
            Range::JPEG
        } else {
            Range::MPEG
        });
        Ok(out)
    }
}

fn fill_rgb24(frame: &mut VideoFrame, image: &Planar) {
    let (w, h) = (image.width, image.height);
    let n = w * h;
    let stride = frame.stride(0);
    let data = frame.data_mut(0);
    let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    for y in 0..h {
        let row = &mut data[y * stride..y * stride + 3 * w];
        for x in 0..w {
            let i = y * w + x;
            row[3 * x] = q(image.data[i]);
            row[3 * x + 1] = q(image.data[n + i]);
            row[3 * x + 2] = q(image.data[2 * n + i]);
        }
    }
}
