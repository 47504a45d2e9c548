//! Reflection and edge padding that keep a tensor's number format. burn 0.21's
//! `Tensor::pad` writes into `zeros` of the default float type, which an f16 or bf16
//! tensor cannot be assigned into (a `DTypeMismatch` panic on the fusion backends); this
//! builds the padded tensor from slices of the input and `cat` (not `repeat_dim`, whose
//! gradient burn 0.21's autodiff gets wrong).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// What fills the padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Mirrored around the edge pixel, which is not repeated: `2 1 | 0 1 2 | 1`.
    Reflect,
    /// The edge pixel repeated: `0 0 | 0 1 2 | 2`.
    Edge,
}

/// Pads `x` along `dim` by `before` and `after`. Reflection needs both below the side.
pub fn pad_dim<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    dim: usize,
    (before, after): (usize, usize),
    fill: Fill,
) -> Tensor<B, D> {
    if before == 0 && after == 0 {
        return x;
    }
    let side = x.dims()[dim];
    assert!(
        fill == Fill::Edge || (before < side && after < side),
        "reflection padding ({before}, {after}) needs a side above both, not {side}"
    );
    let mut parts = Vec::with_capacity(3);
    if before > 0 {
        parts.push(match fill {
            Fill::Reflect => x.clone().narrow(dim, 1, before).flip([dim as isize]),
            Fill::Edge => Tensor::cat(vec![x.clone().narrow(dim, 0, 1); before], dim),
        });
    }
    parts.push(x.clone());
    if after > 0 {
        parts.push(match fill {
            Fill::Reflect => x.narrow(dim, side - after - 1, after).flip([dim as isize]),
            Fill::Edge => Tensor::cat(vec![x.narrow(dim, side - 1, 1); after], dim),
        });
    }
    Tensor::cat(parts, dim)
}

/// Pads the last two dimensions (height, width) of a batch of pictures by `p` on every side.
pub fn pad_hw<B: Backend>(x: Tensor<B, 4>, p: usize, fill: Fill) -> Tensor<B, 4> {
    pad_dim(pad_dim(x, 2, (p, p), fill), 3, (p, p), fill)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::{FloatDType, TensorData};

    type B = Flex;

    fn grid() -> Tensor<B, 4> {
        Tensor::from_data(
            [[[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]],
            &Default::default(),
        )
    }

    #[test]
    fn reflection_mirrors_around_the_edge_pixel() {
        let padded = pad_dim(
            pad_dim(grid(), 2, (2, 1), Fill::Reflect),
            3,
            (1, 2),
            Fill::Reflect,
        );
        let expected = TensorData::from([[[
            [8.0f32, 7.0, 8.0, 9.0, 8.0, 7.0],
            [5.0, 4.0, 5.0, 6.0, 5.0, 4.0],
            [2.0, 1.0, 2.0, 3.0, 2.0, 1.0],
            [5.0, 4.0, 5.0, 6.0, 5.0, 4.0],
            [8.0, 7.0, 8.0, 9.0, 8.0, 7.0],
            [5.0, 4.0, 5.0, 6.0, 5.0, 4.0],
        ]]]);
        padded.into_data().assert_eq(&expected, true);
    }

    #[test]
    fn edge_padding_repeats_the_edge_and_may_exceed_the_side() {
        let padded = pad_dim(
            pad_dim(grid(), 2, (0, 4), Fill::Edge),
            3,
            (2, 0),
            Fill::Edge,
        );
        let rows = [[1.0f32, 1.0, 1.0, 2.0, 3.0], [4.0, 4.0, 4.0, 5.0, 6.0]];
        let last = [7.0f32, 7.0, 7.0, 8.0, 9.0];
        let expected = TensorData::from([[[rows[0], rows[1], last, last, last, last, last]]]);
        padded.into_data().assert_eq(&expected, true);
    }

    #[test]
    fn padding_keeps_the_number_format() {
        let x = grid().cast(FloatDType::F16);
        for fill in [Fill::Reflect, Fill::Edge] {
            assert_eq!(pad_hw(x.clone(), 1, fill).dtype(), x.dtype());
        }
    }

    #[test]
    fn gradients_sum_over_every_copy_of_a_pixel() {
        let x = grid().into_data();
        let x = Tensor::<Autodiff<B>, 4>::from_data(x, &Default::default()).require_grad();
        let grads = pad_hw(x.clone(), 1, Fill::Edge).sum().backward();
        // Corners appear 4 times in a 1-pixel edge padding, edge midpoints twice.
        let expected = TensorData::from([[[[4.0f32, 2.0, 4.0], [2.0, 1.0, 2.0], [4.0, 2.0, 4.0]]]]);
        x.grad(&grads)
            .unwrap()
            .into_data()
            .assert_eq(&expected, true);
        let grads = pad_hw(x.clone(), 1, Fill::Reflect).sum().backward();
        // Reflection copies the row and column next to each edge: the middle ones 3 times.
        let expected = TensorData::from([[[[1.0f32, 3.0, 1.0], [3.0, 9.0, 3.0], [1.0, 3.0, 1.0]]]]);
        x.grad(&grads)
            .unwrap()
            .into_data()
            .assert_eq(&expected, true);
    }
}
