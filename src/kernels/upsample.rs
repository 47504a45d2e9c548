//! Nearest upsampling by 2 followed by a reflection-padded 3x3 convolution, computed
//! exactly as four 2x2 convolutions of the low-resolution input, one per output phase.
//!
//! Output pixel (2i+a, 2j+b) sees upsampled rows 2i+a−1..2i+a+1, which are low-resolution
//! rows i−1, i, i (a = 0) or i, i, i+1 (a = 1): kernel rows that land on the same row are
//! summed into a 2-row kernel, and likewise for columns. Reflection padding of the
//! upsampled picture repeats its edge rows, which is edge padding at low resolution. So
//! the upsampled tensor is never stored and the layer does 16 multiply-adds per channel
//! pair and output pixel instead of 36. (The CPU gets the same 16/36 from Winograd.)

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use super::pad::{Fill, pad_hw};

/// `conv2d(reflect_pad_1(upsample_nearest2(x)))` with a 3x3 `weight` (stride 1).
pub fn conv3x3_upsampled<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Tensor<B, 1>,
) -> Tensor<B, 4> {
    let [n, _, h, w] = x.dims();
    let c_out = weight.dims()[0];
    // Folds the 3 taps along `dim` into the 2 low-resolution ones of output phase `phase`.
    let fold = |k: Tensor<B, 4>, dim: usize, phase: usize| {
        let tap = |i| k.clone().narrow(dim, i, 1);
        let (first, second) = if phase == 0 {
            (tap(0), tap(1) + tap(2))
        } else {
            (tap(0) + tap(1), tap(2))
        };
        Tensor::cat(vec![first, second], dim)
    };
    // [4 c_out, c_in, 2, 2], phase (a, b) at output channels (2a + b) c_out ..
    let mut phases = Vec::with_capacity(4);
    for a in 0..2 {
        let rows = fold(weight.clone(), 2, a);
        for b in 0..2 {
            phases.push(fold(rows.clone(), 3, b));
        }
    }
    let y = conv2d(
        pad_hw(x, 1, Fill::Edge),
        Tensor::cat(phases, 0),
        // cat, not repeat_dim: burn 0.21's autodiff gets repeat_dim's gradient wrong.
        Some(Tensor::cat(vec![bias; 4], 0)),
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    );
    // The (h+1) x (w+1) outputs of phase (a, b) start at row a and column b.
    let phase = |a: usize, b: usize| {
        y.clone()
            .narrow(1, (2 * a + b) * c_out, c_out)
            .narrow(2, a, h)
            .narrow(3, b, w)
    };
    let row = |a| Tensor::stack::<5>(vec![phase(a, 0), phase(a, 1)], 4);
    Tensor::stack::<6>(vec![row(0), row(1)], 3).reshape([n, c_out, 2 * h, 2 * w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_all_close, output_and_grads};
    use crate::kernels::{PaddedConv, Padding, reference_conv2d_padded};
    use burn::backend::Flex;
    use burn::tensor::{Distribution, Tolerance};

    /// Output and gradients (input, kernel, bias) equal those of upsampling, padding and
    /// convolving, on odd sizes and batch > 1.
    #[test]
    fn four_phase_2x2_convolutions_equal_upsample_then_3x3() {
        let device = Default::default();
        let spec = PaddedConv {
            stride: 1,
            pad: 1,
            padding: Padding::Reflect,
            upsample: true,
        };
        for (xs, c_out) in [([2, 3, 5, 7], 4), ([1, 2, 1, 3], 2), ([3, 5, 6, 4], 3)] {
            let x = Tensor::<Flex, 4>::random(xs, Distribution::Normal(0.0, 1.0), &device);
            let wt = [c_out, xs[1], 3, 3];
            let w = Tensor::<Flex, 4>::random(wt, Distribution::Normal(0.0, 0.3), &device);
            let b = Tensor::<Flex, 1>::random([c_out], Distribution::Normal(0.0, 1.0), &device);
            let square = |y: Tensor<_, 4>| y.square().sum();
            let ours = output_and_grads((&x, &w, &b), conv3x3_upsampled, square);
            let reference = output_and_grads(
                (&x, &w, &b),
                |x, w, b| reference_conv2d_padded(x, w, b, spec),
                square,
            );
            let names = ["y", "dx", "dw", "db"];
            let tolerance = Tolerance::rel_abs(1e-4, 1e-3);
            assert_all_close(names, &ours, &reference, tolerance, &format!("{xs:?}"));
        }
    }
}
