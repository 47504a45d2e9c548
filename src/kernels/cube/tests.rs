//! The CubeCL kernels against burn's composition of the same operation, on the wgpu backend
//! (in CI: Mesa's lavapipe, a software Vulkan device), with and without burn's fusion
//! wrapper, forward and backward, f32 and f16.

use burn::backend::wgpu::{CubeBackend, WgpuRuntime};
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Tensor, TensorData, Tolerance};

use crate::kernels::testing::{assert_all_close, output_and_grads};
use crate::kernels::{Kernels, instance_norm, reference_instance_norm};

/// The kernels on the bare CubeCL backend.
type Cube = CubeBackend<WgpuRuntime, f32, i32, u32>;
/// The kernels as custom operations on burn's fusion stream (what `burn::backend::Cuda` is).
type Fused = burn::backend::Wgpu;

/// Odd plane sizes, planes smaller and larger than a cube's 256 units, batch > 1, and a
/// plane whose mean is large next to its spread.
const SHAPES: [([usize; 4], f64, f64); 4] = [
    ([2, 3, 5, 7], 0.0, 3.0),
    ([1, 4, 17, 13], 1.0, 0.5),
    ([3, 2, 33, 31], -2.0, 4.0),
    ([2, 2, 9, 40], 300.0, 0.7),
];

/// Normal random values, drawn on the CPU and copied to `B`.
fn random<B: Backend, const D: usize>(shape: [usize; D], mean: f64, std: f64) -> Tensor<B, D> {
    let t = Tensor::<Flex, D>::random(shape, Distribution::Normal(mean, std), &Default::default());
    Tensor::from_data(t.into_data(), &Default::default())
}

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> TensorData {
    t.cast(DType::F32).into_data()
}

/// The instance norm in f64 on the host: the exact result to judge f32 and f16 kernels by
/// (burn's f32 composition itself is off by about 1e-4 on a plane whose mean is 400 σ).
fn exact_instance_norm(
    x: &TensorData,
    gamma: &TensorData,
    beta: &TensorData,
    relu: bool,
    eps: f64,
) -> TensorData {
    let dims = x.shape.clone();
    let plane = dims[2] * dims[3];
    let f64s = |t: &TensorData| -> Vec<f64> {
        t.clone()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    };
    let (x, gamma, beta) = (f64s(x), f64s(gamma), f64s(beta));
    let mut y = Vec::with_capacity(x.len());
    for (p, values) in x.chunks(plane).enumerate() {
        let mean = values.iter().sum::<f64>() / plane as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / plane as f64;
        let c = p % dims[1];
        for v in values {
            let out = gamma[c] * (v - mean) / (var + eps).sqrt() + beta[c];
            y.push((if relu { out.max(0.0) } else { out }) as f32);
        }
    }
    TensorData::new(y, dims)
}

/// Forward: the kernel's output equals the exact result within `tolerance`.
fn forward_matches<B: Kernels>(dtype: DType, tolerance: Tolerance<f32>) {
    for (shape, mean, std) in SHAPES {
        for (relu, eps) in [(false, 1e-5), (true, 1e-5), (true, 0.1)] {
            let x = random::<B, 4>(shape, mean, std).cast(dtype);
            let gamma = random::<B, 1>([shape[1]], 1.0, 0.5).cast(dtype);
            let beta = random::<B, 1>([shape[1]], 0.0, 1.0).cast(dtype);
            let ours = instance_norm(x.clone(), gamma.clone(), beta.clone(), relu, eps);
            assert_eq!(ours.dtype(), dtype, "output dtype of {shape:?}");
            // From the inputs as the kernel saw them (rounded to f16 where it ran in f16).
            let exact = exact_instance_norm(&values(x), &values(gamma), &values(beta), relu, eps);
            values(ours).assert_approx_eq::<f32>(&exact, tolerance);
        }
    }
}

/// Backward: the gradients of input, gamma and beta through the kernels equal autodiff's
/// through the composition, for a loss whose upstream gradient depends on the output.
fn backward_matches<B: Kernels>() {
    // Not the plane with mean 400 σ: there burn's f32 composition, the reference here, is
    // the less accurate of the two (see exact_instance_norm).
    for (shape, mean, std) in SHAPES.into_iter().filter(|s| s.1.abs() < 10.0 * s.2) {
        for (relu, eps) in [(false, 1e-5), (true, 1e-5), (true, 0.1)] {
            let x = random::<B, 4>(shape, mean, std);
            let gamma = random::<B, 1>([shape[1]], 1.0, 0.5);
            let beta = random::<B, 1>([shape[1]], 0.0, 1.0);
            let weights = random::<B, 4>(shape, 0.0, 1.0);
            let loss = |y: Tensor<Autodiff<B>, 4>| {
                (y.clone().square() * Tensor::from_inner(weights.clone())).sum()
            };
            let inputs = (&x, &gamma, &beta);
            let ours = output_and_grads(inputs, |x, g, b| instance_norm(x, g, b, relu, eps), loss);
            let reference = output_and_grads(
                inputs,
                |x, g, b| reference_instance_norm(x, g, b, relu, eps),
                loss,
            );
            let names = ["y", "dx", "dgamma", "dbeta"];
            let tolerance = Tolerance::rel_abs(2e-3, 2e-3);
            assert_all_close(names, &ours, &reference, tolerance, &format!("{shape:?}"));
        }
    }
}

#[test]
fn norm_kernel_forward_matches_composition_f32() {
    forward_matches::<Cube>(DType::F32, Tolerance::rel_abs(1e-4, 1e-4));
    forward_matches::<Fused>(DType::F32, Tolerance::rel_abs(1e-4, 1e-4));
}

/// f16 storage with f32 sums: within f16's rounding of the exact result.
#[test]
fn norm_kernel_forward_matches_composition_f16() {
    forward_matches::<Cube>(DType::F16, Tolerance::rel_abs(4e-3, 4e-3));
    forward_matches::<Fused>(DType::F16, Tolerance::rel_abs(4e-3, 4e-3));
}

#[test]
fn norm_kernel_backward_matches_autodiff_of_composition() {
    backward_matches::<Cube>();
    backward_matches::<Fused>();
}

/// The tests above must have run the kernels, not the composition twice.
#[test]
fn the_wgpu_backends_use_the_kernels() {
    assert!(<Cube as Kernels>::device_kernels());
    assert!(<Fused as Kernels>::device_kernels());
}

/// The backends' padded convolution (four 2x2 convolutions for upsampling + 3x3) equals
/// the reference composition, forward and backward.
fn convolution_matches<B: Kernels>() {
    use crate::kernels::{PaddedConv, Padding, conv2d_padded, reference_conv2d_padded};
    let cases = [
        ([2, 3, 5, 7], [4, 3, 3, 3], true),
        ([1, 4, 6, 5], [2, 4, 3, 3], true),
        ([2, 3, 9, 8], [5, 3, 3, 3], false),
    ];
    for (xs, ws, upsample) in cases {
        let spec = PaddedConv {
            stride: 1,
            pad: 1,
            padding: Padding::Reflect,
            upsample,
        };
        let x = random::<B, 4>(xs, 0.0, 1.0);
        let w = random::<B, 4>(ws, 0.0, 0.3);
        let b = random::<B, 1>([ws[0]], 0.0, 1.0);
        let square = |y: Tensor<Autodiff<B>, 4>| y.square().sum();
        let ours = output_and_grads((&x, &w, &b), |x, w, b| conv2d_padded(x, w, b, spec), square);
        let reference = output_and_grads(
            (&x, &w, &b),
            |x, w, b| reference_conv2d_padded(x, w, b, spec),
            square,
        );
        let names = ["y", "dx", "dw", "db"];
        let tolerance = Tolerance::rel_abs(1e-3, 1e-3);
        assert_all_close(names, &ours, &reference, tolerance, &format!("{xs:?}"));
    }
}

#[test]
fn convolutions_match_composition_forward_and_backward() {
    convolution_matches::<Cube>();
    convolution_matches::<Fused>();
}

/// Frames with every byte value somewhere, at odd sizes (chroma rounded up) and batch 2.
fn frames(w: usize, h: usize, model: crate::yuv::YuvModel) -> Vec<crate::yuv::Yuv420> {
    use crate::yuv::{Yuv420, YuvGeometry};
    let geometry = YuvGeometry {
        width: w,
        height: h,
    };
    (0..2u32)
        .map(|k| Yuv420 {
            geometry,
            model,
            data: (0..geometry.bytes() as u32)
                .map(|i| ((i * 2654435761 + k * 97) >> 13) as u8)
                .collect(),
        })
        .collect()
}

fn models() -> [crate::yuv::YuvModel; 2] {
    use crate::yuv::YuvModel;
    [
        YuvModel::new(YuvModel::BT709, false),
        YuvModel::new(YuvModel::BT601, true),
    ]
}

/// 4:2:0 frames to RGB on the device against the host reference, f32 and f16, bare and
/// fused.
fn rgb_from_yuv420_matches_host<B: Kernels>() {
    use crate::kernels::frames;
    use burn::tensor::FloatDType;
    for (w, h) in [(37, 21), (64, 36), (1, 1)] {
        for model in models() {
            let frames_ = frames(w, h, model);
            let refs: Vec<_> = frames_.iter().collect();
            let host: Vec<f32> = frames_.iter().flat_map(|f| f.to_planar().data).collect();
            let host = TensorData::new(host, [2, 3, h, w]);
            for (dtype, tol) in [(FloatDType::F32, 1e-3), (FloatDType::F16, 0.2)] {
                let device = Default::default();
                let got = frames::upload::<B>(&refs, dtype, &device);
                assert_eq!(got.dtype(), DType::from(dtype));
                values(got).assert_approx_eq::<f32>(&host, Tolerance::absolute(tol));
            }
        }
    }
}

/// RGB to 4:2:0 frames on the device against the host reference: the same codes but
/// where f32 rounding lands a value on the other side of a half level.
fn yuv420_from_rgb_matches_host<B: Kernels>() {
    use crate::kernels::frames;
    use crate::picture::{self, Planar};
    use crate::yuv::Yuv420;
    for (w, h) in [(37, 21), (64, 36), (1, 1)] {
        for model in models() {
            // Beyond 0..255 on both sides, as a network's output may be.
            let x = random::<Flex, 4>([2, 3, h, w], 128.0, 90.0);
            let want: Vec<Yuv420> = picture::from_tensor(x.clone())
                .iter()
                .map(|p: &Planar| Yuv420::from_planar(p, model))
                .collect();
            let got =
                frames::download::<B>(Tensor::from_data(x.into_data(), &Default::default()), model);
            assert_eq!(got.len(), 2);
            let (mut off, mut total) = (0usize, 0usize);
            for (g, w_) in got.iter().zip(&want) {
                assert_eq!(g.geometry, w_.geometry);
                for (i, (a, b)) in g.data.iter().zip(&w_.data).enumerate() {
                    assert!(
                        a.abs_diff(*b) <= 1,
                        "{w}x{h} {model:?}: code {i} is {a}, not {b}"
                    );
                    off += usize::from(a != b);
                    total += 1;
                }
            }
            assert!(
                off * 200 <= total,
                "{w}x{h}: {off} of {total} codes differ by one"
            );
        }
    }
}

#[test]
fn frames_convert_to_rgb_on_the_device_like_the_host() {
    rgb_from_yuv420_matches_host::<Cube>();
    rgb_from_yuv420_matches_host::<Fused>();
}

#[test]
fn frames_convert_from_rgb_on_the_device_like_the_host() {
    yuv420_from_rgb_matches_host::<Cube>();
    yuv420_from_rgb_matches_host::<Fused>();
}
