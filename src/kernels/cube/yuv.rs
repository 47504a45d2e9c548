//! 8-bit 4:2:0 frames to the network's RGB and back on the device, the same arithmetic as
//! `crate::yuv` (the host reference): frames cross the bus as packed 32-bit words, 1.5
//! bytes a pixel, instead of 12 bytes of f32 RGB.

// Kernels halve sizes rounding up as (n + 1) / 2: CubeCL's kernel language has no div_ceil.
#![allow(clippy::manual_div_ceil)]

use burn::tensor::{DType, Shape};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::calculate_cube_count_elemwise;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::{CubeRuntime, tensor::CubeTensor};

use crate::yuv::YuvGeometry;

/// Byte `i` of the packed words, as a float.
#[cube]
fn byte_at(words: &Tensor<u32>, i: usize) -> f32 {
    let shift = u32::cast_from((i % 4) * 8);
    f32::cast_from((words[i / 4] >> shift) & 255u32)
}

/// The chroma samples either side of luma coordinate `p` (samples at 2k + `offset`) and
/// the weight of the second, clamped at the edges.
#[cube]
fn lerp_taps(p: usize, offset: f32, len: usize) -> (usize, usize, f32) {
    let last = f32::cast_from(len - 1);
    let s = f32::clamp((f32::cast_from(p) - offset) / 2.0f32, 0.0f32, last);
    let k0 = f32::floor(s);
    let i0 = usize::cast_from(k0);
    (i0, usize::min(i0 + 1, len - 1), s - k0)
}

/// One unit per output pixel: RGB = M · (Y − y0, Cb − 128, Cr − 128), chroma bilinear,
/// clamped to 0..255.
#[cube(launch)]
fn rgb_from_yuv420_kernel<F: Float>(
    words: &Tensor<u32>,
    m: &Tensor<f32>,
    out: &mut Tensor<F>,
    width: u32,
    height: u32,
    frame_words: u32,
    #[define(F)] _dtype: StorageType,
) {
    let (w, h) = (width as usize, height as usize);
    let n = w * h;
    if ABSOLUTE_POS >= out.len() / 3 {
        terminate!();
    }
    let b = ABSOLUTE_POS / n;
    let i = ABSOLUTE_POS % n;
    let (x, y) = (i % w, i / w);
    let (cw, ch) = ((w + 1) / 2, (h + 1) / 2);
    let base = b * frame_words as usize * 4;
    let (cb0, cr0) = (base + n, base + n + cw * ch);
    let (i0, i1, fx) = lerp_taps(x, 0.0f32, cw);
    let (j0, j1, fy) = lerp_taps(y, 0.5f32, ch);
    let luma = byte_at(words, base + i) - m[9];
    let u = chroma_sample(words, cb0, cw, i0, i1, j0, j1, fx, fy) - m[10];
    let v = chroma_sample(words, cr0, cw, i0, i1, j0, j1, fx, fy) - m[11];
    let at = b * 3 * n + i;
    // Clamped, as an 8-bit decoder's RGB would be.
    let (lo, hi) = (0.0f32, 255.0f32);
    out[at] = F::cast_from(f32::clamp(m[0] * luma + m[1] * u + m[2] * v, lo, hi));
    out[at + n] = F::cast_from(f32::clamp(m[3] * luma + m[4] * u + m[5] * v, lo, hi));
    out[at + 2 * n] = F::cast_from(f32::clamp(m[6] * luma + m[7] * u + m[8] * v, lo, hi));
}

/// A chroma plane (starting at byte `plane`, `cw` samples a row) bilinear between
/// columns i0, i1 and rows j0, j1.
#[cube]
#[allow(clippy::too_many_arguments)]
fn chroma_sample(
    words: &Tensor<u32>,
    plane: usize,
    cw: usize,
    i0: usize,
    i1: usize,
    j0: usize,
    j1: usize,
    fx: f32,
    fy: f32,
) -> f32 {
    let a = byte_at(words, plane + j0 * cw + i0);
    let top = a + fx * (byte_at(words, plane + j0 * cw + i1) - a);
    let c = byte_at(words, plane + j1 * cw + i0);
    let bottom = c + fx * (byte_at(words, plane + j1 * cw + i1) - c);
    top + fy * (bottom - top)
}

/// RGB of pixel (x, y) of image `b`, clamped to 0..255.
#[cube]
fn rgb_at<F: Float>(x: &Tensor<F>, b: usize, n: usize, i: usize) -> (f32, f32, f32) {
    let base = b * 3 * n + i;
    (
        f32::clamp(f32::cast_from(x[base]), 0.0f32, 255.0f32),
        f32::clamp(f32::cast_from(x[base + n]), 0.0f32, 255.0f32),
        f32::clamp(f32::cast_from(x[base + 2 * n]), 0.0f32, 255.0f32),
    )
}

/// One 8-bit code of a frame's packed planes (0 past their end).
#[cube]
fn code_at<F: Float>(
    x: &Tensor<F>,
    m: &Tensor<f32>,
    b: usize,
    p: usize,
    w: usize,
    h: usize,
) -> u32 {
    let n = w * h;
    let (cw, ch) = ((w + 1) / 2, (h + 1) / 2);
    let mut v = 0.0f32;
    let mut inside = true;
    if p < n {
        let (r, g, bl) = rgb_at::<F>(x, b, n, p);
        v = m[0] * r + m[1] * g + m[2] * bl + m[9];
    } else if p < n + 2 * cw * ch {
        let sample = p - n;
        let cr = sample >= cw * ch;
        let mut k = sample;
        if cr {
            k = sample - cw * ch;
        }
        let i = k % cw;
        let j = k / cw;
        let xc = 2 * i;
        let x0 = usize::max(xc, 1) - 1;
        let x2 = usize::min(xc + 1, w - 1);
        let y0 = 2 * j;
        let y1 = usize::min(2 * j + 1, h - 1);
        // Columns x0, xc, x2 at ¼ ½ ¼, rows y0 and y1 at ½ each.
        let (r0, g0, b0) = rgb_at::<F>(x, b, n, y0 * w + x0);
        let (r1, g1, b1) = rgb_at::<F>(x, b, n, y1 * w + x0);
        let (r2, g2, b2) = rgb_at::<F>(x, b, n, y0 * w + xc);
        let (r3, g3, b3) = rgb_at::<F>(x, b, n, y1 * w + xc);
        let (r4, g4, b4) = rgb_at::<F>(x, b, n, y0 * w + x2);
        let (r5, g5, b5) = rgb_at::<F>(x, b, n, y1 * w + x2);
        let r = 0.125f32 * (r0 + r1 + r4 + r5) + 0.25f32 * (r2 + r3);
        let g = 0.125f32 * (g0 + g1 + g4 + g5) + 0.25f32 * (g2 + g3);
        let bl = 0.125f32 * (b0 + b1 + b4 + b5) + 0.25f32 * (b2 + b3);
        if cr {
            v = m[6] * r + m[7] * g + m[8] * bl + m[11];
        } else {
            v = m[3] * r + m[4] * g + m[5] * bl + m[10];
        }
    } else {
        inside = false;
    }
    let mut code = 0u32;
    if inside {
        code = u32::cast_from(f32::clamp(f32::floor(v + 0.5f32), 0.0f32, 255.0f32));
    }
    code
}

/// One unit per output word: four codes of a frame's packed planes, little-endian.
#[cube(launch)]
fn yuv420_from_rgb_kernel<F: Float>(
    x: &Tensor<F>,
    m: &Tensor<f32>,
    words: &mut Tensor<u32>,
    width: u32,
    height: u32,
    frame_words: u32,
    #[define(F)] _dtype: StorageType,
) {
    if ABSOLUTE_POS >= words.len() {
        terminate!();
    }
    let fw = frame_words as usize;
    let b = ABSOLUTE_POS / fw;
    let first = (ABSOLUTE_POS % fw) * 4;
    let (w, h) = (width as usize, height as usize);
    let c0 = code_at::<F>(x, m, b, first, w, h);
    let c1 = code_at::<F>(x, m, b, first + 1, w, h) << 8u32;
    let c2 = code_at::<F>(x, m, b, first + 2, w, h) << 16u32;
    let c3 = code_at::<F>(x, m, b, first + 3, w, h) << 24u32;
    words[ABSOLUTE_POS] = c0 | c1 | c2 | c3;
}

/// The conversion's 12 coefficients as a device tensor.
fn coefficients<R: CubeRuntime>(like: &CubeTensor<R>, m: [f32; 12]) -> CubeTensor<R> {
    let bytes: Vec<u8> = m.iter().flat_map(|v| v.to_le_bytes()).collect();
    let handle = like.client.create_from_slice(&bytes);
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        Shape::new([12]),
        handle,
        DType::F32,
    )
}

/// `frames` packed frames of `geometry` in `words` (32-bit integers) → [N, 3, H, W] in
/// `dtype`.
pub fn rgb_from_yuv420<R: CubeRuntime>(
    words: CubeTensor<R>,
    frames: usize,
    geometry: YuvGeometry,
    m: [f32; 12],
    dtype: DType,
) -> CubeTensor<R> {
    let words = into_contiguous(words);
    let (w, h) = (geometry.width, geometry.height);
    let m = coefficients(&words, m);
    let client = words.client.clone();
    let out = empty_device_dtype(
        client.clone(),
        words.device.clone(),
        Shape::new([frames, 3, h, w]),
        dtype,
    );
    let units = frames * w * h;
    let cube_dim = CubeDim::new(&client, units);
    let count = calculate_cube_count_elemwise(&client, units, cube_dim);
    rgb_from_yuv420_kernel::launch::<R>(
        &client,
        count,
        cube_dim,
        words.into_tensor_arg(),
        m.into_tensor_arg(),
        out.clone().into_tensor_arg(),
        w as u32,
        h as u32,
        geometry.words() as u32,
        dtype.into(),
    );
    out
}

/// [N, 3, H, W] RGB → packed 4:2:0 frames as 32-bit words (in the int dtype `int`).
pub fn yuv420_from_rgb<R: CubeRuntime>(
    x: CubeTensor<R>,
    m: [f32; 12],
    int: DType,
) -> CubeTensor<R> {
    let x = into_contiguous(x);
    let [frames, _, h, w] = x.meta.shape().dims::<4>();
    let geometry = YuvGeometry {
        width: w,
        height: h,
    };
    let m = coefficients(&x, m);
    let client = x.client.clone();
    let units = frames * geometry.words();
    let words = empty_device_dtype(client.clone(), x.device.clone(), Shape::new([units]), int);
    let cube_dim = CubeDim::new(&client, units);
    let count = calculate_cube_count_elemwise(&client, units, cube_dim);
    let dtype = x.dtype;
    yuv420_from_rgb_kernel::launch::<R>(
        &client,
        count,
        cube_dim,
        x.into_tensor_arg(),
        m.into_tensor_arg(),
        words.clone().into_tensor_arg(),
        w as u32,
        h as u32,
        geometry.words() as u32,
        dtype.into(),
    );
    words
}
