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
use crate::yuv::{Yuv420, YuvGeometry, YuvModel};

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

impl ColorModel {
    /// The same matrix and range for `crate::yuv` (unspecified: BT.601, as swscale).
    pub fn yuv_model(&self) -> YuvModel {
        let k = match self.space {
            Space::BT709 => YuvModel::BT709,
            Space::FCC => YuvModel::FCC,
            Space::SMPTE240M => YuvModel::SMPTE240M,
            Space::BT2020NCL | Space::BT2020CL => YuvModel::BT2020,
            _ => YuvModel::BT601,
        };
        YuvModel::new(k, self.full_range)
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
        tag(&mut out, self.model);
        Ok(out)
    }
}

/// Marks a frame for the encoder with the stream's matrix and range.
fn tag(frame: &mut VideoFrame, model: ColorModel) {
    frame.set_color_space(model.space);
    frame.set_color_range(if model.full_range {
        Range::JPEG
    } else {
        Range::MPEG
    });
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

/// Decoded frame → 8-bit 4:2:0 planes at a fixed size in the stream's own matrix and
/// range, for a GPU to convert: a plain copy when the stream is already 8-bit 4:2:0 at
/// that size, else swscale changes only the format and size.
pub struct ToYuv420 {
    geometry: YuvGeometry,
    scaler: Option<((Pixel, u32, u32, ColorModel), Scaler)>,
    planes: VideoFrame,
}

impl ToYuv420 {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            geometry: YuvGeometry {
                width: width as usize,
                height: height as usize,
            },
            scaler: None,
            planes: VideoFrame::empty(),
        }
    }

    pub fn convert(&mut self, frame: &VideoFrame) -> Result<Yuv420, ff::Error> {
        let model = ColorModel::of_frame(frame);
        let g = self.geometry;
        let direct = matches!(frame.format(), Pixel::YUV420P | Pixel::YUVJ420P)
            && (frame.width() as usize, frame.height() as usize) == (g.width, g.height);
        if direct {
            return Ok(yuv_from_planes(frame, g, model.yuv_model()));
        }
        let key = (frame.format(), frame.width(), frame.height(), model);
        if self.scaler.as_ref().map(|(k, _)| *k) != Some(key) {
            let (w, h) = (g.width as u32, g.height as u32);
            let mut scaler = Scaler::get(key.0, key.1, key.2, Pixel::YUV420P, w, h, SCALE_FLAGS)?;
            set_details(&mut scaler, model, model);
            self.scaler = Some((key, scaler));
        }
        let (_, scaler) = self.scaler.as_mut().expect("scaler just set");
        scaler.run(frame, &mut self.planes)?;
        Ok(yuv_from_planes(&self.planes, g, model.yuv_model()))
    }
}

/// The three planes of an 8-bit 4:2:0 frame, without their row padding.
fn yuv_from_planes(frame: &VideoFrame, g: YuvGeometry, model: YuvModel) -> Yuv420 {
    let (cw, ch) = g.chroma();
    let mut data = Vec::with_capacity(g.bytes());
    for (plane, (w, h)) in [(0, (g.width, g.height)), (1, (cw, ch)), (2, (cw, ch))] {
        let (stride, bytes) = (frame.stride(plane), frame.data(plane));
        for row in 0..h {
            data.extend_from_slice(&bytes[row * stride..row * stride + w]);
        }
    }
    Yuv420 {
        geometry: g,
        model,
        data,
    }
}

/// 8-bit 4:2:0 planes (in the encoder's matrix and range) → a frame in the encoder's
/// pixel format: a plain copy for 8-bit 4:2:0 encoders, else swscale changes the format.
pub struct FromYuv420 {
    format: Pixel,
    model: ColorModel,
    scaler: Option<((u32, u32), Scaler)>,
}

impl FromYuv420 {
    pub fn new(format: Pixel, model: ColorModel) -> Self {
        Self {
            format,
            model,
            scaler: None,
        }
    }

    pub fn convert(&mut self, image: &Yuv420) -> Result<VideoFrame, ff::Error> {
        let (w, h) = (image.width() as u32, image.height() as u32);
        let planar = matches!(self.format, Pixel::YUV420P | Pixel::YUVJ420P);
        let mut planes = VideoFrame::new(if planar { self.format } else { Pixel::YUV420P }, w, h);
        fill_planes(&mut planes, image);
        let mut out = if planar {
            planes
        } else {
            if self.scaler.as_ref().map(|(k, _)| *k) != Some((w, h)) {
                let mut scaler = Scaler::get(Pixel::YUV420P, w, h, self.format, w, h, SCALE_FLAGS)?;
                set_details(&mut scaler, self.model, self.model);
                self.scaler = Some(((w, h), scaler));
            }
            let mut out = VideoFrame::new(self.format, w, h);
            let (_, scaler) = self.scaler.as_mut().expect("scaler just set");
            scaler.run(&planes, &mut out)?;
            out
        };
        tag(&mut out, self.model);
        Ok(out)
    }
}

fn fill_planes(frame: &mut VideoFrame, image: &Yuv420) {
    let g = image.geometry;
    let (cw, ch) = g.chroma();
    let (y, cb, cr) = image.planes();
    for (plane, src, w, h) in [(0, y, g.width, g.height), (1, cb, cw, ch), (2, cr, cw, ch)] {
        let stride = frame.stride(plane);
        let dst = frame.data_mut(plane);
        for row in 0..h {
            dst[row * stride..row * stride + w].copy_from_slice(&src[row * w..(row + 1) * w]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth 8-bit 4:2:0 frame tagged BT.709 limited range.
    fn smooth_frame(w: u32, h: u32) -> VideoFrame {
        let mut frame = VideoFrame::new(Pixel::YUV420P, w, h);
        frame.set_color_space(Space::BT709);
        frame.set_color_range(Range::MPEG);
        for plane in 0..3 {
            let (pw, ph) = if plane == 0 {
                (w as usize, h as usize)
            } else {
                (w.div_ceil(2) as usize, h.div_ceil(2) as usize)
            };
            let stride = frame.stride(plane);
            let data = frame.data_mut(plane);
            for y in 0..ph {
                for x in 0..pw {
                    data[y * stride + x] = match plane {
                        0 => 40 + (x + y) as u8,
                        1 => 100 + x as u8,
                        _ => 150 - y as u8,
                    };
                }
            }
        }
        frame
    }

    fn mean_abs(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
    }

    #[test]
    fn planes_convert_like_swscale_on_smooth_frames() {
        let _ = ff::init();
        let frame = smooth_frame(64, 48);
        let swscale = ToRgb::new(64, 48).convert(&frame).unwrap();
        let planes = ToYuv420::new(64, 48).convert(&frame).unwrap();
        assert_eq!(planes.model, YuvModel::new(YuvModel::BT709, false));
        let ours = planes.to_planar();
        // Pixel (0, 0) by BT.709's limited-range formula: Y 40, Cb 100, Cr 150.
        let (y, cb, cr): (f32, f32, f32) = (
            24.0 * 255.0 / 219.0,
            -28.0 * 255.0 / 224.0,
            22.0 * 255.0 / 224.0,
        );
        let n = 64 * 48;
        let exact = [
            y + 1.5748 * cr,
            y - 0.1873 * cb - 0.4681 * cr,
            (y + 1.8556 * cb).max(0.0),
        ];
        for (c, want) in exact.into_iter().enumerate() {
            let got = ours.data[c * n];
            assert!((got - want).abs() < 0.01, "channel {c}: {got}, not {want}");
        }
        // swscale's fast path rounds its coefficients and takes chroma nearest: it reads
        // R 66 where the formula says 67.4, so the two agree to about a level and a half.
        let d = mean_abs(&ours.data, &swscale.data);
        assert!(d < 2.0, "to RGB: mean difference {d}");

        // And back: the planes of the RGB picture, through each road to the encoder's
        // frame, then both read by swscale.
        let model = ColorModel::of_frame(&frame);
        let ours = FromYuv420::new(Pixel::YUV420P, model)
            .convert(&Yuv420::from_planar(&swscale, model.yuv_model()))
            .unwrap();
        let theirs = FromRgb::new(Pixel::YUV420P, model)
            .convert(&swscale)
            .unwrap();
        let (a, b) = (
            ToRgb::new(64, 48).convert(&ours).unwrap(),
            ToRgb::new(64, 48).convert(&theirs).unwrap(),
        );
        let d = mean_abs(&a.data, &b.data);
        assert!(d < 1.0, "from RGB: mean difference {d}");
    }

    #[test]
    fn planes_of_other_formats_and_sizes_go_through_swscale() {
        let _ = ff::init();
        let frame = smooth_frame(64, 48);
        let mut to = ToYuv420::new(32, 24);
        let half = to.convert(&frame).unwrap();
        assert_eq!((half.width(), half.height()), (32, 24));
        assert_eq!(half.data.len(), half.geometry.bytes());
        // A 4:4:4 encoder gets its frame through swscale, keeping the colours.
        let model = ColorModel::of_frame(&frame);
        let out = FromYuv420::new(Pixel::YUV444P, model)
            .convert(&half)
            .unwrap();
        assert_eq!(out.format(), Pixel::YUV444P);
        let back = ToRgb::new(32, 24).convert(&out).unwrap();
        let d = mean_abs(&back.data, &half.to_planar().data);
        assert!(d < 1.5, "through 4:4:4: mean difference {d}");
    }
}
