//! The perceptual losses of Johnson et al.: content (feature MSE), style (Gram-matrix MSE)
//! and total variation.
//!
//! Every loss is computed in f32 whatever format its inputs come in: with mixed precision
//! the networks run in f16 or bf16, but a Gram matrix or a kurtosis summed over a picture
//! overflows f16 and loses too many bits in bf16.

use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};

/// Gram matrices F·Fᵀ / (C·H·W) of a batch of feature maps: [N, C, H, W] → [N, C, C].
pub fn gram<B: Backend>(features: Tensor<B, 4>) -> Tensor<B, 3> {
    let features = f32s(features);
    let [n, c, h, w] = features.dims();
    let f = features.reshape([n, c, h * w]);
    f.clone().matmul(f.swap_dims(1, 2)) / ((c * h * w) as f64)
}

/// How far the output's texture is from the target's, image by image and tile by tile: the
/// mean over a `tiles` x `tiles` grid of the squared difference of the two Gram matrices
/// (no gradient flows into `target`). Tiles keep the texture local: a whole picture's Gram
/// can be met with a blob in one place making up for the rest.
pub fn texture_loss<B: Backend>(
    output: Tensor<B, 4>,
    target: Tensor<B, 4>,
    tiles: usize,
) -> Tensor<B, 1> {
    let (output, target) = (f32s(output), f32s(target).detach());
    mean_over_tiles(output.dims(), tiles, |at| {
        (gram(output.clone().slice(at.clone())) - gram(target.clone().slice(at)))
            .square()
            .mean()
    })
}

/// The mean of `loss` over a `tiles` x `tiles` grid (at most one tile per pixel) of maps of
/// shape `dims`; `loss` gets each tile's ranges in all four dimensions.
fn mean_over_tiles<B: Backend>(
    [n, c, h, w]: [usize; 4],
    tiles: usize,
    loss: impl Fn([std::ops::Range<usize>; 4]) -> Tensor<B, 1>,
) -> Tensor<B, 1> {
    let tiles = tiles.clamp(1, h.min(w));
    let edges = |side: usize| (0..=tiles).map(move |i| i * side / tiles);
    let rows: Vec<usize> = edges(h).collect();
    let cols: Vec<usize> = edges(w).collect();
    let mut sum = None;
    for r in rows.windows(2) {
        for q in cols.windows(2) {
            let l = loss([0..n, 0..c, r[0]..r[1], q[0]..q[1]]);
            sum = Some(match sum {
                None => l,
                Some(s) => s + l,
            });
        }
    }
    sum.expect("at least one tile") / (tiles * tiles) as f64
}

/// Mean squared error between output and content features.
pub fn content_loss<B: Backend>(output: Tensor<B, 4>, content: Tensor<B, 4>) -> Tensor<B, 1> {
    (f32s(output) - f32s(content)).square().mean()
}

/// Mean squared error between the output's Gram matrices and the style's (one Gram,
/// [1, C, C], shared by the whole batch).
pub fn style_loss<B: Backend>(output: Tensor<B, 4>, style_gram: Tensor<B, 3>) -> Tensor<B, 1> {
    let g = gram(output);
    let [n, c, _] = g.dims();
    (g - style_gram.expand([n, c, c])).square().mean()
}

/// The style loss on a `tiles` x `tiles` grid: each tile's Gram matrix against the style's,
/// averaged over the tiles. One tile is [`style_loss`]. The mean of the tiles' Grams is the
/// whole map's Gram, so by convexity this bounds the global loss from above; unlike it, it
/// cannot be met by a few extreme pixels in one place making up the statistics of the
/// rest (a blob): every tile has to carry the painting's statistics itself.
pub fn style_loss_tiled<B: Backend>(
    output: Tensor<B, 4>,
    style_gram: Tensor<B, 3>,
    tiles: usize,
) -> Tensor<B, 1> {
    let output = f32s(output);
    let [_, _, h, w] = output.dims();
    if tiles.clamp(1, h.min(w)) == 1 {
        return style_loss(output, style_gram);
    }
    mean_over_tiles(output.dims(), tiles, |at| {
        style_loss(output.clone().slice(at), style_gram.clone())
    })
}

/// How far the channels of `x` (pre-normalization activations, [N, C, H, W]) are from
/// spreading their energy over the plane: the mean over images and channels of the
/// kurtosis E[d⁴] / E[d²]² (d = x - the channel's mean) in excess of `limit`. Gaussian
/// noise has kurtosis 3; a channel whose variance sits in 1% of its pixels has at least
/// 36·(that share)². Instance norm divides a channel by its standard deviation, so such a
/// channel lets a few pixels set the gain of the rest: the "droplet" through which a
/// network smuggles statistics past the norm, and which shows as a blob.
pub fn peak_penalty<B: Backend>(x: Tensor<B, 4>, limit: f64) -> Tensor<B, 1> {
    let x = f32s(x);
    let [n, c, h, w] = x.dims();
    let f = x.reshape([n * c, h * w]);
    let d = f.clone() - f.mean_dim(1);
    let d2 = d.square();
    let m2 = d2.clone().mean_dim(1);
    let m4 = d2.square().mean_dim(1);
    let kurtosis = m4 / (m2.square() + 1e-20);
    (kurtosis - limit).clamp_min(0.0).mean()
}

/// Total variation: mean squared difference between vertical and horizontal neighbours.
pub fn total_variation<B: Backend>(image: Tensor<B, 4>) -> Tensor<B, 1> {
    let image = f32s(image);
    let [n, c, h, w] = image.dims();
    let dy = image.clone().slice([0..n, 0..c, 1..h, 0..w])
        - image.clone().slice([0..n, 0..c, 0..h - 1, 0..w]);
    let dx =
        image.clone().slice([0..n, 0..c, 0..h, 1..w]) - image.slice([0..n, 0..c, 0..h, 0..w - 1]);
    dy.square().mean() + dx.square().mean()
}

/// Stability (Gupta et al. 2017): the network should answer a slightly different view of
/// the same scene the same way. `y` is `f(x)`; the loss is the mean squared difference
/// between `f(x + noise)` and `y`, plus that between `f(x shifted left by shift pixels)` and
/// `y` shifted alike. Zero for a network that ignores the noise and is exactly
/// shift-equivariant.
pub fn stability_loss<B: Backend>(
    f: impl Fn(Tensor<B, 4>) -> Tensor<B, 4>,
    x: Tensor<B, 4>,
    y: Tensor<B, 4>,
    noise: Tensor<B, 4>,
    shift: usize,
) -> Tensor<B, 1> {
    let [n, c, h, w] = x.dims();
    let noise = noise.cast(FloatDType::from(x.dtype()));
    let noisy = (f32s(f(x.clone() + noise)) - f32s(y.clone()))
        .square()
        .mean();
    let moved = f32s(f(x.slice([0..n, 0..c, 0..h, shift..w])));
    let expected = f32s(y.slice([0..n, 0..c, 0..h, shift..w]));
    noisy + (moved - expected).square().mean()
}

/// `x` in f32 (a no-op where it is).
fn f32s<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.cast(FloatDType::F32)
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
    fn stability_loss_is_zero_exactly_when_the_network_is_stable() {
        let device = Default::default();
        let x = Tensor::<B, 4>::random([2, 3, 6, 9], burn::tensor::Distribution::Default, &device);
        let zero = Tensor::<B, 4>::zeros([2, 3, 6, 9], &device);
        let noise = Tensor::<B, 4>::ones([2, 3, 6, 9], &device) * 0.5;
        // A per-pixel function is exactly shift-equivariant: no shift term.
        let pointwise = |t: Tensor<B, 4>| t * 2.0 + 1.0;
        let y = pointwise(x.clone());
        let l = stability_loss(pointwise, x.clone(), y.clone(), zero.clone(), 2);
        assert_eq!(l.into_scalar(), 0.0);
        // With noise it reacts: (2 · 0.5)² = 1.
        let l = stability_loss(pointwise, x.clone(), y, noise, 2);
        assert!((l.into_scalar() - 1.0).abs() < 1e-6);
        // A position-dependent function is not equivariant: a horizontal ramp added.
        let ramp =
            Tensor::<B, 1>::from_floats([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &device);
        let positional = |t: Tensor<B, 4>| {
            let w = t.dims()[3];
            t + ramp.clone().narrow(0, 0, w).reshape([1, 1, 1, w])
        };
        let y = positional(x.clone());
        // Shifted by 2, every pixel gets a ramp 2 lower than its original place: (2)² = 4.
        let l = stability_loss(positional, x, y, zero, 2);
        assert!((l.into_scalar() - 4.0).abs() < 1e-5);
    }

    #[test]
    fn tiled_style_loss_is_the_mean_over_tiles_and_bounds_the_global_one() {
        let device = Default::default();
        let x = Tensor::<B, 4>::random([2, 3, 6, 8], burn::tensor::Distribution::Default, &device);
        let target = Tensor::<B, 3>::ones([1, 3, 3], &device) * 0.2;
        let one = style_loss_tiled(x.clone(), target.clone(), 1).into_scalar();
        assert!((one - style_loss(x.clone(), target.clone()).into_scalar()).abs() < 1e-6);
        let tiled = style_loss_tiled(x.clone(), target.clone(), 2).into_scalar();
        let by_hand = [(0..3, 0..4), (0..3, 4..8), (3..6, 0..4), (3..6, 4..8)]
            .into_iter()
            .map(|(r, c)| {
                style_loss(x.clone().slice([0..2, 0..3, r, c]), target.clone()).into_scalar()
            })
            .sum::<f32>()
            / 4.0;
        assert!((tiled - by_hand).abs() < 1e-6, "{tiled} vs {by_hand}");
        assert!(tiled >= one - 1e-6, "tiled {tiled} < global {one}");
        // A map whose statistics sit in one corner: fine globally, not tile by tile.
        let mut v = vec![0.0f32; 4 * 4];
        v[0] = 4.0;
        let spike = t4(v, [1, 1, 4, 4]);
        let g = gram(spike.clone());
        assert!(style_loss(spike.clone(), g.clone()).into_scalar() < 1e-9);
        assert!(style_loss_tiled(spike, g, 2).into_scalar() > 0.1);
    }

    #[test]
    fn texture_loss_compares_each_image_and_tile_with_its_own_target() {
        let device = Default::default();
        let x = Tensor::<B, 4>::random([2, 3, 6, 8], burn::tensor::Distribution::Default, &device);
        assert_eq!(texture_loss(x.clone(), x.clone(), 2).into_scalar(), 0.0);
        // Image by image: swapping the batch's targets costs, the whole Gram (1 tile) is
        // the plain per-image Gram MSE.
        let swapped = Tensor::cat(
            vec![x.clone().narrow(0, 1, 1), x.clone().narrow(0, 0, 1)],
            0,
        );
        let one = texture_loss(x.clone(), swapped.clone(), 1).into_scalar();
        let by_hand = (gram(x.clone()) - gram(swapped.clone()))
            .square()
            .mean()
            .into_scalar();
        assert!(
            one > 0.0 && (one - by_hand).abs() < 1e-6,
            "{one} vs {by_hand}"
        );
        // Tiles: the target's texture moved to another corner is a loss tile by tile.
        let mut a = vec![0.0f32; 16];
        let mut b = vec![0.0f32; 16];
        (a[0], b[15]) = (4.0, 4.0);
        let (a, b) = (t4(a, [1, 1, 4, 4]), t4(b, [1, 1, 4, 4]));
        assert!(texture_loss(a.clone(), b.clone(), 1).into_scalar() < 1e-9);
        assert!(texture_loss(a, b, 2).into_scalar() > 0.1);
    }

    #[test]
    fn peak_penalty_spares_spread_channels_and_charges_spiked_ones() {
        // ±1 alternating: kurtosis 1, under any limit.
        let flat = t4(
            (0..64)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect(),
            [1, 1, 8, 8],
        );
        assert_eq!(peak_penalty(flat, 3.0).into_scalar(), 0.0);
        // One pixel of 64 lit: d = 63/64 there and -1/64 elsewhere, kurtosis
        // (63⁴ + 63) / 64 / ((63² + 63) / 64²)² = 62.02; over a limit of 10, 52.02.
        let mut v = vec![0.0f32; 64];
        v[9] = 5.0;
        let spiked = t4(v, [1, 1, 8, 8]);
        let p = peak_penalty(spiked.clone(), 10.0).into_scalar();
        assert!((p - 52.016).abs() < 0.01, "{p}");
        // Scale-free, and the mean over channels: a flat channel beside it halves it.
        let p2 = peak_penalty(spiked * 1000.0, 10.0).into_scalar();
        assert!((p2 - p).abs() < 0.01, "{p2}");
        let both = Tensor::cat(
            vec![
                t4(vec![0.0; 64], [1, 1, 8, 8]),
                t4(
                    [vec![0.0; 9], vec![5.0], vec![0.0; 54]].concat(),
                    [1, 1, 8, 8],
                ),
            ],
            1,
        );
        let half = peak_penalty(both, 10.0).into_scalar();
        assert!((half - p / 2.0).abs() < 0.01, "{half}");
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
