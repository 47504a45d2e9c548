//! Padded 2-D convolution on host f32 buffers (NCHW), forward and backward.
//!
//! Every pass is the same shape of work: gather a chunk of output rows into an im2col
//! matrix, then one GEMM. Chunks keep the im2col buffer small (a few MB) whatever the
//! frame size, and are the unit of parallelism. The input gradient is itself computed as a
//! forward convolution (of the zero-dilated, zero-padded output gradient with the flipped,
//! transposed kernel), so no col2im scatter is ever needed; padding gradients are folded
//! back through the same index map that built the padding.

use rayon::prelude::*;

use super::amx;

/// How the border is filled before convolving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Mirror without repeating the edge (PyTorch's `ReflectionPad2d`).
    Reflect,
    /// Zeros.
    Zero,
}

/// A convolution layer's shape: square kernel, same stride and padding on both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub padding: Padding,
    /// Nearest-neighbour upsampling by 2 before padding, fused into the padding step so the
    /// upsampled tensor is never stored.
    pub upsample: bool,
}

/// Batch and spatial size of a tensor that a `ConvGeom` applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
}

/// Upper bound on one im2col chunk (floats): small enough to stay in the L2/L3 caches.
/// Small in tests, so that their frames are split too.
#[cfg(not(test))]
const CHUNK_FLOATS: usize = 1 << 19;
#[cfg(test)]
const CHUNK_FLOATS: usize = 1 << 12;

impl ConvGeom {
    pub fn padded(&self, f: Frame) -> (usize, usize) {
        let scale = if self.upsample { 2 } else { 1 };
        (
            scale * f.height + 2 * self.pad,
            scale * f.width + 2 * self.pad,
        )
    }

    /// Where padded coordinate `i` reads from along an input side of length `n`.
    fn source(&self, i: usize, n: usize) -> Option<usize> {
        if self.upsample {
            source_index(i, 2 * n, self.pad, self.padding).map(|j| j / 2)
        } else {
            source_index(i, n, self.pad, self.padding)
        }
    }

    fn index_map(&self, n: usize) -> Vec<Option<usize>> {
        let padded = if self.upsample { 2 * n } else { n } + 2 * self.pad;
        (0..padded).map(|i| self.source(i, n)).collect()
    }

    /// Output height and width for an input frame.
    pub fn output(&self, f: Frame) -> (usize, usize) {
        let (hp, wp) = self.padded(f);
        assert!(
            hp >= self.kernel && wp >= self.kernel,
            "convolution input {hp}x{wp} (padded) is smaller than its {k}x{k} kernel",
            k = self.kernel
        );
        (
            (hp - self.kernel) / self.stride + 1,
            (wp - self.kernel) / self.stride + 1,
        )
    }

    fn patch_len(&self) -> usize {
        self.c_in * self.kernel * self.kernel
    }
}

/// Where padded coordinate `i` reads from in a side of length `n` padded by `pad`.
fn source_index(i: usize, n: usize, pad: usize, padding: Padding) -> Option<usize> {
    let j = i as isize - pad as isize;
    if (0..n as isize).contains(&j) {
        return Some(j as usize);
    }
    match padding {
        Padding::Zero => None,
        Padding::Reflect if n == 1 => Some(0),
        Padding::Reflect => {
            // Bounce between the edges (period 2(n-1)), which also covers pads >= n.
            let period = 2 * (n as isize - 1);
            let m = j.rem_euclid(period);
            Some(if m < n as isize { m } else { period - m } as usize)
        }
    }
}

/// Pads (and upsamples, if the geometry says so) every (image, channel) plane of `x`
/// (`planes` planes of `h` x `w`).
pub fn pad(x: &[f32], planes: usize, h: usize, w: usize, g: &ConvGeom) -> Vec<f32> {
    let (rows, cols) = (g.index_map(h), g.index_map(w));
    let (hp, wp) = (rows.len(), cols.len());
    let mut out = vec![0.0; planes * hp * wp];
    out.par_chunks_mut(hp * wp)
        .zip(x.par_chunks(h * w))
        .for_each(|(dst, src)| {
            for (dst_row, src_row) in dst.chunks_mut(wp).zip(&rows) {
                if let Some(r) = src_row {
                    let src_row = &src[r * w..(r + 1) * w];
                    if g.upsample {
                        for (d, c) in dst_row.iter_mut().zip(&cols) {
                            if let Some(c) = c {
                                *d = src_row[*c];
                            }
                        }
                    } else {
                        // The interior is a straight copy; only the borders need the map.
                        let p = g.pad;
                        dst_row[p..p + w].copy_from_slice(src_row);
                        for j in (0..p).chain(p + w..wp) {
                            if let Some(c) = cols[j] {
                                dst_row[j] = src_row[c];
                            }
                        }
                    }
                }
            }
        });
    out
}

/// The adjoint of [`pad`]: sums the gradient of each padded position into the position it
/// was read from.
pub fn unpad_grad(dp: &[f32], planes: usize, h: usize, w: usize, g: &ConvGeom) -> Vec<f32> {
    let (rows, cols) = (g.index_map(h), g.index_map(w));
    let (hp, wp) = (rows.len(), cols.len());
    let mut out = vec![0.0; planes * h * w];
    out.par_chunks_mut(h * w)
        .zip(dp.par_chunks(hp * wp))
        .for_each(|(dst, src)| {
            for (src_row, r) in src.chunks(wp).zip(&rows) {
                if let Some(r) = r {
                    let dst_row = &mut dst[r * w..(r + 1) * w];
                    for (s, c) in src_row.iter().zip(&cols) {
                        if let Some(c) = c {
                            dst_row[*c] += *s;
                        }
                    }
                }
            }
        });
    out
}

/// Fills `col` (patch_len rows x `(oy1 - oy0) * wo` columns, row-major) with the patches
/// of output rows `oy0..oy1` of one padded image `p` (c_in x hp x wp).
#[allow(clippy::too_many_arguments)]
fn im2col(
    p: &[f32],
    g: &ConvGeom,
    hp: usize,
    wp: usize,
    wo: usize,
    oy0: usize,
    oy1: usize,
    col: &mut [f32],
) {
    let (k, s) = (g.kernel, g.stride);
    let n = (oy1 - oy0) * wo;
    for ci in 0..g.c_in {
        let plane = &p[ci * hp * wp..(ci + 1) * hp * wp];
        for ky in 0..k {
            for kx in 0..k {
                let row = (ci * k + ky) * k + kx;
                let dst = &mut col[row * n..(row + 1) * n];
                for (oy, d) in (oy0..oy1).zip(dst.chunks_mut(wo)) {
                    let src = &plane[(oy * s + ky) * wp + kx..];
                    if s == 1 {
                        d.copy_from_slice(&src[..wo]);
                    } else {
                        for (ox, v) in d.iter_mut().enumerate() {
                            *v = src[ox * s];
                        }
                    }
                }
            }
        }
    }
}

/// Packs the im2col matrix of output rows `oy0..oy1` of one padded image (kk x n) as a bf16
/// GEMM operand: as it is (`transposed` false: the right operand of the forward GEMM) or
/// transposed (the weight gradient's). Stride 1 reads the image directly; other strides
/// go through `col`.
#[allow(clippy::too_many_arguments)]
fn pack_patches(
    image: &[f32],
    g: &ConvGeom,
    (hp, wp): (usize, usize),
    wo: usize,
    (oy0, oy1): (usize, usize),
    col: &mut Vec<f32>,
    packed: &mut amx::PackedB,
    transposed: bool,
) {
    let (kk, n) = (g.patch_len(), (oy1 - oy0) * wo);
    let map;
    let rows = if g.stride == 1 {
        // SAFETY: `image` holds c_in planes of hp x wp, which the kernel fits.
        map = unsafe {
            amx::PatchMap::new(image.as_ptr(), (g.c_in, g.kernel), (hp, wp), wo, (oy0, oy1))
        };
        amx::Rows::Patches(&map)
    } else {
        col.resize(kk * n, 0.0);
        im2col(image, g, hp, wp, wo, oy0, oy1, col);
        amx::Rows::Dense {
            src: col.as_ptr(),
            rs: n,
            n,
        }
    };
    // SAFETY: `rows` is kk x n; callers take this path only where bf16 GEMMs are available.
    unsafe {
        if transposed {
            packed.pack_columns(n, kk, &rows);
        } else {
            packed.pack_rows(kk, n, &rows);
        }
    }
}

/// Output-row chunks `(image, oy0, oy1)` covering a batch.
fn chunks(g: &ConvGeom, batch: usize, ho: usize, wo: usize) -> Vec<(usize, usize, usize)> {
    let rows = (CHUNK_FLOATS / (g.patch_len() * wo).max(1)).clamp(1, ho);
    (0..batch)
        .flat_map(|b| {
            (0..ho)
                .step_by(rows)
                .map(move |r| (b, r, (r + rows).min(ho)))
        })
        .collect()
}

/// Channels below which a 3x3 convolution's GEMMs are too thin for Winograd to pay.
#[cfg(not(test))]
const WINOGRAD_MIN_CHANNELS: usize = 16;
#[cfg(test)]
const WINOGRAD_MIN_CHANNELS: usize = 4;

/// A raw pointer that worker threads may share because each writes disjoint elements.
#[derive(Clone, Copy)]
pub(super) struct SharedMut(pub(super) *mut f32);
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    // A method, so closures capture the Send + Sync wrapper rather than its raw field.
    pub(super) fn get(&self) -> *mut f32 {
        self.0
    }
}

/// dst[m x n] (+)= lhs[m x k] * rhs[k x n], all given by pointer and (row, column) strides.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: *const f32,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    rhs_cs: usize,
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Convolves already padded images `p` (batch x c_in x hp x wp) with `weight`
/// (c_out x c_in x k x k) and `bias`; returns batch x c_out x ho x wo.
#[allow(clippy::too_many_arguments)]
pub fn convolve_padded(
    p: &[f32],
    g: &ConvGeom,
    batch: usize,
    hp: usize,
    wp: usize,
    weight: &[f32],
    bias: Option<&[f32]>,
    bf16: bool,
) -> Vec<f32> {
    let (k, s) = (g.kernel, g.stride);
    let (ho, wo) = ((hp - k) / s + 1, (wp - k) / s + 1);
    let plane = ho * wo;
    let kk = g.patch_len();
    let mut out = vec![0.0; batch * g.c_out * plane];
    if let Some(bias) = bias {
        for (dst, b) in out.chunks_mut(plane).zip(bias.iter().cycle()) {
            dst.fill(*b);
        }
    }
    if g.stride == 1 && g.kernel > 1 && 4 * g.c_out <= g.c_in {
        convolve_few_outputs(p, g, batch, hp, wp, weight, &mut out, bf16);
        return out;
    }
    // Winograd's transforms would compound bf16 rounding; bf16 makes the plain GEMM cheap.
    if !bf16 && g.stride == 1 && g.kernel == 3 && g.c_in >= WINOGRAD_MIN_CHANNELS {
        super::winograd::convolve_3x3(p, g.c_in, g.c_out, batch, hp, wp, weight, &mut out);
        return out;
    }
    let dst = SharedMut(out.as_mut_ptr());
    // The weights are the left operand of every chunk: packed to bf16 once.
    // SAFETY: `weight` is c_out x kk, row-major.
    let packed = bf16.then(|| unsafe { amx::PackedA::new(g.c_out, kk, weight.as_ptr(), kk) });
    chunks(g, batch, ho, wo).into_par_iter().for_each_init(
        || (Vec::new(), amx::PackedB::default()),
        |(col, cols), (b, oy0, oy1)| {
            let n = (oy1 - oy0) * wo;
            let image = &p[b * g.c_in * hp * wp..(b + 1) * g.c_in * hp * wp];
            // SAFETY (both GEMMs): chunk (b, oy0..oy1) writes only columns oy0*wo.. of
            // image b's planes, which no other chunk touches; `out` outlives the loop.
            let y = unsafe { dst.get().add(b * g.c_out * plane + oy0 * wo) };
            if let Some(w) = &packed {
                pack_patches(image, g, (hp, wp), wo, (oy0, oy1), col, cols, false);
                unsafe { amx::gemm(w, cols, y, plane, true) };
                return;
            }
            col.resize(kk * n, 0.0);
            im2col(image, g, hp, wp, wo, oy0, oy1, col);
            unsafe {
                matmul(
                    g.c_out,
                    n,
                    kk,
                    y,
                    plane,
                    true,
                    weight.as_ptr(),
                    kk,
                    1,
                    col.as_ptr(),
                    n,
                    1,
                );
            }
        },
    );
    out
}

/// Upper bound on one chunk of per-tap partial sums in [`convolve_few_outputs`] (floats);
/// tiny in tests, so that their small frames are split too.
#[cfg(not(test))]
const TAP_CHUNK_FLOATS: usize = 1 << 23;
#[cfg(test)]
const TAP_CHUNK_FLOATS: usize = 1 << 10;

/// Stride-1 convolution with few output channels (the 32→3 output layer, the input
/// gradient of VGG's first layer). im2col would copy every input value k² times to feed a
/// GEMM with almost no rows; instead one GEMM computes, for every padded pixel, each output
/// channel's contribution at each kernel tap (c_out·k² rows, c_in deep), and the taps are
/// then summed along their shifts. Adds into `out`, which holds the bias.
#[allow(clippy::too_many_arguments)]
fn convolve_few_outputs(
    p: &[f32],
    g: &ConvGeom,
    batch: usize,
    hp: usize,
    wp: usize,
    weight: &[f32],
    out: &mut [f32],
    bf16: bool,
) {
    let k = g.kernel;
    let taps = k * k;
    let (ho, wo) = (hp - k + 1, wp - k + 1);
    let rows_m = g.c_out * taps;
    // Weights as [(c_out, tap), c_in].
    let mut w_t = vec![0.0f32; rows_m * g.c_in];
    for co in 0..g.c_out {
        for ci in 0..g.c_in {
            for t in 0..taps {
                w_t[(co * taps + t) * g.c_in + ci] = weight[(co * g.c_in + ci) * taps + t];
            }
        }
    }
    // Output rows per chunk; each chunk also needs k - 1 rows of halo.
    let rows = (TAP_CHUNK_FLOATS / (rows_m * wp))
        .saturating_sub(k - 1)
        .clamp(1, ho);
    let work: Vec<(usize, usize, usize)> = (0..batch)
        .flat_map(|b| {
            (0..ho)
                .step_by(rows)
                .map(move |r| (b, r, (r + rows).min(ho)))
        })
        .collect();
    let dst = SharedMut(out.as_mut_ptr());
    // SAFETY: `w_t` is rows_m x c_in, row-major.
    let packed = bf16.then(|| unsafe { amx::PackedA::new(rows_m, g.c_in, w_t.as_ptr(), g.c_in) });
    work.into_par_iter().for_each_init(
        || (Vec::new(), amx::PackedB::default()),
        |(z, x), (b, oy0, oy1)| {
            let span = (oy1 - oy0 + k - 1) * wp;
            z.resize(rows_m * span, 0.0);
            let src = &p[b * g.c_in * hp * wp + oy0 * wp..];
            // SAFETY: `src` rows are hp*wp apart and each reads `span` values within the image;
            // `z` is rows_m x span.
            if let Some(w) = &packed {
                unsafe {
                    let rows = amx::Rows::Dense {
                        src: src.as_ptr(),
                        rs: hp * wp,
                        n: span,
                    };
                    x.pack_rows(g.c_in, span, &rows);
                    amx::gemm(w, x, z.as_mut_ptr(), span, false);
                }
            } else {
                unsafe {
                    matmul(
                        rows_m,
                        span,
                        g.c_in,
                        z.as_mut_ptr(),
                        span,
                        false,
                        w_t.as_ptr(),
                        g.c_in,
                        1,
                        src.as_ptr(),
                        hp * wp,
                        1,
                    );
                }
            }
            for co in 0..g.c_out {
                let start = (b * g.c_out + co) * ho * wo + oy0 * wo;
                // SAFETY: chunk (b, oy0..oy1) owns these output rows of every channel.
                let y = unsafe {
                    std::slice::from_raw_parts_mut(dst.get().add(start), (oy1 - oy0) * wo)
                };
                for t in 0..taps {
                    let (ky, kx) = (t / k, t % k);
                    let plane = &z[(co * taps + t) * span..(co * taps + t + 1) * span];
                    for (r, y_row) in y.chunks_mut(wo).enumerate() {
                        let z_row = &plane[(r + ky) * wp + kx..][..wo];
                        y_row.iter_mut().zip(z_row).for_each(|(a, b)| *a += b);
                    }
                }
            }
        },
    );
}

/// Forward pass: pads `x` (batch x c_in x h x w) and convolves it. Also returns the padded
/// input, which the backward pass needs.
pub fn forward(
    x: &[f32],
    g: &ConvGeom,
    f: Frame,
    weight: &[f32],
    bias: Option<&[f32]>,
    bf16: bool,
) -> (Vec<f32>, Vec<f32>) {
    let (hp, wp) = g.padded(f);
    g.output(f);
    let p = pad(x, f.batch * g.c_in, f.height, f.width, g);
    let y = convolve_padded(&p, g, f.batch, hp, wp, weight, bias, bf16);
    (y, p)
}

/// Gradient of the input: the output gradient `dy` zero-dilated by the stride and
/// zero-padded by k-1, convolved with the kernel flipped and its channels swapped, gives
/// the padded input's gradient, which is then folded back through the padding.
pub fn input_grad(dy: &[f32], g: &ConvGeom, f: Frame, weight: &[f32], bf16: bool) -> Vec<f32> {
    let (hp, wp) = g.padded(f);
    let (ho, wo) = g.output(f);
    let (k, s) = (g.kernel, g.stride);
    // Dilated and padded gradient: (k-1) + (ho-1)*s + 1 + (hp - ((ho-1)*s+1)) = hp + k - 1.
    let (hd, wd) = (hp + k - 1, wp + k - 1);
    let mut d = vec![0.0; f.batch * g.c_out * hd * wd];
    d.par_chunks_mut(hd * wd)
        .zip(dy.par_chunks(ho * wo))
        .for_each(|(dst, src)| {
            for (oy, src_row) in src.chunks(wo).enumerate() {
                let row = &mut dst[(k - 1 + oy * s) * wd..];
                for (ox, v) in src_row.iter().enumerate() {
                    row[k - 1 + ox * s] = *v;
                }
            }
        });
    let mut flipped = vec![0.0; weight.len()];
    for co in 0..g.c_out {
        for ci in 0..g.c_in {
            for ky in 0..k {
                for kx in 0..k {
                    flipped[((ci * g.c_out + co) * k + (k - 1 - ky)) * k + (k - 1 - kx)] =
                        weight[((co * g.c_in + ci) * k + ky) * k + kx];
                }
            }
        }
    }
    let transposed = ConvGeom {
        c_in: g.c_out,
        c_out: g.c_in,
        kernel: k,
        stride: 1,
        pad: 0,
        padding: Padding::Zero,
        upsample: false,
    };
    let dp = convolve_padded(&d, &transposed, f.batch, hd, wd, &flipped, None, bf16);
    unpad_grad(&dp, f.batch * g.c_in, f.height, f.width, g)
}

/// Gradients of the kernel and the bias, from the padded input `p` of the forward pass.
pub fn weight_grad(
    p: &[f32],
    dy: &[f32],
    g: &ConvGeom,
    f: Frame,
    bf16: bool,
) -> (Vec<f32>, Vec<f32>) {
    let (hp, wp) = g.padded(f);
    let (ho, wo) = g.output(f);
    let plane = ho * wo;
    let kk = g.patch_len();
    let dw = chunks(g, f.batch, ho, wo)
        .into_par_iter()
        .fold(
            || {
                (
                    vec![0.0f32; g.c_out * kk],
                    Vec::new(),
                    amx::PackedB::default(),
                )
            },
            |(mut acc, mut col, mut cols), (b, oy0, oy1)| {
                let n = (oy1 - oy0) * wo;
                let image = &p[b * g.c_in * hp * wp..(b + 1) * g.c_in * hp * wp];
                let grad = &dy[b * g.c_out * plane + oy0 * wo..];
                // SAFETY (both GEMMs): all slices are in bounds: `grad` rows are `plane`
                // apart and each reads `n` values; `acc` is c_out x kk.
                if bf16 {
                    pack_patches(
                        image,
                        g,
                        (hp, wp),
                        wo,
                        (oy0, oy1),
                        &mut col,
                        &mut cols,
                        true,
                    );
                    unsafe {
                        let a = amx::PackedA::new(g.c_out, n, grad.as_ptr(), plane);
                        amx::gemm(&a, &cols, acc.as_mut_ptr(), kk, true);
                    }
                    return (acc, col, cols);
                }
                col.resize(kk * n, 0.0);
                im2col(image, g, hp, wp, wo, oy0, oy1, &mut col);
                unsafe {
                    matmul(
                        g.c_out,
                        kk,
                        n,
                        acc.as_mut_ptr(),
                        kk,
                        true,
                        grad.as_ptr(),
                        plane,
                        1,
                        col.as_ptr(),
                        1,
                        n,
                    );
                }
                (acc, col, cols)
            },
        )
        .map(|(acc, _, _)| acc)
        .reduce(
            || vec![0.0f32; g.c_out * kk],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut db = vec![0.0f32; g.c_out];
    for (i, plane_grad) in dy.chunks(plane).enumerate() {
        db[i % g.c_out] += plane_grad.iter().map(|v| *v as f64).sum::<f64>() as f32;
    }
    (dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution by definition, for checking.
    fn naive(x: &[f32], g: &ConvGeom, f: Frame, w: &[f32], b: &[f32]) -> Vec<f32> {
        let (ho, wo) = g.output(f);
        let k = g.kernel;
        let mut out = vec![0.0; f.batch * g.c_out * ho * wo];
        for n in 0..f.batch {
            for co in 0..g.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = b[co] as f64;
                        for ci in 0..g.c_in {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let sy = g.source(oy * g.stride + ky, f.height);
                                    let sx = g.source(ox * g.stride + kx, f.width);
                                    if let (Some(sy), Some(sx)) = (sy, sx) {
                                        acc += (x
                                            [((n * g.c_in + ci) * f.height + sy) * f.width + sx]
                                            * w[((co * g.c_in + ci) * k + ky) * k + kx])
                                            as f64;
                                    }
                                }
                            }
                        }
                        out[((n * g.c_out + co) * ho + oy) * wo + ox] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    fn geoms() -> Vec<(ConvGeom, Frame)> {
        let g = |c_in, c_out, kernel, stride, pad, padding| ConvGeom {
            c_in,
            c_out,
            kernel,
            stride,
            pad,
            padding,
            upsample: false,
        };
        let up = |g: ConvGeom| ConvGeom {
            upsample: true,
            ..g
        };
        let f = |batch, height, width| Frame {
            batch,
            height,
            width,
        };
        vec![
            (g(3, 4, 9, 1, 4, Padding::Reflect), f(2, 11, 13)),
            (g(4, 5, 3, 2, 1, Padding::Reflect), f(2, 8, 10)),
            (g(4, 5, 3, 2, 1, Padding::Reflect), f(1, 9, 7)),
            (g(5, 3, 3, 1, 1, Padding::Zero), f(3, 6, 5)),
            (g(2, 2, 3, 1, 1, Padding::Reflect), f(1, 1, 2)),
            (g(2, 3, 1, 1, 0, Padding::Zero), f(1, 4, 4)),
            (up(g(3, 2, 3, 1, 1, Padding::Reflect)), f(2, 3, 4)),
            (g(12, 3, 5, 1, 2, Padding::Reflect), f(2, 9, 7)),
            (g(6, 5, 3, 1, 1, Padding::Reflect), f(2, 7, 9)),
            (g(8, 8, 3, 1, 1, Padding::Zero), f(1, 10, 6)),
            (up(g(8, 6, 3, 1, 1, Padding::Reflect)), f(1, 5, 3)),
            (g(8, 2, 3, 1, 1, Padding::Zero), f(1, 6, 11)),
            (up(g(2, 2, 3, 1, 1, Padding::Reflect)), f(1, 1, 1)),
        ]
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
        }
    }

    #[test]
    fn forward_matches_the_definition() {
        for (g, f) in geoms() {
            let x = values(f.batch * g.c_in * f.height * f.width, 1);
            let w = values(g.c_out * g.patch_len(), 2);
            let b = values(g.c_out, 3);
            let (y, _) = forward(&x, &g, f, &w, Some(&b), false);
            close(&y, &naive(&x, &g, f, &w, &b), 1e-4);
        }
    }

    /// <dy, conv(x)> is linear in x and in w: its gradients are checked against finite
    /// differences of the naive convolution along random directions.
    #[test]
    fn gradients_match_finite_differences() {
        for (g, f) in geoms() {
            let x = values(f.batch * g.c_in * f.height * f.width, 4);
            let w = values(g.c_out * g.patch_len(), 5);
            let b = values(g.c_out, 6);
            let (ho, wo) = g.output(f);
            let dy = values(f.batch * g.c_out * ho * wo, 7);
            let dot = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
                naive(x, &g, f, w, b)
                    .iter()
                    .zip(&dy)
                    .map(|(a, b)| (*a as f64) * (*b as f64))
                    .sum()
            };
            let (_, p) = forward(&x, &g, f, &w, Some(&b), false);
            let dx = input_grad(&dy, &g, f, &w, false);
            let (dw, db) = weight_grad(&p, &dy, &g, f, false);
            // The loss is linear in each argument, so a unit step is an exact derivative.
            let dir_x = values(x.len(), 8);
            let moved: Vec<f32> = x.iter().zip(&dir_x).map(|(a, d)| a + d).collect();
            let expect = dot(&moved, &w, &b) - dot(&x, &w, &b);
            let got: f64 = dx.iter().zip(&dir_x).map(|(a, d)| (*a * *d) as f64).sum();
            assert!(
                (expect - got).abs() < 1e-3 * (1.0 + expect.abs()),
                "dx {g:?}: {expect} vs {got}"
            );
            let dir_w = values(w.len(), 9);
            let moved: Vec<f32> = w.iter().zip(&dir_w).map(|(a, d)| a + d).collect();
            let expect = dot(&x, &moved, &b) - dot(&x, &w, &b);
            let got: f64 = dw.iter().zip(&dir_w).map(|(a, d)| (*a * *d) as f64).sum();
            assert!(
                (expect - got).abs() < 1e-3 * (1.0 + expect.abs()),
                "dw {g:?}: {expect} vs {got}"
            );
            let ones = vec![1.0; b.len()];
            let moved: Vec<f32> = b.iter().map(|a| a + 1.0).collect();
            let expect = dot(&x, &w, &moved) - dot(&x, &w, &b);
            let got: f64 = db.iter().zip(&ones).map(|(a, d)| (*a * *d) as f64).sum();
            assert!(
                (expect - got).abs() < 1e-3 * (1.0 + expect.abs()),
                "db {g:?}: {expect} vs {got}"
            );
        }
    }

    /// bf16 GEMMs (AMX or AVX512-BF16) against the f32 ones: each value within bf16's rounding of its
    /// operands (2^-8 of the sum of the absolute products), forward and backward, on every
    /// shape above and on frames wide and tall enough to span several chunks.
    #[test]
    fn bf16_gemms_match_f32_within_rounding() {
        if !super::super::bf16_gemm_available() {
            eprintln!("SKIPPED: this CPU has no AVX512-BF16");
            return;
        }
        let mut cases = geoms();
        let g = |c_in, c_out, stride| ConvGeom {
            c_in,
            c_out,
            kernel: 3,
            stride,
            pad: 1,
            padding: Padding::Reflect,
            upsample: false,
        };
        let f = |batch, height, width| Frame {
            batch,
            height,
            width,
        };
        // Widths of 37 and 32: runs of 16 pixels that cross a row and ones that never do.
        cases.extend([
            (g(40, 36, 1), f(2, 21, 37)),
            (g(33, 70, 2), f(1, 30, 19)),
            (g(64, 96, 1), f(1, 12, 32)),
        ]);
        let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
        let within = |got: &[f32], want: &[f32], scale: &[f32], what: &str| {
            for (i, ((a, b), s)) in got.iter().zip(want).zip(scale).enumerate() {
                let tol = s * 2f32.powi(-7) + 1e-5;
                assert!((a - b).abs() <= tol, "{what} at {i}: {a} vs {b} (± {tol})");
            }
        };
        for (g, f) in cases {
            let x = values(f.batch * g.c_in * f.height * f.width, 11);
            let w = values(g.c_out * g.patch_len(), 12);
            let b = values(g.c_out, 13);
            let (ho, wo) = g.output(f);
            let dy = values(f.batch * g.c_out * ho * wo, 14);
            let (y32, p) = forward(&x, &g, f, &w, Some(&b), false);
            let (y16, _) = forward(&x, &g, f, &w, Some(&b), true);
            let (scale, p_abs) = forward(&abs(&x), &g, f, &abs(&w), Some(&abs(&b)), false);
            within(&y16, &y32, &scale, &format!("y {g:?}"));
            let dx32 = input_grad(&dy, &g, f, &w, false);
            let dx16 = input_grad(&dy, &g, f, &w, true);
            let scale = input_grad(&abs(&dy), &g, f, &abs(&w), false);
            within(&dx16, &dx32, &scale, &format!("dx {g:?}"));
            let (dw32, db32) = weight_grad(&p, &dy, &g, f, false);
            let (dw16, db16) = weight_grad(&p, &dy, &g, f, true);
            let (scale, _) = weight_grad(&p_abs, &abs(&dy), &g, f, false);
            within(&dw16, &dw32, &scale, &format!("dw {g:?}"));
            assert_eq!(db16, db32, "the bias gradient is a plain f32 sum");
        }
    }

    #[test]
    fn reflection_indices_bounce_between_edges() {
        let map: Vec<_> = (0..9)
            .map(|i| source_index(i, 3, 3, Padding::Reflect).unwrap())
            .collect();
        assert_eq!(map, [1, 2, 1, 0, 1, 2, 1, 0, 1]);
        assert_eq!(source_index(0, 3, 1, Padding::Zero), None);
    }

    #[test]
    fn large_frames_split_into_bounded_chunks() {
        let g = ConvGeom {
            c_in: 128,
            c_out: 128,
            kernel: 3,
            stride: 1,
            pad: 1,
            padding: Padding::Reflect,
            upsample: false,
        };
        let c = chunks(&g, 2, 90, 160);
        assert!(c.len() > 2);
        assert!(
            c.iter()
                .all(|(_, a, b)| b - a == 1 || (b - a) * 160 * 1152 <= CHUNK_FLOATS)
        );
        assert_eq!(
            c.iter()
                .filter(|(b, _, _)| *b == 1)
                .map(|(_, a, b)| b - a)
                .sum::<usize>(),
            90
        );
    }
}
