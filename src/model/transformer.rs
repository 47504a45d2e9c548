//! The feed-forward style network of Johnson et al. (2016) with instance norm: three
//! downsampling convolutions, residual blocks, two nearest-upsample + conv stages, and a
//! 9x9 output convolution. Input and output are RGB in 0..255, NCHW.

use crate::kernels::Kernels;
use crate::kernels::pad::{Fill, pad_dim};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};

use super::config::TransformerConfig;
use super::layers::{ConvNorm, InstanceNorm, ReflectConv, ResidualBlock};

/// The network downsamples twice by 2, so sizes are padded to a multiple of this.
pub const SIZE_MULTIPLE: usize = 4;
/// Smallest padded side: the 3x3 reflection pads at quarter resolution need 2 pixels there.
pub const MIN_SIDE: usize = 8;

#[derive(Module, Debug)]
pub struct Transformer<B: Kernels> {
    pub conv1: ConvNorm<B>,
    pub conv2: ConvNorm<B>,
    pub conv3: ConvNorm<B>,
    pub res: Vec<ResidualBlock<B>>,
    pub up1: ConvNorm<B>,
    pub up2: ConvNorm<B>,
    pub out: ReflectConv<B>,
    /// The output layer's instance norm ([`TransformerConfig::output_norm`]).
    pub out_norm: Option<InstanceNorm<B>>,
    /// Half-range of the tanh head ([`TransformerConfig::output_scale`]).
    pub output_scale: f32,
}

impl<B: Kernels> Transformer<B> {
    /// A freshly initialized network (PyTorch-style default init).
    pub fn new(config: &TransformerConfig, device: &B::Device) -> Self {
        let [c1, c2, c3] = config.channels();
        let eps = config.norm_eps;
        Self {
            conv1: ConvNorm::new(3, c1, 9, 1, true, eps, device),
            conv2: ConvNorm::new(c1, c2, 3, 2, true, eps, device),
            conv3: ConvNorm::new(c2, c3, 3, 2, true, eps, device),
            res: (0..config.residual_blocks)
                .map(|_| ResidualBlock::new(c3, eps, device))
                .collect(),
            up1: ConvNorm::new(c3, c2, 3, 1, true, eps, device),
            up2: ConvNorm::new(c2, c1, 3, 1, true, eps, device),
            out: ReflectConv::new(c1, 3, 9, 1, device),
            out_norm: config
                .output_norm
                .then(|| InstanceNorm::new(3, eps, device)),
            output_scale: config.output_scale,
        }
    }

    /// The network with every weight converted to `dtype` (f16 or bf16 for the GPU's
    /// tensor cores); its layers then compute in the format of their input.
    pub fn cast(self, dtype: FloatDType) -> Self {
        struct Cast(FloatDType);
        impl<B: Backend> ModuleMapper<B> for Cast {
            fn map_float<const D: usize>(
                &mut self,
                param: Param<Tensor<B, D>>,
            ) -> Param<Tensor<B, D>> {
                let (id, tensor, mapper) = param.consume();
                Param::from_mapped_value(id, tensor.cast(self.0), mapper)
            }
        }
        self.map(&mut Cast(dtype))
    }

    /// Runs the network on an input whose height and width are multiples of
    /// [`SIZE_MULTIPLE`] and at least [`MIN_SIDE`]. Training calls this directly: its
    /// output may overshoot 0..255 by `output_scale - 127.5` (the loss sees the overshoot,
    /// so it has a gradient there); [`Self::forward`] clamps it.
    pub fn forward_aligned(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.run(x, None)
    }

    /// [`Self::forward_aligned`], also returning the pre-norm activations of the layers
    /// after the first two (where the blobs of instance-norm networks form, see
    /// [`crate::loss::peak_penalty`]).
    pub fn forward_aligned_watched(&self, x: Tensor<B, 4>) -> (Tensor<B, 4>, Vec<Tensor<B, 4>>) {
        let mut watch = Vec::with_capacity(self.res.len() * 2 + 3);
        let y = self.run(x, Some(&mut watch));
        (y, watch)
    }

    /// The layers in order; `watch`, if given, collects the watched pre-norm activations.
    fn run(&self, x: Tensor<B, 4>, mut watch: Option<&mut Vec<Tensor<B, 4>>>) -> Tensor<B, 4> {
        let y = self.conv2.forward(self.conv1.forward(x));
        let mut y = self.conv3.forward_watched(y, false, watch.as_deref_mut());
        for block in &self.res {
            y = block.forward_watched(y, watch.as_deref_mut());
        }
        let y = self.up1.forward_watched(y, true, watch.as_deref_mut());
        let y = self.up2.forward_watched(y, true, watch);
        self.head(y)
    }

    fn head(&self, y: Tensor<B, 4>) -> Tensor<B, 4> {
        self.pre_tanh(y).tanh() * self.output_scale as f64 + 127.5
    }

    /// The output layer before the tanh, from the last upsampling stage's features.
    pub fn pre_tanh(&self, y: Tensor<B, 4>) -> Tensor<B, 4> {
        let u = self.out.forward(y);
        match &self.out_norm {
            Some(norm) => norm.forward(u, false),
            None => u,
        }
    }

    /// Stylizes images of any size: pads to what the network takes, then crops back, so the
    /// output has exactly the input's height and width, in 0..255.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let (top, bottom) = padding_for(h);
        let (left, right) = padding_for(w);
        let y = if top + bottom + left + right == 0 {
            self.forward_aligned(x)
        } else {
            let padded = pad_reflect_or_edge(x, top, bottom, 2);
            let padded = pad_reflect_or_edge(padded, left, right, 3);
            let y = self.forward_aligned(padded);
            let [n, c, _, _] = y.dims();
            y.slice([0..n, 0..c, top..top + h, left..left + w])
        };
        if self.output_scale > 127.5 {
            y.clamp(0.0, 255.0)
        } else {
            y
        }
    }
}

/// Padding (before, after) that brings `side` to a valid network size, split evenly.
pub fn padding_for(side: usize) -> (usize, usize) {
    let target = side.div_ceil(SIZE_MULTIPLE).max(1) * SIZE_MULTIPLE;
    let target = target.max(MIN_SIDE);
    let total = target - side;
    (total / 2, total - total / 2)
}

/// Reflection padding along `dim`; where the side is too small to reflect (reflection
/// needs padding < side), the edge is replicated instead.
pub fn pad_reflect_or_edge<B: Kernels>(
    x: Tensor<B, 4>,
    before: usize,
    after: usize,
    dim: usize,
) -> Tensor<B, 4> {
    let side = x.dims()[dim];
    let fill = if before < side && after < side {
        Fill::Reflect
    } else {
        Fill::Edge
    };
    pad_dim(x, dim, (before, after), fill)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type B = crate::device::Cpu;

    fn tiny() -> TransformerConfig {
        TransformerConfig::new(0.25, 1)
    }

    fn run(h: usize, w: usize) -> Tensor<B, 4> {
        let device = Default::default();
        let model = Transformer::<B>::new(&tiny(), &device);
        let x = Tensor::<B, 4>::random([1, 3, h, w], Distribution::Uniform(0.0, 255.0), &device);
        model.forward(x)
    }

    #[test]
    fn output_size_equals_input_size() {
        for (h, w) in [
            (256, 256),
            (255, 257),
            (1, 3),
            (3, 1),
            (1, 1),
            (5, 9),
            (61, 97),
        ] {
            let y = run(h, w);
            assert_eq!(y.dims(), [1, 3, h, w], "input {h}x{w}");
        }
    }

    #[test]
    fn output_is_in_pixel_range() {
        let y = run(33, 17);
        let min = y.clone().min().into_scalar();
        let max = y.max().into_scalar();
        assert!(
            (0.0..=255.0).contains(&min) && (0.0..=255.0).contains(&max),
            "{min}..{max}"
        );
    }

    #[test]
    fn default_network_has_the_published_parameter_count() {
        let device = Default::default();
        let model = Transformer::<B>::new(&TransformerConfig::default(), &device);
        assert_eq!(model.num_params(), 1_679_235);
    }

    #[test]
    fn padding_reaches_a_valid_size_and_splits_evenly() {
        assert_eq!(padding_for(256), (0, 0));
        assert_eq!(padding_for(255), (0, 1));
        assert_eq!(padding_for(257), (1, 2));
        assert_eq!(padding_for(1), (3, 4));
        assert_eq!(padding_for(8), (0, 0));
    }

    #[test]
    fn batch_items_are_independent() {
        // Instance norm works per image: an image's result must not depend on its batch mates.
        let device = Default::default();
        let model = Transformer::<B>::new(&tiny(), &device);
        let a = Tensor::<B, 4>::random([1, 3, 16, 12], Distribution::Uniform(0.0, 255.0), &device);
        let b = Tensor::<B, 4>::random([1, 3, 16, 12], Distribution::Uniform(0.0, 255.0), &device);
        let alone = model.forward(a.clone());
        let batched = model.forward(Tensor::cat(vec![a, b], 0));
        let first = batched.slice([0..1, 0..3, 0..16, 0..12]);
        alone
            .into_data()
            .assert_approx_eq::<f32>(&first.into_data(), burn::tensor::Tolerance::absolute(1e-3));
    }
}
