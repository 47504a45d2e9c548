//! 8-bit Y'CbCr 4:2:0 frames, the form video arrives and leaves in, and their conversion
//! to and from the network's RGB. A GPU converts on the device (`Kernels`), so that 1.5
//! bytes a pixel cross the bus each way instead of 12; this host version is the
//! reference the device kernels are tested against and the fallback for other backends.
//!
//! Chroma siting is MPEG-2/H.264's default (co-sited with the even luma columns, midway
//! between two luma rows): bilinear up, a [1 2 1]/4 x [1 1]/2 filter down.

use crate::picture::Planar;

/// How Y'CbCr relates to RGB: the matrix's luma weights of red and blue, and the range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YuvModel {
    pub kr: f32,
    pub kb: f32,
    /// 0..255 for every component (JPEG), else 16..235 luma and 16..240 chroma.
    pub full_range: bool,
}

impl YuvModel {
    pub const BT601: (f32, f32) = (0.299, 0.114);
    pub const BT709: (f32, f32) = (0.2126, 0.0722);
    pub const BT2020: (f32, f32) = (0.2627, 0.0593);
    pub const FCC: (f32, f32) = (0.30, 0.11);
    pub const SMPTE240M: (f32, f32) = (0.212, 0.087);

    pub fn new((kr, kb): (f32, f32), full_range: bool) -> Self {
        Self { kr, kb, full_range }
    }

    /// (luma scale, chroma scale, luma offset): 8-bit code = offset + scale · value.
    fn range(&self) -> (f32, f32, f32) {
        if self.full_range {
            (1.0, 1.0, 0.0)
        } else {
            (219.0 / 255.0, 224.0 / 255.0, 16.0)
        }
    }

    /// Row-major 3x3 matrix from (Y − y0, Cb − 128, Cr − 128) to RGB 0..255, then the
    /// three offsets (y0, 128, 128): the 12 numbers the device kernel takes.
    pub fn to_rgb(&self) -> [f32; 12] {
        let (kr, kb) = (self.kr, self.kb);
        let kg = 1.0 - kr - kb;
        let (sy, sc, y0) = self.range();
        let (ry, rc) = (1.0 / sy, 1.0 / sc);
        let r_cr = 2.0 * (1.0 - kr) * rc;
        let b_cb = 2.0 * (1.0 - kb) * rc;
        let g_cb = -kb * b_cb / kg;
        let g_cr = -kr * r_cr / kg;
        [
            ry, 0.0, r_cr, //
            ry, g_cb, g_cr, //
            ry, b_cb, 0.0, //
            y0, 128.0, 128.0,
        ]
    }

    /// Row-major 3x3 matrix from RGB 0..255 to (Y, Cb, Cr) less their offsets, then the
    /// offsets.
    pub fn from_rgb(&self) -> [f32; 12] {
        let (kr, kb) = (self.kr, self.kb);
        let kg = 1.0 - kr - kb;
        let (sy, sc, y0) = self.range();
        let cb = sc / (2.0 * (1.0 - kb));
        let cr = sc / (2.0 * (1.0 - kr));
        [
            sy * kr,
            sy * kg,
            sy * kb, //
            -kr * cb,
            -kg * cb,
            (1.0 - kb) * cb, //
            (1.0 - kr) * cr,
            -kg * cr,
            -kb * cr, //
            y0,
            128.0,
            128.0,
        ]
    }
}

/// The sizes of a 4:2:0 frame: luma `width` x `height`, chroma half of each, rounded up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YuvGeometry {
    pub width: usize,
    pub height: usize,
}

impl YuvGeometry {
    pub fn chroma(&self) -> (usize, usize) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    /// Bytes of the three planes, packed without row padding: Y, then Cb, then Cr.
    pub fn bytes(&self) -> usize {
        let (cw, ch) = self.chroma();
        self.width * self.height + 2 * cw * ch
    }

    /// 32-bit words a frame takes on the device (its bytes rounded up to a multiple of 4),
    /// little-endian within each word.
    pub fn words(&self) -> usize {
        self.bytes().div_ceil(4)
    }
}

/// One 8-bit 4:2:0 frame, its planes packed as [`YuvGeometry::bytes`] says.
#[derive(Debug, Clone, PartialEq)]
pub struct Yuv420 {
    pub geometry: YuvGeometry,
    pub model: YuvModel,
    pub data: Vec<u8>,
}

impl Yuv420 {
    pub fn width(&self) -> usize {
        self.geometry.width
    }

    pub fn height(&self) -> usize {
        self.geometry.height
    }

    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let g = self.geometry;
        let (cw, ch) = g.chroma();
        let (y, chroma) = self.data.split_at(g.width * g.height);
        let (cb, cr) = chroma.split_at(cw * ch);
        (y, cb, cr)
    }

    /// To RGB 0..255, clamped as an 8-bit decoder's RGB would be: the network never saw
    /// colours outside the gamut.
    pub fn to_planar(&self) -> Planar {
        let g = self.geometry;
        let (w, h) = (g.width, g.height);
        let (y, cb, cr) = self.planes();
        let m = self.model.to_rgb();
        let n = w * h;
        let mut out = vec![0.0f32; 3 * n];
        for py in 0..h {
            for px in 0..w {
                let i = py * w + px;
                let luma = f32::from(y[i]) - m[9];
                let u = chroma_at(cb, g, px, py) - m[10];
                let v = chroma_at(cr, g, px, py) - m[11];
                for c in 0..3 {
                    let value = m[3 * c] * luma + m[3 * c + 1] * u + m[3 * c + 2] * v;
                    out[c * n + i] = value.clamp(0.0, 255.0);
                }
            }
        }
        Planar {
            width: w,
            height: h,
            data: out,
        }
    }

    /// From RGB (clamped to 0..255 first, as the picture would be saved).
    pub fn from_planar(image: &Planar, model: YuvModel) -> Self {
        let g = YuvGeometry {
            width: image.width,
            height: image.height,
        };
        let (w, h) = (g.width, g.height);
        let (cw, ch) = g.chroma();
        let m = model.from_rgb();
        let n = w * h;
        let rgb = |x: usize, y: usize| -> [f32; 3] {
            let i = y * w + x;
            [0, 1, 2].map(|c| image.data[c * n + i].clamp(0.0, 255.0))
        };
        // floor(v + ½), not round(): the device kernels must round ties alike (WGSL's
        // round() goes to even).
        let code = |v: f32| (v + 0.5).floor().clamp(0.0, 255.0) as u8;
        let mut data = Vec::with_capacity(g.bytes());
        for py in 0..h {
            for px in 0..w {
                let [r, gg, b] = rgb(px, py);
                data.push(code(m[0] * r + m[1] * gg + m[2] * b + m[9]));
            }
        }
        let mut cb = Vec::with_capacity(cw * ch);
        let mut cr = Vec::with_capacity(cw * ch);
        for j in 0..ch {
            for i in 0..cw {
                let p = chroma_taps(w, h, i, j).map(|(x, y)| rgb(x, y));
                // The device kernel's order of operations, so that both round alike.
                let [r, gg, b] = [0, 1, 2].map(|c| {
                    0.125 * (p[0][c] + p[1][c] + p[4][c] + p[5][c]) + 0.25 * (p[2][c] + p[3][c])
                });
                cb.push(code(m[3] * r + m[4] * gg + m[5] * b + m[10]));
                cr.push(code(m[6] * r + m[7] * gg + m[8] * b + m[11]));
            }
        }
        data.extend_from_slice(&cb);
        data.extend_from_slice(&cr);
        Self {
            geometry: g,
            model,
            data,
        }
    }
}

/// The six luma pixels a chroma sample at (i, j) averages, clamped to the frame:
/// columns 2i−1, 2i, 2i+1 (weighted ¼ ½ ¼), each at rows 2j and 2j+1 (½ each).
pub fn chroma_taps(w: usize, h: usize, i: usize, j: usize) -> [(usize, usize); 6] {
    let (x, y0, y1) = (2 * i, 2 * j, (2 * j + 1).min(h - 1));
    let (x0, x2) = (x.max(1) - 1, (x + 1).min(w - 1));
    [(x0, y0), (x0, y1), (x, y0), (x, y1), (x2, y0), (x2, y1)]
}

/// Chroma at luma pixel (x, y), bilinear between the samples around it (sample (i, j)
/// sits at luma (2i, 2j + ½)).
fn chroma_at(plane: &[u8], g: YuvGeometry, x: usize, y: usize) -> f32 {
    let (cw, ch) = g.chroma();
    let [(i0, i1, fx), (j0, j1, fy)] = [chroma_lerp(x, 0.0, cw), chroma_lerp(y, 0.5, ch)];
    let at = |i: usize, j: usize| f32::from(plane[j * cw + i]);
    let top = at(i0, j0) + fx * (at(i1, j0) - at(i0, j0));
    let bottom = at(i0, j1) + fx * (at(i1, j1) - at(i0, j1));
    top + fy * (bottom - top)
}

/// The two chroma samples either side of luma coordinate `p` (samples at 2k + `offset`)
/// and the weight of the second, clamped at the edges.
pub fn chroma_lerp(p: usize, offset: f32, len: usize) -> (usize, usize, f32) {
    let s = ((p as f32 - offset) / 2.0).clamp(0.0, (len - 1) as f32);
    let k0 = s.floor() as usize;
    (k0, (k0 + 1).min(len - 1), s - k0 as f32)
}

/// Frames packed into 32-bit words for the device, each frame padded to whole words.
pub fn pack_words(frames: &[&Yuv420]) -> Vec<u32> {
    let mut words = Vec::with_capacity(frames.iter().map(|f| f.geometry.words()).sum());
    for f in frames {
        let mut chunks = f.data.chunks_exact(4);
        words.extend(
            chunks
                .by_ref()
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 4];
            last[..rest.len()].copy_from_slice(rest);
            words.push(u32::from_le_bytes(last));
        }
    }
    words
}

/// The inverse of [`pack_words`] for frames of one geometry and model.
pub fn unpack_words(words: &[u32], geometry: YuvGeometry, model: YuvModel) -> Vec<Yuv420> {
    words
        .chunks_exact(geometry.words())
        .map(|frame| {
            let mut data: Vec<u8> = frame.iter().flat_map(|w| w.to_le_bytes()).collect();
            data.truncate(geometry.bytes());
            Yuv420 {
                geometry,
                model,
                data,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Planar {
        let n = w * h;
        let mut data = vec![0.0; 3 * n];
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                data[i] = 40.0 + 2.0 * x as f32;
                data[n + i] = 30.0 + 2.0 * y as f32;
                data[2 * n + i] = 60.0 + (x + y) as f32;
            }
        }
        Planar {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn matrices_invert_each_other() {
        for (k, full) in [(YuvModel::BT601, true), (YuvModel::BT709, false)] {
            let model = YuvModel::new(k, full);
            let (a, b) = (model.to_rgb(), model.from_rgb());
            for r in 0..3 {
                for c in 0..3 {
                    let v: f32 = (0..3).map(|k| a[3 * r + k] * b[3 * k + c]).sum();
                    let want = if r == c { 1.0 } else { 0.0 };
                    assert!((v - want).abs() < 1e-5, "{model:?} [{r}][{c}] = {v}");
                }
            }
        }
    }

    #[test]
    fn limited_range_maps_black_and_white_to_16_and_235() {
        let model = YuvModel::new(YuvModel::BT709, false);
        let planar = |v: f32| Planar {
            width: 2,
            height: 2,
            data: vec![v; 12],
        };
        let black = Yuv420::from_planar(&planar(0.0), model);
        let white = Yuv420::from_planar(&planar(255.0), model);
        assert_eq!(black.data, [16, 16, 16, 16, 128, 128]);
        assert_eq!(white.data, [235, 235, 235, 235, 128, 128]);
    }

    #[test]
    fn smooth_pictures_survive_the_round_trip_at_odd_sizes() {
        for (w, h) in [(33, 17), (64, 36), (1, 1), (5, 2)] {
            let image = gradient(w, h);
            for model in [
                YuvModel::new(YuvModel::BT601, true),
                YuvModel::new(YuvModel::BT709, false),
            ] {
                let yuv = Yuv420::from_planar(&image, model);
                assert_eq!(yuv.data.len(), yuv.geometry.bytes());
                let back = yuv.to_planar();
                let worst = back
                    .data
                    .iter()
                    .zip(&image.data)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                // Chroma is halved both ways: exact for a gradient inside the frame,
                // up to about a slope (2 levels a pixel here) at the clamped edges,
                // plus the 8-bit rounding.
                assert!(worst <= 3.0, "{w}x{h} {model:?}: off by {worst}");
            }
        }
    }

    #[test]
    fn words_pack_and_unpack_frames_of_any_length() {
        let model = YuvModel::new(YuvModel::BT601, true);
        let frames: Vec<Yuv420> = (0..3)
            .map(|k| {
                let mut f = Yuv420::from_planar(&gradient(5, 3), model);
                f.data.iter_mut().for_each(|b| *b = b.wrapping_add(k));
                f
            })
            .collect();
        let geometry = frames[0].geometry;
        assert_eq!(geometry.bytes(), 15 + 2 * 6);
        let words = pack_words(&frames.iter().collect::<Vec<_>>());
        assert_eq!(words.len(), 3 * geometry.words());
        assert_eq!(unpack_words(&words, geometry, model), frames);
    }
}
