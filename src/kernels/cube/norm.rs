//! Instance norm (+ ReLU) as two CubeCL kernels, forward and backward, generic over the
//! runtime (CUDA, or wgpu for the tests): one cube per (image, channel) plane reads the
//! plane once for its sums and once more to write, where burn's composition takes eight
//! tensor passes. Sums are f32 whatever the storage type: an f16 sum over a 1080p plane
//! overflows.

use burn::tensor::{DType, Shape};
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::kernel::{cast, into_contiguous};
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::{CubeRuntime, tensor::CubeTensor};

/// Units per cube: a power of two (the tree reduction halves it), within every runtime's
/// limit (wgpu's default is 256).
const UNITS: usize = 256;

/// Sums `a` and `b` over the cube's units into their first slots; every unit then reads
/// the totals from slot 0.
#[cube]
fn cube_sums(a: f32, b: f32, #[comptime] units: usize) -> (f32, f32) {
    let mut sa = SharedMemory::<f32>::new(units);
    let mut sb = SharedMemory::<f32>::new(units);
    let tid = UNIT_POS as usize;
    sa[tid] = a;
    sb[tid] = b;
    sync_cube();
    // A runtime value (the launch's units, equal to `units`): a comptime one cannot change.
    let mut stride = CUBE_DIM as usize / 2;
    while stride > 0 {
        if tid < stride {
            sa[tid] += sa[tid + stride];
            sb[tid] += sb[tid + stride];
        }
        sync_cube();
        stride /= 2;
    }
    (sa[0], sb[0])
}

/// One cube per plane. Writes y = ReLU?(γ·(x − mean)/σ + β) and, per plane, (mean, 1/σ) to
/// `stats`. The sums are taken about the plane's first value, so that E[x²] − E[x]² does
/// not cancel when the mean is large next to the spread.
#[cube(launch)]
fn norm_forward_kernel<F: Float>(
    x: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    y: &mut Tensor<F>,
    stats: &mut Tensor<f32>,
    plane: u32,
    channels: u32,
    eps: f32,
    #[comptime] relu: bool,
    #[comptime] units: usize,
    #[define(F)] _dtype: StorageType,
) {
    let p = CUBE_POS;
    let len = plane as usize;
    let base = p * len;
    let tid = UNIT_POS as usize;
    let pivot = f32::cast_from(x[base]);
    let mut s = 0.0f32;
    let mut q = 0.0f32;
    let mut i = tid;
    while i < len {
        let d = f32::cast_from(x[base + i]) - pivot;
        s += d;
        q += d * d;
        i += units;
    }
    let (s, q) = cube_sums(s, q, units);
    let n = len as f32;
    let shifted_mean = s / n;
    let var = f32::max(q / n - shifted_mean * shifted_mean, 0.0f32);
    let mean = pivot + shifted_mean;
    let inv = 1.0f32 / f32::sqrt(var + eps);
    let c = p % channels as usize;
    // (x − mean)·scale + β, not x·scale + shift: that cancels when the mean is large.
    let scale = f32::cast_from(gamma[c]) * inv;
    let shift = f32::cast_from(beta[c]);
    let mut i = tid;
    while i < len {
        let mut v = (f32::cast_from(x[base + i]) - mean) * scale + shift;
        if relu {
            v = f32::max(v, 0.0f32);
        }
        y[base + i] = F::cast_from(v);
        i += units;
    }
    if tid == 0 {
        stats[2 * p] = mean;
        stats[2 * p + 1] = inv;
    }
}

/// One cube per plane: dx from dy (through the ReLU), and per plane (Σg, Σg·x̂) in `sums`,
/// whose sums over the batch are dβ and dγ.
#[cube(launch)]
fn norm_backward_kernel<F: Float>(
    x: &Tensor<F>,
    dy: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    stats: &Tensor<f32>,
    dx: &mut Tensor<F>,
    sums: &mut Tensor<f32>,
    plane: u32,
    channels: u32,
    #[comptime] relu: bool,
    #[comptime] units: usize,
    #[define(F)] _dtype: StorageType,
) {
    let p = CUBE_POS;
    let len = plane as usize;
    let base = p * len;
    let tid = UNIT_POS as usize;
    let mean = stats[2 * p];
    let inv = stats[2 * p + 1];
    let c = p % channels as usize;
    let g = f32::cast_from(gamma[c]);
    let b = f32::cast_from(beta[c]);
    let mut s = 0.0f32;
    let mut q = 0.0f32;
    let mut i = tid;
    while i < len {
        let xh = (f32::cast_from(x[base + i]) - mean) * inv;
        let mut d = f32::cast_from(dy[base + i]);
        if relu && g * xh + b <= 0.0f32 {
            d = 0.0f32;
        }
        s += d;
        q += d * xh;
        i += units;
    }
    let (s, q) = cube_sums(s, q, units);
    let n = len as f32;
    let mean_g = s / n;
    let mean_gx = q / n;
    let scale = g * inv;
    let mut i = tid;
    while i < len {
        let xh = (f32::cast_from(x[base + i]) - mean) * inv;
        let mut d = f32::cast_from(dy[base + i]);
        if relu && g * xh + b <= 0.0f32 {
            d = 0.0f32;
        }
        dx[base + i] = F::cast_from(scale * (d - mean_g - xh * mean_gx));
        i += units;
    }
    if tid == 0 {
        sums[2 * p] = s;
        sums[2 * p + 1] = q;
    }
}

/// (planes, plane size, channels) of an (N, C, H, W) tensor.
fn planes<R: CubeRuntime>(x: &CubeTensor<R>) -> (usize, usize, usize) {
    let dims = x.meta.shape().dims::<4>();
    (dims[0] * dims[1], dims[2] * dims[3], dims[1])
}

/// `t` contiguous and in the activations' dtype.
fn contiguous_as<R: CubeRuntime>(t: CubeTensor<R>, dtype: DType) -> CubeTensor<R> {
    let t = into_contiguous(t);
    if t.dtype == dtype { t } else { cast(t, dtype) }
}

/// The kernels' outputs, uninitialized: one shaped like `x` and an f32 [planes, 2] of
/// per-plane pairs.
fn outputs<R: CubeRuntime>(x: &CubeTensor<R>, planes: usize) -> (CubeTensor<R>, CubeTensor<R>) {
    let (client, device) = (x.client.clone(), x.device.clone());
    let shape = x.meta.shape().clone();
    let like_x = empty_device_dtype(client.clone(), device.clone(), shape, x.dtype);
    let pairs = empty_device_dtype(client, device, Shape::new([planes, 2]), DType::F32);
    (like_x, pairs)
}

/// y and the per-plane (mean, 1/σ) as f32 of shape [N·C, 2].
pub fn forward<R: CubeRuntime>(
    x: CubeTensor<R>,
    gamma: CubeTensor<R>,
    beta: CubeTensor<R>,
    relu: bool,
    eps: f64,
) -> (CubeTensor<R>, CubeTensor<R>) {
    let x = into_contiguous(x);
    let (count, plane, channels) = planes(&x);
    let dtype = x.dtype;
    let (gamma, beta) = (contiguous_as(gamma, dtype), contiguous_as(beta, dtype));
    let (y, stats) = outputs(&x, count);
    let client = x.client.clone();
    norm_forward_kernel::launch::<R>(
        &client,
        CubeCount::Static(count as u32, 1, 1),
        CubeDim::new_1d(UNITS as u32),
        x.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        y.clone().into_tensor_arg(),
        stats.clone().into_tensor_arg(),
        plane as u32,
        channels as u32,
        eps as f32,
        relu,
        UNITS,
        dtype.into(),
    );
    (y, stats)
}

/// dx and the per-plane (Σg, Σg·x̂) as f32 of shape [N·C, 2].
pub fn backward<R: CubeRuntime>(
    x: CubeTensor<R>,
    stats: CubeTensor<R>,
    gamma: CubeTensor<R>,
    beta: CubeTensor<R>,
    dy: CubeTensor<R>,
    relu: bool,
) -> (CubeTensor<R>, CubeTensor<R>) {
    let (x, stats) = (into_contiguous(x), into_contiguous(stats));
    let (count, plane, channels) = planes(&x);
    let dtype = x.dtype;
    let dy = contiguous_as(dy, dtype);
    let (gamma, beta) = (contiguous_as(gamma, dtype), contiguous_as(beta, dtype));
    let (dx, sums) = outputs(&x, count);
    let client = x.client.clone();
    norm_backward_kernel::launch::<R>(
        &client,
        CubeCount::Static(count as u32, 1, 1),
        CubeDim::new_1d(UNITS as u32),
        x.into_tensor_arg(),
        dy.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        stats.into_tensor_arg(),
        dx.clone().into_tensor_arg(),
        sums.clone().into_tensor_arg(),
        plane as u32,
        channels as u32,
        relu,
        UNITS,
        dtype.into(),
    );
    (dx, sums)
}
