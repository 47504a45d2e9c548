//! Building blocks of the transformer: reflection-padded convolution, affine instance
//! norm and nearest-neighbour upsampling.

use crate::kernels::{Kernels, PaddedConv, Padding, conv2d_padded, instance_norm};
use burn::module::{Initializer, Module, Param};
use burn::tensor::Tensor;

/// A convolution whose input is reflection-padded by `kernel / 2` on every side, so that
/// stride 1 keeps the size and stride 2 halves it (for even sizes) without zero borders.
#[derive(Module, Debug)]
pub struct ReflectConv<B: Kernels> {
    pub weight: Param<Tensor<B, 4>>,
    pub bias: Param<Tensor<B, 1>>,
    pub kernel: usize,
    pub stride: usize,
}

impl<B: Kernels> ReflectConv<B> {
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        device: &B::Device,
    ) -> Self {
        let fan_in = c_in * kernel * kernel;
        // PyTorch's default conv init (Kaiming uniform with a = sqrt(5)), which the
        // reference implementations train from.
        let init = Initializer::KaimingUniform {
            gain: 1.0 / 3.0f64.sqrt(),
            fan_out_only: false,
        };
        let weight = init.init_with(
            [c_out, c_in, kernel, kernel],
            Some(fan_in),
            Some(c_out * kernel * kernel),
            device,
        );
        let bound = 1.0 / (fan_in as f64).sqrt();
        let bias = Initializer::Uniform {
            min: -bound,
            max: bound,
        }
        .init([c_out], device);
        Self {
            weight,
            bias,
            kernel,
            stride,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_with(x, false)
    }

    /// With `upsample`, the input is first upsampled by 2 (nearest neighbour).
    pub fn forward_with(&self, x: Tensor<B, 4>, upsample: bool) -> Tensor<B, 4> {
        let spec = PaddedConv {
            stride: self.stride,
            pad: self.kernel / 2,
            padding: Padding::Reflect,
            upsample,
        };
        conv2d_padded(x, self.weight.val(), self.bias.val(), spec)
    }
}

/// Instance normalization with a learned per-channel scale and shift (Ulyanov et al.).
#[derive(Module, Debug)]
pub struct InstanceNorm<B: Kernels> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    /// Added to each plane's variance ([`crate::model::TransformerConfig::norm_eps`]).
    pub eps: f64,
}

impl<B: Kernels> InstanceNorm<B> {
    pub fn new(channels: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            gamma: Initializer::Ones.init([channels], device),
            beta: Initializer::Zeros.init([channels], device),
            eps,
        }
    }

    /// Normalizes `x`, then ReLU if `relu` (fused: one pass on the CPU).
    pub fn forward(&self, x: Tensor<B, 4>, relu: bool) -> Tensor<B, 4> {
        instance_norm(x, self.gamma.val(), self.beta.val(), relu, self.eps)
    }
}

/// Convolution, instance norm and optionally ReLU: the unit every layer but the last uses.
#[derive(Module, Debug)]
pub struct ConvNorm<B: Kernels> {
    pub conv: ReflectConv<B>,
    pub norm: InstanceNorm<B>,
    pub relu: bool,
}

impl<B: Kernels> ConvNorm<B> {
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        relu: bool,
        eps: f64,
        device: &B::Device,
    ) -> Self {
        Self {
            conv: ReflectConv::new(c_in, c_out, kernel, stride, device),
            norm: InstanceNorm::new(c_out, eps, device),
            relu,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.norm.forward(self.conv.forward(x), self.relu)
    }

    /// The same after nearest-neighbour upsampling by 2 (fused into the convolution).
    pub fn forward_upsampled(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.norm
            .forward(self.conv.forward_with(x, true), self.relu)
    }

    /// [`Self::forward`] (or, with `upsample`, [`Self::forward_upsampled`]) that also
    /// hands the convolution's output, before the norm, to `watch` if given.
    pub fn forward_watched(
        &self,
        x: Tensor<B, 4>,
        upsample: bool,
        watch: Option<&mut Vec<Tensor<B, 4>>>,
    ) -> Tensor<B, 4> {
        let y = self.conv.forward_with(x, upsample);
        if let Some(watch) = watch {
            watch.push(y.clone());
        }
        self.norm.forward(y, self.relu)
    }
}

/// conv3x3-IN-ReLU-conv3x3-IN plus the identity.
#[derive(Module, Debug)]
pub struct ResidualBlock<B: Kernels> {
    pub a: ConvNorm<B>,
    pub b: ConvNorm<B>,
}

impl<B: Kernels> ResidualBlock<B> {
    pub fn new(channels: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            a: ConvNorm::new(channels, channels, 3, 1, true, eps, device),
            b: ConvNorm::new(channels, channels, 3, 1, false, eps, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.b.forward(self.a.forward(x.clone()));
        x + y
    }

    /// [`Self::forward`], handing both convolutions' pre-norm outputs to `watch` if given.
    pub fn forward_watched(
        &self,
        x: Tensor<B, 4>,
        mut watch: Option<&mut Vec<Tensor<B, 4>>>,
    ) -> Tensor<B, 4> {
        let a = self
            .a
            .forward_watched(x.clone(), false, watch.as_deref_mut());
        x + self.b.forward_watched(a, false, watch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::upsample_nearest2;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    type B = crate::device::Cpu;

    #[test]
    fn instance_norm_gives_zero_mean_unit_variance_per_channel() {
        let device = Default::default();
        let x = Tensor::<B, 4>::random([2, 3, 7, 5], Distribution::Normal(4.0, 9.0), &device);
        let y = InstanceNorm::<B>::new(3, crate::kernels::norm::EPS, &device).forward(x, false);
        let flat = y.reshape([6, 35]);
        let mean = flat.clone().mean_dim(1);
        let var = (flat - mean.clone()).square().mean_dim(1);
        mean.into_data().assert_approx_eq::<f32>(
            &TensorData::zeros::<f32, _>([6, 1]),
            Tolerance::absolute(1e-4),
        );
        var.into_data().assert_approx_eq::<f32>(
            &TensorData::ones::<f32, _>([6, 1]),
            Tolerance::absolute(1e-3),
        );
    }

    #[test]
    fn instance_norm_applies_scale_and_shift() {
        let device = Default::default();
        let mut norm = InstanceNorm::<B>::new(2, crate::kernels::norm::EPS, &device);
        norm.gamma = Param::from_data([2.0f32, 0.5], &device);
        norm.beta = Param::from_data([1.0f32, -3.0], &device);
        let x = Tensor::<B, 4>::from_data([[[[1.0f32, 3.0]], [[10.0, 20.0]]]], &device);
        // Each channel normalizes to [-1, 1] (up to eps), then gamma * v + beta.
        let expected = TensorData::from([[[[-1.0f32, 3.0]], [[-3.5, -2.5]]]]);
        norm.forward(x.clone(), false)
            .into_data()
            .assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-3));
        let expected = TensorData::from([[[[0.0f32, 3.0]], [[0.0, 0.0]]]]);
        norm.forward(x, true)
            .into_data()
            .assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-3));
    }

    #[test]
    fn reflect_conv_sums_the_reflected_neighbourhood() {
        let device = Default::default();
        let mut conv = ReflectConv::<B>::new(1, 1, 3, 1, &device);
        conv.weight = Param::from_data([[[[1.0f32; 3]; 3]]], &device);
        conv.bias = Param::from_data([0.5f32], &device);
        let x = Tensor::<B, 4>::from_data([[[[1.0f32, 2.0], [3.0, 4.0]]]], &device);
        // Reflect-padded 2x2 → 4x4:
        //   4 3 4 3
        //   2 1 2 1
        //   4 3 4 3
        //   2 1 2 1
        // so the four 3x3 window sums are 27, 24, 21 and 18, plus the bias.
        let expected = TensorData::from([[[[27.5f32, 24.5], [21.5, 18.5]]]]);
        conv.forward(x)
            .into_data()
            .assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-4));
    }

    #[test]
    fn upsample_repeats_each_pixel_twice_in_both_directions() {
        let device = Default::default();
        let x = Tensor::<B, 4>::from_data([[[[1.0f32, 2.0], [3.0, 4.0]]]], &device);
        let expected = TensorData::from([[[
            [1.0f32, 1.0, 2.0, 2.0],
            [1.0, 1.0, 2.0, 2.0],
            [3.0, 3.0, 4.0, 4.0],
            [3.0, 3.0, 4.0, 4.0],
        ]]]);
        upsample_nearest2(x).into_data().assert_eq(&expected, true);
    }
}
