//! [`Kernels`] for burn's CubeCL backends (CUDA, and wgpu where the tests run them on
//! Mesa's software Vulkan): the instance norm runs this crate's CubeCL kernels; the
//! convolution is burn's (the trait's default), with the upsampling layers as four 2x2
//! convolutions.

mod fusion;
mod norm;
#[cfg(all(test, feature = "wgpu"))]
mod tests;
mod yuv;

use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{DType, FloatDType, Tensor};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::{Kernels, composed_instance_norm, float, frames, reference_requested, tensor};
use crate::yuv::{YuvGeometry, YuvModel};

impl<R, F, I, BT> Kernels for CubeBackend<R, F, I, BT>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    fn device_kernels() -> bool {
        !reference_requested()
    }

    fn instance_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        eps: f64,
    ) -> FloatTensor<Self> {
        if !Self::device_kernels() {
            return composed_instance_norm::<Self>(x, gamma, beta, relu, eps);
        }
        norm::forward(x, gamma, beta, relu, eps).0
    }

    fn instance_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        norm::forward(x, gamma, beta, relu, eps)
    }

    fn instance_norm_backward(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        relu: bool,
    ) -> [FloatTensor<Self>; 3] {
        let channels = gamma.meta.shape().dims::<1>()[0];
        let dtype = gamma.dtype;
        let (dx, sums) = norm::backward(x, stats, gamma, beta, dy, relu);
        // Per plane (Σg, Σg·x̂), summed over the batch: dβ and dγ.
        let sums = tensor::<Self, 2>(sums);
        let planes = sums.dims()[0];
        let per_channel = sums
            .reshape([planes / channels, channels, 2])
            .sum_dim(0)
            .reshape([channels, 2]);
        let column = |i: usize| -> FloatTensor<Self> {
            let values: Tensor<Self, 1> = per_channel.clone().narrow(1, i, 1).reshape([channels]);
            float(if dtype == DType::F32 {
                values
            } else {
                values.cast(dtype)
            })
        };
        [dx, column(1), column(0)]
    }

    fn rgb_from_yuv420(
        words: IntTensor<Self>,
        frames: usize,
        geometry: YuvGeometry,
        model: YuvModel,
        dtype: FloatDType,
    ) -> FloatTensor<Self> {
        if !words_fit(words.dtype) {
            return frames::host_rgb_from_yuv420::<Self>(words, geometry, model, dtype);
        }
        yuv::rgb_from_yuv420(words, frames, geometry, model.to_rgb(), dtype.into())
    }

    fn yuv420_from_rgb(x: FloatTensor<Self>, model: YuvModel) -> IntTensor<Self> {
        let int = <I as burn::tensor::Element>::dtype();
        if !words_fit(int) {
            return frames::host_yuv420_from_rgb::<Self>(x, model);
        }
        yuv::yuv420_from_rgb(x, model.from_rgb(), int)
    }
}

/// Whether packed words can live in integers of `dtype` bit for bit (the kernels read
/// them as u32).
fn words_fit(dtype: DType) -> bool {
    matches!(dtype, DType::I32 | DType::U32)
}
