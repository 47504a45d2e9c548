//! The network's hot operations, with host kernels for the CPU backend.
//!
//! burn's CPU convolution spends most of a training step outside its GEMM (NHWC copies,
//! a col2im scatter for the input gradient, a weight gradient computed as a convolution
//! with a frame-sized kernel). [`Kernels`] lets a backend run a padded convolution through
//! this crate's own im2col + GEMM kernels instead, forward and backward, and the instance
//! norm in one pass; the CubeCL backends (CUDA) run the instance norm on this crate's
//! CubeCL kernels (`cube`) and compose the convolution from burn's ops, which is also the
//! reference every kernel is tested against. Setting `FASTSTYLE_REFERENCE_KERNELS=1` makes
//! every backend use the reference path.

mod amx;
mod autodiff;
pub mod conv;
#[cfg(feature = "gpu-kernels")]
mod cube;
mod dot_bf16;
pub mod frames;
pub mod norm;
pub mod pad;
#[cfg(test)]
mod testing;
mod upsample;
mod winograd;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, FloatTensor, IntTensor};
use burn::tensor::{DType, FloatDType, Tensor, TensorData, TensorPrimitive};

use crate::yuv::{YuvGeometry, YuvModel};
pub use conv::Padding;
use conv::{ConvGeom, Frame};

/// A convolution preceded by padding: what every layer of both networks is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaddedConv {
    pub stride: usize,
    pub pad: usize,
    pub padding: Padding,
    /// Nearest-neighbour upsampling by 2 first (fused on the CPU: never stored).
    pub upsample: bool,
}

/// Backends that can run [`conv2d_padded`], on host kernels or on burn's ops.
pub trait Kernels: Backend {
    /// Whether this backend's tensors live in host memory and use the host kernels.
    fn host_kernels() -> bool {
        false
    }

    fn conv2d_padded(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: PaddedConv,
    ) -> FloatTensor<Self> {
        composed_conv2d_padded::<Self>(x, weight, bias, spec)
    }

    /// Affine instance norm of `x` (N, C, H, W) with per-channel `gamma` and `beta`,
    /// dividing by `sqrt(variance + eps)`, followed by ReLU if `relu`.
    fn instance_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        eps: f64,
    ) -> FloatTensor<Self> {
        composed_instance_norm::<Self>(x, gamma, beta, relu, eps)
    }

    /// Whether this backend runs this crate's device kernels: the CubeCL instance norm,
    /// whose training pair [`Kernels::instance_norm_train`] and
    /// [`Kernels::instance_norm_backward`] the autodiff wrapper then uses, and the
    /// upsampling layers as four 2x2 convolutions (see [`composed_conv2d_padded`]).
    fn device_kernels() -> bool {
        false
    }

    /// The instance norm's forward pass for training: the output and, per (image, channel)
    /// plane, its mean and 1/σ as an f32 tensor of shape [N·C, 2].
    fn instance_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let x = tensor::<Self, 4>(x);
        let [n, c, h, w] = x.dims();
        let flat = x.clone().cast(DType::F32).reshape([n * c, h * w]);
        let mean = flat.clone().mean_dim(1);
        let var = (flat - mean.clone()).square().mean_dim(1);
        let inv = (var + eps).sqrt().recip();
        let y = reference_instance_norm(x, tensor(gamma), tensor(beta), relu, eps);
        (float(y), float(Tensor::cat(vec![mean, inv], 1)))
    }

    /// Gradients (input, gamma, beta) of the instance norm from the upstream gradient `dy`
    /// and the statistics [`Kernels::instance_norm_train`] returned.
    fn instance_norm_backward(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        relu: bool,
    ) -> [FloatTensor<Self>; 3] {
        let x = tensor::<Self, 4>(x);
        let gamma = tensor::<Self, 1>(gamma);
        let (dtype, param_dtype) = (x.dtype(), gamma.dtype());
        let [n, c, h, w] = x.dims();
        let stats = tensor::<Self, 2>(stats).reshape([n, c, 2]);
        let mean = stats.clone().narrow(2, 0, 1);
        let inv = stats.narrow(2, 1, 1);
        let xhat = (x.cast(DType::F32).reshape([n, c, h * w]) - mean) * inv.clone();
        let gamma = gamma.cast(DType::F32).reshape([1, c, 1]);
        let beta = tensor::<Self, 1>(beta).cast(DType::F32).reshape([1, c, 1]);
        let mut g = tensor::<Self, 4>(dy)
            .cast(DType::F32)
            .reshape([n, c, h * w]);
        if relu {
            let off = (xhat.clone() * gamma.clone() + beta).lower_equal_elem(0.0);
            g = g.mask_fill(off, 0.0);
        }
        let len = (h * w) as f64;
        let sum_g = g.clone().sum_dim(2);
        let sum_gx = (g.clone() * xhat.clone()).sum_dim(2);
        // dx = γ/σ · (g − mean(g) − x̂ · mean(g · x̂))
        let dx = (g - sum_g.clone() / len - xhat * (sum_gx.clone() / len)) * (gamma * inv);
        let per_channel = |t: Tensor<Self, 3>| float(t.sum_dim(0).reshape([c]).cast(param_dtype));
        [
            float(dx.reshape([n, c, h, w]).cast(dtype)),
            per_channel(sum_gx),
            per_channel(sum_g),
        ]
    }

    /// `frames` 8-bit 4:2:0 frames of `geometry` in `model`, packed into 32-bit words
    /// ([`crate::yuv::pack_words`]), to NCHW RGB 0..255 in `dtype`. The default converts
    /// on the host; GPU backends convert on the device, so that only the words cross.
    fn rgb_from_yuv420(
        words: IntTensor<Self>,
        frames: usize,
        geometry: YuvGeometry,
        model: YuvModel,
        dtype: FloatDType,
    ) -> FloatTensor<Self> {
        let _ = frames;
        frames::host_rgb_from_yuv420::<Self>(words, geometry, model, dtype)
    }

    /// NCHW RGB to packed 4:2:0 frames in `model`, the inverse of
    /// [`Kernels::rgb_from_yuv420`].
    fn yuv420_from_rgb(x: FloatTensor<Self>, model: YuvModel) -> IntTensor<Self> {
        frames::host_yuv420_from_rgb::<Self>(x, model)
    }
}

impl Kernels for burn::backend::Flex {
    fn host_kernels() -> bool {
        !reference_requested()
    }

    fn conv2d_padded(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: PaddedConv,
    ) -> FloatTensor<Self> {
        let (x, weight, bias) = (
            tensor::<Self, 4>(x),
            tensor::<Self, 4>(weight),
            tensor(bias),
        );
        if !Self::host_kernels() || x.dtype() != DType::F32 {
            return float(reference_conv2d_padded(x, weight, bias, spec));
        }
        let device = x.device();
        let (geom, frame) = geometry(&x.dims(), &weight.dims(), spec);
        let (y, _) = conv::forward(
            &to_host(x),
            &geom,
            frame,
            &to_host(weight),
            Some(&to_host(bias)),
            bf16_gemm(),
        );
        let (ho, wo) = geom.output(frame);
        from_host::<Self, 4>(y, [frame.batch, geom.c_out, ho, wo], &device)
    }

    fn instance_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        eps: f64,
    ) -> FloatTensor<Self> {
        let (x, gamma, beta) = (tensor::<Self, 4>(x), tensor(gamma), tensor(beta));
        if !Self::host_kernels() || x.dtype() != DType::F32 {
            return float(reference_instance_norm(x, gamma, beta, relu, eps));
        }
        let (device, dims) = (x.device(), x.dims());
        let plane = dims[2] * dims[3];
        let mut y = to_host(x);
        norm::forward_in_place(&mut y, plane, &to_host(gamma), &to_host(beta), relu, eps);
        from_host::<Self, 4>(y, dims, &device)
    }
}

/// `conv2d(pad(x))` with a square kernel; `bias` has one value per output channel.
///
/// The weights follow the input's number format: f16 or bf16 activations cast the f32
/// weights per use, and the cast's gradient takes their gradients back to f32 (mixed
/// precision with f32 master weights). Nothing happens where both are f32.
pub fn conv2d_padded<B: Kernels>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Tensor<B, 1>,
    spec: PaddedConv,
) -> Tensor<B, 4> {
    let dtype = FloatDType::from(x.dtype());
    tensor(B::conv2d_padded(
        float(x),
        float(weight.cast(dtype)),
        float(bias.cast(dtype)),
        spec,
    ))
}

/// Affine instance norm (and ReLU if `relu`); `gamma` and `beta` have one value per channel,
/// `eps` is added to each plane's variance. Like [`conv2d_padded`], the parameters follow
/// the input's number format; the statistics are f32 in every kernel.
pub fn instance_norm<B: Kernels>(
    x: Tensor<B, 4>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    relu: bool,
    eps: f64,
) -> Tensor<B, 4> {
    let dtype = FloatDType::from(x.dtype());
    tensor(B::instance_norm(
        float(x),
        float(gamma.cast(dtype)),
        float(beta.cast(dtype)),
        relu,
        eps,
    ))
}

/// The same operation composed from burn's own ops: what CUDA runs, and the reference the
/// host kernels must match.
pub fn reference_conv2d_padded<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Tensor<B, 1>,
    spec: PaddedConv,
) -> Tensor<B, 4> {
    let p = spec.pad;
    let x = if spec.upsample {
        upsample_nearest2(x)
    } else {
        x
    };
    let (x, conv_pad) = match spec.padding {
        Padding::Reflect if p > 0 => (pad::pad_hw(x, p, pad::Fill::Reflect), 0),
        Padding::Reflect => (x, 0),
        Padding::Zero => (x, p),
    };
    conv2d(
        x,
        weight,
        Some(bias),
        ConvOptions::new([spec.stride; 2], [conv_pad; 2], [1, 1], 1),
    )
}

/// The padded convolution composed from burn's ops, on a backend's primitives: the
/// reference, except that on backends with device kernels upsampling + 3x3 runs as four
/// 2x2 convolutions.
fn composed_conv2d_padded<B: Kernels>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    spec: PaddedConv,
) -> FloatTensor<B> {
    let (x, weight, bias) = (tensor::<B, 4>(x), tensor::<B, 4>(weight), tensor(bias));
    let upsampled_3x3 = spec.upsample
        && spec.stride == 1
        && spec.pad == 1
        && spec.padding == Padding::Reflect
        && weight.dims()[2..] == [3, 3];
    float(if upsampled_3x3 && B::device_kernels() {
        upsample::conv3x3_upsampled(x, weight, bias)
    } else {
        reference_conv2d_padded(x, weight, bias, spec)
    })
}

/// [`reference_instance_norm`] on a backend's primitives: where no kernel runs it.
fn composed_instance_norm<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    relu: bool,
    eps: f64,
) -> FloatTensor<B> {
    float::<B, 4>(reference_instance_norm(
        tensor(x),
        tensor(gamma),
        tensor(beta),
        relu,
        eps,
    ))
}

/// Nearest-neighbour upsampling by 2 in both spatial dimensions.
pub fn upsample_nearest2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}

/// Instance norm from burn's ops: the reference of [`instance_norm`].
pub fn reference_instance_norm<B: Backend>(
    x: Tensor<B, 4>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    relu: bool,
    eps: f64,
) -> Tensor<B, 4> {
    let c = x.dims()[1];
    let y = normalize_instances(x, eps) * gamma.reshape([1, c, 1, 1]) + beta.reshape([1, c, 1, 1]);
    if relu {
        burn::tensor::activation::relu(y)
    } else {
        y
    }
}

/// Normalizes each (image, channel) plane to mean 0, dividing by sqrt((biased) variance + eps).
pub fn normalize_instances<B: Backend>(x: Tensor<B, 4>, eps: f64) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let flat = x.reshape([n, c, h * w]);
    let mean = flat.clone().mean_dim(2);
    let centered = flat - mean;
    let var = centered.clone().square().mean_dim(2);
    let normed = centered / (var + eps).sqrt();
    normed.reshape([n, c, h, w])
}

const UNSET: u8 = 0;
const HOST: u8 = 1;
const REFERENCE: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(UNSET);

/// Makes the CPU backend compose every operation from burn's ops instead of the host
/// kernels (for comparisons; `FASTSTYLE_REFERENCE_KERNELS=1` does the same at start-up).
pub fn use_reference_kernels(on: bool) {
    MODE.store(if on { REFERENCE } else { HOST }, Ordering::Relaxed);
}

static BF16_GEMM: AtomicBool = AtomicBool::new(false);

/// Makes the host convolutions round their GEMM operands to bf16 (sums stay f32) where the
/// CPU multiplies bf16 faster than f32: on AMX tiles (about 16 times AVX-512's f32 rate) or
/// with AVX512-BF16 dot products (twice it). For training: inference keeps f32. Returns
/// whether bf16 is now in use.
pub fn use_bf16_gemm(on: bool) -> bool {
    let on = on && amx::available();
    BF16_GEMM.store(on, Ordering::Relaxed);
    on
}

/// Whether this CPU can run [`use_bf16_gemm`]'s bf16 GEMMs.
pub fn bf16_gemm_available() -> bool {
    amx::available()
}

/// Whether the bf16 GEMMs run on AMX tiles (else on AVX512-BF16 dot products), for reports.
pub fn bf16_gemm_on_tiles() -> bool {
    amx::tiles_available()
}

fn bf16_gemm() -> bool {
    BF16_GEMM.load(Ordering::Relaxed)
}

fn reference_requested() -> bool {
    match MODE.load(Ordering::Relaxed) {
        UNSET => {
            let on = std::env::var_os("FASTSTYLE_REFERENCE_KERNELS")
                .is_some_and(|v| !v.is_empty() && v != "0");
            // A concurrent explicit choice wins over the environment.
            let mode = if on { REFERENCE } else { HOST };
            let _ = MODE.compare_exchange(UNSET, mode, Ordering::Relaxed, Ordering::Relaxed);
            MODE.load(Ordering::Relaxed) == REFERENCE
        }
        mode => mode == REFERENCE,
    }
}

fn geometry(x: &[usize; 4], w: &[usize; 4], spec: PaddedConv) -> (ConvGeom, Frame) {
    assert_eq!(
        x[1], w[1],
        "convolution input has {} channels, kernel wants {}",
        x[1], w[1]
    );
    assert_eq!(w[2], w[3], "only square kernels");
    (
        ConvGeom {
            c_in: w[1],
            c_out: w[0],
            kernel: w[2],
            stride: spec.stride,
            pad: spec.pad,
            padding: spec.padding,
            upsample: spec.upsample,
        },
        Frame {
            batch: x[0],
            height: x[2],
            width: x[3],
        },
    )
}

fn tensor<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn float<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

fn to_host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .into_vec::<f32>()
        .expect("host kernels run on f32 tensors")
}

fn from_host<B: Backend, const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &B::Device,
) -> FloatTensor<B> {
    float(Tensor::<B, D>::from_data(
        TensorData::new(values, shape),
        device,
    ))
}

/// An autodiff backend whose forward passes and inner backend both have [`Kernels`]: what
/// training runs on.
pub trait TrainKernels: AutodiffBackend<InnerBackend: Kernels> + Kernels {}

impl<B: AutodiffBackend<InnerBackend: Kernels> + Kernels> TrainKernels for B {}

#[cfg(test)]
mod tests {
    use super::testing::{assert_all_close, output_and_grads};
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tolerance};

    /// The host kernels' outputs and gradients (input, kernel, bias) equal those of the
    /// same operation composed from burn's ops, through a non-trivial loss.
    #[test]
    fn host_path_matches_reference_forward_and_backward() {
        let device = Default::default();
        let cases = [
            ([2, 3, 13, 11], [8, 3, 9, 9], 1, 4, Padding::Reflect, false),
            ([2, 4, 10, 12], [6, 4, 3, 3], 2, 1, Padding::Reflect, false),
            ([1, 5, 7, 9], [4, 5, 3, 3], 1, 1, Padding::Zero, false),
            ([2, 4, 5, 6], [3, 4, 3, 3], 1, 1, Padding::Reflect, true),
        ];
        for (xs, ws, stride, pad, padding, upsample) in cases {
            let spec = PaddedConv {
                stride,
                pad,
                padding,
                upsample,
            };
            let x = Tensor::<Flex, 4>::random(xs, Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<Flex, 4>::random(ws, Distribution::Normal(0.0, 0.3), &device);
            let b = Tensor::<Flex, 1>::random([ws[0]], Distribution::Normal(0.0, 1.0), &device);
            let square = |y: Tensor<_, 4>| y.square().sum();
            let host =
                output_and_grads((&x, &w, &b), |x, w, b| conv2d_padded(x, w, b, spec), square);
            let reference = output_and_grads(
                (&x, &w, &b),
                |x, w, b| reference_conv2d_padded(x, w, b, spec),
                square,
            );
            let case = format!("{xs:?} * {ws:?}");
            let names = ["output", "dx", "dw", "db"];
            assert_all_close(
                names,
                &host,
                &reference,
                Tolerance::rel_abs(1e-4, 1e-3),
                &case,
            );
        }
    }

    #[test]
    fn host_instance_norm_matches_reference_forward_and_backward() {
        let device = Default::default();
        let names = ["output", "dx", "dgamma", "dbeta"];
        let tolerance = Tolerance::rel_abs(1e-3, 1e-3);
        // The variance (9) is of the order of the larger epsilon, so both matter.
        for (relu, eps) in [
            (false, norm::EPS),
            (true, norm::EPS),
            (true, 4.0),
            (false, 4.0),
        ] {
            let x =
                Tensor::<Flex, 4>::random([2, 3, 5, 7], Distribution::Normal(2.0, 3.0), &device);
            let gamma = Tensor::<Flex, 1>::random([3], Distribution::Normal(1.0, 0.5), &device);
            let beta = Tensor::<Flex, 1>::random([3], Distribution::Normal(0.0, 0.5), &device);
            // A position-dependent weighting, so the gradient is not trivially zero.
            let weighting = Tensor::<Flex, 4>::random([2, 3, 5, 7], Distribution::Default, &device);
            let loss = |y: Tensor<_, 4>| {
                let w = Tensor::from_inner(weighting.clone());
                (y.clone() * y.clone() * 0.5 + y * w).sum()
            };
            let inputs = (&x, &gamma, &beta);
            let host = output_and_grads(inputs, |x, g, b| instance_norm(x, g, b, relu, eps), loss);
            let reference = output_and_grads(
                inputs,
                |x, g, b| reference_instance_norm(x, g, b, relu, eps),
                loss,
            );
            let case = format!("relu {relu}, eps {eps}");
            assert_all_close(names, &host, &reference, tolerance, &case);
            // The trait's default training pair (what device kernels implement), fed the
            // loss's upstream gradient y + w, gives the same output and gradients.
            let (y, stats) = <Flex as Kernels>::instance_norm_train(
                float(x.clone()),
                float(gamma.clone()),
                float(beta.clone()),
                relu,
                eps,
            );
            let y = tensor::<Flex, 4>(y);
            let dy = y.clone() + weighting.clone();
            let grads = <Flex as Kernels>::instance_norm_backward(
                float(x.clone()),
                stats,
                float(gamma.clone()),
                float(beta.clone()),
                float(dy),
                relu,
            );
            let composed = [
                y.into_data(),
                tensor::<Flex, 4>(grads[0].clone()).into_data(),
                tensor::<Flex, 1>(grads[1].clone()).into_data(),
                tensor::<Flex, 1>(grads[2].clone()).into_data(),
            ];
            assert_all_close(names, &composed, &reference, tolerance, &case);
        }
    }
}
