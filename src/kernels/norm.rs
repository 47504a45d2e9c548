//! Affine instance norm, optionally followed by ReLU, on host f32 buffers (NCHW): one pass
//! over each (image, channel) plane instead of the eight tensor ops it takes in burn.

use rayon::prelude::*;

/// Variance epsilon of the first styles, as in PyTorch's `InstanceNorm2d`.
pub const EPS: f64 = 1e-5;

/// What the backward pass needs: the normalized input and 1/σ of every plane.
pub struct Normalized {
    pub xhat: Vec<f32>,
    pub inv_std: Vec<f32>,
}

/// Normalizes each of the `x.len() / plane` planes (channel = plane index mod `channels`)
/// by `sqrt(variance + eps)`, then scales by gamma, shifts by beta and clamps at 0 if `relu`.
pub fn forward(
    x: &[f32],
    plane: usize,
    gamma: &[f32],
    beta: &[f32],
    relu: bool,
    eps: f64,
) -> (Vec<f32>, Normalized) {
    let channels = gamma.len();
    let mut xhat = vec![0.0f32; x.len()];
    let mut y = vec![0.0f32; x.len()];
    let mut inv_std = vec![0.0f32; x.len() / plane];
    xhat.par_chunks_mut(plane)
        .zip(y.par_chunks_mut(plane))
        .zip(x.par_chunks(plane))
        .zip(inv_std.par_iter_mut())
        .enumerate()
        .for_each(|(i, (((xh, y), x), inv))| {
            let mean;
            (mean, *inv) = moments(x, eps);
            let (g, b) = (gamma[i % channels], beta[i % channels]);
            for ((xh, y), x) in xh.iter_mut().zip(y.iter_mut()).zip(x) {
                *xh = (x - mean) * *inv;
                let v = g * *xh + b;
                *y = if relu { v.max(0.0) } else { v };
            }
        });
    (y, Normalized { xhat, inv_std })
}

/// Inference: normalizes `x` in place, keeping nothing for a backward pass.
pub fn forward_in_place(
    x: &mut [f32],
    plane: usize,
    gamma: &[f32],
    beta: &[f32],
    relu: bool,
    eps: f64,
) {
    let channels = gamma.len();
    x.par_chunks_mut(plane).enumerate().for_each(|(i, x)| {
        let (mean, inv) = moments(x, eps);
        // y = g * (x - mean) * inv + b = scale * x + shift
        let scale = gamma[i % channels] * inv;
        let shift = beta[i % channels] - scale * mean;
        for v in x.iter_mut() {
            let y = scale * *v + shift;
            *v = if relu { y.max(0.0) } else { y };
        }
    });
}

/// Mean and 1/σ of a plane, σ = sqrt(variance + eps) (f64 sums: planes have up to millions
/// of values). One pass: in f64, E[x²] − E[x]² loses nothing that matters for activations.
fn moments(x: &[f32], eps: f64) -> (f32, f32) {
    let n = x.len() as f64;
    // Four independent accumulators per sum, so the adds pipeline (and vectorize).
    let (mut s, mut q) = ([0.0f64; 4], [0.0f64; 4]);
    let mut quads = x.chunks_exact(4);
    for c in &mut quads {
        for i in 0..4 {
            let v = c[i] as f64;
            s[i] += v;
            q[i] += v * v;
        }
    }
    for v in quads.remainder() {
        s[0] += *v as f64;
        q[0] += (*v as f64) * (*v as f64);
    }
    let mean = s.iter().sum::<f64>() / n;
    let var = (q.iter().sum::<f64>() / n - mean * mean).max(0.0);
    (mean as f32, (1.0 / (var + eps).sqrt()) as f32)
}

/// Gradients of the input, gamma and beta. The formula is the same whatever the epsilon:
/// it enters only through the saved x̂ and 1/σ.
pub fn backward(
    dy: &[f32],
    saved: &Normalized,
    plane: usize,
    gamma: &[f32],
    beta: &[f32],
    relu: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let channels = gamma.len();
    let mut dx = vec![0.0f32; dy.len()];
    // Per plane: (sum of g, sum of g * xhat), where g is dy through the ReLU.
    let sums: Vec<(f64, f64)> = dx
        .par_chunks_mut(plane)
        .zip(dy.par_chunks(plane))
        .zip(saved.xhat.par_chunks(plane))
        .zip(saved.inv_std.par_iter())
        .enumerate()
        .map(|(i, (((dx, dy), xh), inv))| {
            let (g, b) = (gamma[i % channels], beta[i % channels]);
            let through = |dy: f32, xh: f32| {
                if relu && g * xh + b <= 0.0 { 0.0 } else { dy }
            };
            let (mut sum, mut sum_xh) = (0.0f64, 0.0f64);
            for (dy, xh) in dy.iter().zip(xh) {
                let d = through(*dy, *xh) as f64;
                sum += d;
                sum_xh += d * *xh as f64;
            }
            // dx = γ/σ · (g − mean(g) − x̂ · mean(g · x̂))
            let n = plane as f64;
            let (mean_g, mean_gx) = ((sum / n) as f32, (sum_xh / n) as f32);
            let scale = g * inv;
            for ((dx, dy), xh) in dx.iter_mut().zip(dy).zip(xh) {
                *dx = scale * (through(*dy, *xh) - mean_g - xh * mean_gx);
            }
            (sum, sum_xh)
        })
        .collect();
    let mut dgamma = vec![0.0f64; channels];
    let mut dbeta = vec![0.0f64; channels];
    for (i, (sum, sum_xh)) in sums.iter().enumerate() {
        dbeta[i % channels] += sum;
        dgamma[i % channels] += sum_xh;
    }
    let narrow = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    (dx, narrow(dgamma), narrow(dbeta))
}
