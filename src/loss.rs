//! The perceptual losses of Johnson et al.: content (feature MSE), style (Gram-matrix MSE)
//! and total variation.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Gram matrices F·Fᵀ / (C·H·W) of a batch of feature maps: [N, C, H, W] → [N, C, C].
pub fn gram<B: Backend>(features: Tensor<B, 4>) -> Tensor<B, 3> {
    let [n, c, h, w] = features.dims();
    let f = features.reshape([n, c, h * w]);
    f.clone().matmul(f.swap_dims(1, 2)) / ((c * h * w) as f64)
}

/// Mean squared error between output and content features.
pub fn content_loss<B: Backend>(output: Tensor<B, 4>, content: Tensor<B, 4>) -> Tensor<B, 1> {
    (output - content).square().mean()
}

/// Mean squared error between the output's Gram matrices and the style's (one Gram,
/// [1, C, C], shared by the whole batch).
pub fn style_loss<B: Backend>(output: Tensor<B, 4>, style_gram: Tensor<B, 3>) -> Tensor<B, 1> {
    let g = gram(output);
    let [n, c, _] = g.dims();
    (g - style_gram.expand([n, c, c])).square().mean()
}

/// Total variation: mean squared difference between vertical and horizontal neighbours.
pub fn total_variation<B: Backend>(image: Tensor<B, 4>) -> Tensor<B, 1> {
    let [n, c, h, w] = image.dims();
    let dy = image.clone().slice([0..n, 0..c, 1..h, 0..w])
        - image.clone().slice([0..n, 0..c, 0..h - 1, 0..w]);
    let dx =
        image.clone().slice([0..n, 0..c, 0..h, 1..w]) - image.slice([0..n, 0..c, 0..h, 0..w - 1]);
    dy.square().mean() + dx.square().mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{TensorData, Tolerance};

    type B = crate::device::Cpu;

    fn t4(values: Vec<f32>, shape: [usize; 4]) -> Tensor<B, 4> {
        Tensor::from_data(TensorData::new(values, shape), &Default::default())
    }

    #[test]
    fn gram_by_hand() {
        // Two channels over a 1x2 image: F = [[1, 2], [3, 4]].
        // F·Fᵀ = [[1+4, 3+8], [3+8, 9+16]] = [[5, 11], [11, 25]], divided by C·H·W = 4.
        let g = gram(t4(vec![1.0, 2.0, 3.0, 4.0], [1, 2, 1, 2]));
        g.into_data().assert_approx_eq::<f32>(
            &TensorData::from([[[1.25f32, 2.75], [2.75, 6.25]]]),
            Tolerance::absolute(1e-6),
        );
    }

    #[test]
    fn content_loss_by_hand() {
        let a = t4(vec![1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2]);
        let b = t4(vec![1.0, 0.0, 3.0, 8.0], [1, 1, 2, 2]);
        // differences 0, 2, 0, -4 → squares 0, 4, 0, 16 → mean 5
        assert!((content_loss(a, b).into_scalar() - 5.0).abs() < 1e-6);
    }

    #[test]
    fn style_loss_by_hand() {
        // Output F = [[1, 2], [3, 4]] has Gram [[1.25, 2.75], [2.75, 6.25]]; the style Gram
        // is all ones: differences 0.25, 1.75, 1.75, 5.25 → mean of squares = 8.4375.
        let out = t4(vec![1.0, 2.0, 3.0, 4.0], [1, 2, 1, 2]);
        let style = Tensor::<B, 3>::ones([1, 2, 2], &Default::default());
        let expected = (0.0625 + 3.0625 + 3.0625 + 27.5625) / 4.0;
        assert!((style_loss(out, style).into_scalar() - expected).abs() < 1e-5);
    }

    #[test]
    fn style_loss_is_shared_across_the_batch() {
        let one = vec![1.0, 2.0, 3.0, 4.0];
        let out = t4([one.clone(), one].concat(), [2, 2, 1, 2]);
        let style = Tensor::<B, 3>::ones([1, 2, 2], &Default::default());
        assert!((style_loss(out, style).into_scalar() - 8.4375).abs() < 1e-5);
    }

    #[test]
    fn total_variation_by_hand() {
        // [[1, 2], [4, 8]]: vertical diffs 3, 6 → mean sq 22.5; horizontal 1, 4 → 8.5.
        let img = t4(vec![1.0, 2.0, 4.0, 8.0], [1, 1, 2, 2]);
        assert!((total_variation(img).into_scalar() - 31.0).abs() < 1e-5);
        let flat = t4(vec![5.0; 9], [1, 1, 3, 3]);
        assert_eq!(total_variation(flat).into_scalar(), 0.0);
    }
}
