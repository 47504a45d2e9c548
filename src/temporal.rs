//! Flicker, measured. Per-frame style networks react to small input changes (noise,
//! motion) with large changes in the painted texture. Two measures:
//!
//! - on a synthetic clip with known motion (a picture panned by whole pixels, then a static
//!   stretch with mild noise as in real footage): the mean absolute difference between
//!   frame t and frame t-1 moved by the known motion, over the overlap, for the stylized
//!   frames, divided by the same for the input frames;
//! - on any video (motion unknown): the mean consecutive-frame difference of the stylized
//!   frames divided by that of the input frames, a flow-free proxy.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::picture::Planar;

/// How a frame moved from the previous one: content shifts left by `dx`, up by `dy`
/// pixels, i.e. frame_t(x, y) = frame_{t-1}(x + dx, y + dy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Motion {
    pub dx: usize,
    pub dy: usize,
}

/// A synthetic clip and the motion of each frame relative to the one before it (the first
/// entry is unused).
pub struct Clip {
    pub frames: Vec<Planar>,
    pub motion: Vec<Motion>,
    /// Frames `..pan_frames` are the pan, the rest the static stretch.
    pub pan_frames: usize,
}

/// Pans `still` left by `step` pixels a frame for `pan` frames (noise-free, so the input's
/// own temporal error there is exactly 0), then holds the last view for `hold` frames with
/// Gaussian noise of `noise` levels.
pub fn synthetic_clip(
    still: &Planar,
    width: usize,
    step: usize,
    pan: usize,
    hold: usize,
    noise: f32,
) -> Clip {
    assert!(
        still.width >= width + step * pan.saturating_sub(1),
        "still too narrow to pan"
    );
    let crop = |x0: usize| {
        let mut data = Vec::with_capacity(3 * width * still.height);
        for plane in still.data.chunks(still.width * still.height) {
            for row in plane.chunks(still.width) {
                data.extend_from_slice(&row[x0..x0 + width]);
            }
        }
        Planar {
            width,
            height: still.height,
            data,
        }
    };
    let mut frames: Vec<Planar> = (0..pan).map(|t| crop(t * step)).collect();
    let mut motion = vec![Motion { dx: step, dy: 0 }; pan];
    let last = crop(step * pan.saturating_sub(1));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..hold {
        let mut f = last.clone();
        for v in &mut f.data {
            *v = (*v + noise * standard_normal(&mut rng)).clamp(0.0, 255.0);
        }
        frames.push(f);
        motion.push(Motion::default());
    }
    Clip {
        frames,
        motion,
        pan_frames: pan,
    }
}

/// Mean absolute difference between `cur` and `prev` moved by `m`, over the overlap.
pub fn moved_difference(prev: &Planar, cur: &Planar, m: Motion) -> f64 {
    let (w, h) = (cur.width, cur.height);
    assert_eq!((prev.width, prev.height), (w, h));
    let (ow, oh) = (w - m.dx, h - m.dy);
    let mut sum = 0.0f64;
    for (p, c) in prev.data.chunks(w * h).zip(cur.data.chunks(w * h)) {
        for y in 0..oh {
            let c_row = &c[y * w..y * w + ow];
            let p_row = &p[(y + m.dy) * w + m.dx..][..ow];
            sum += c_row
                .iter()
                .zip(p_row)
                .map(|(a, b)| (a - b).abs() as f64)
                .sum::<f64>();
        }
    }
    sum / (3 * ow * oh) as f64
}

/// Mean of the moved differences over consecutive pairs `from..to` of `frames`.
fn mean_difference(frames: &[Planar], motion: &[Motion], from: usize, to: usize) -> f64 {
    let pairs: Vec<f64> = (from.max(1)..to)
        .map(|t| moved_difference(&frames[t - 1], &frames[t], motion[t]))
        .collect();
    if pairs.is_empty() {
        0.0
    } else {
        pairs.iter().sum::<f64>() / pairs.len() as f64
    }
}

/// Temporal error of stylized frames against their input frames, on a clip of known motion.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TemporalError {
    /// Stylized: mean moved difference over the pan (levels, 0..255).
    pub pan: f64,
    /// Stylized: mean consecutive difference over the static, noisy stretch.
    pub hold: f64,
    /// The same two for the input frames (the pan's is 0 for whole-pixel motion).
    pub input_pan: f64,
    pub input_hold: f64,
    /// Stylized / input over every pair: 1 for the identity, higher when the style
    /// amplifies changes, that is flickers.
    pub ratio: f64,
}

pub fn temporal_error(clip: &Clip, stylized: &[Planar]) -> TemporalError {
    let n = clip.frames.len();
    assert_eq!(stylized.len(), n);
    let (p, m) = (clip.pan_frames, &clip.motion);
    let pan = mean_difference(stylized, m, 0, p);
    let hold = mean_difference(stylized, m, p, n);
    let input_pan = mean_difference(&clip.frames, m, 0, p);
    let input_hold = mean_difference(&clip.frames, m, p, n);
    let all = mean_difference(stylized, m, 0, n);
    let all_input = mean_difference(&clip.frames, m, 0, n);
    TemporalError {
        pan,
        hold,
        input_pan,
        input_hold,
        ratio: all / all_input,
    }
}

/// The flow-free proxy: mean consecutive difference of `stylized` over that of `input`.
pub fn consecutive_ratio(input: &[Planar], stylized: &[Planar]) -> f64 {
    let still = vec![Motion::default(); input.len()];
    mean_difference(stylized, &still, 0, stylized.len())
        / mean_difference(input, &still, 0, input.len())
}

/// A textured picture to pan: gradients, discs, stripes and fine checks, so that motion is
/// visible at every scale.
pub fn test_still(width: usize, height: usize) -> Planar {
    let mut data = vec![0.0f32; 3 * width * height];
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let disc =
                ((fx * 7.0).fract() - 0.5).powi(2) + ((fy * 4.0).fract() - 0.5).powi(2) < 0.08;
            let stripe = (x / 5 + y / 9) % 2 == 0;
            let check = (x / 2 + y / 2) % 2 == 0;
            let rgb = [
                40.0 + 170.0 * fx + if check { 12.0 } else { 0.0 },
                if disc { 210.0 } else { 60.0 + 120.0 * fy },
                if stripe { 170.0 } else { 60.0 },
            ];
            for (c, v) in rgb.iter().enumerate() {
                data[(c * height + y) * width + x] = *v;
            }
        }
    }
    Planar {
        width,
        height,
        data,
    }
}

/// A standard normal sample (Box-Muller), without another dependency.
pub fn standard_normal(rng: &mut impl rand::Rng) -> f32 {
    let u: f32 = rng.random_range(f32::EPSILON..1.0);
    let v: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip() -> Clip {
        synthetic_clip(&test_still(120, 40), 80, 2, 8, 6, 2.0)
    }

    #[test]
    fn the_identity_has_no_error_over_the_pan_and_ratio_one() {
        let c = clip();
        let e = temporal_error(&c, &c.frames);
        assert_eq!(e.pan, 0.0);
        assert_eq!(e.input_pan, 0.0);
        assert!(e.input_hold > 1.0 && e.input_hold < 3.0, "{}", e.input_hold);
        assert!((e.ratio - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_network_that_adds_per_frame_noise_scores_clearly_worse() {
        let c = clip();
        // A steady "style": a fixed, position-dependent colour change, the same every frame.
        let steady: Vec<Planar> = c
            .frames
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f.data.iter_mut().for_each(|v| *v = 255.0 - *v);
                f
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let noisy: Vec<Planar> = steady
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f.data
                    .iter_mut()
                    .for_each(|v| *v += 8.0 * standard_normal(&mut rng));
                f
            })
            .collect();
        let (a, b) = (temporal_error(&c, &steady), temporal_error(&c, &noisy));
        assert!(a.pan < 1e-3, "{}", a.pan);
        assert!(b.pan > 5.0 && b.ratio > 3.0 * a.ratio, "{a:?} vs {b:?}");
        // The proxy, on the static stretch (where consecutive frames differ by noise only).
        let hold = c.pan_frames..;
        let proxy = |out: &[Planar]| consecutive_ratio(&c.frames[hold.clone()], &out[hold.clone()]);
        assert!(
            proxy(&noisy) > 2.0 * proxy(&steady),
            "{} vs {}",
            proxy(&noisy),
            proxy(&steady)
        );
    }

    #[test]
    fn moved_difference_follows_the_motion() {
        let still = test_still(50, 20);
        let c = synthetic_clip(&still, 40, 3, 3, 0, 0.0);
        let m = Motion { dx: 3, dy: 0 };
        assert_eq!(moved_difference(&c.frames[0], &c.frames[1], m), 0.0);
        assert!(moved_difference(&c.frames[0], &c.frames[1], Motion::default()) > 1.0);
    }
}
