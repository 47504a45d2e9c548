//! Architecture settings of a transformer; they travel inside every style model file.

use serde::{Deserialize, Serialize};

/// Channel counts of the three resolution levels at width 1.0 (Johnson et al.).
const BASE_CHANNELS: [usize; 3] = [32, 64, 128];

/// The output is `127.5 + output_scale · tanh(u)`. At 127.5 (the first styles' head) the
/// ends of 0..255 lie at u = ±∞, so a painting's pure colours pull u into tanh's flat tails,
/// where the gradient vanishes and nothing can pull it back: the saturated blobs of those
/// styles are exactly such dead pixels. At 150 (lengstrom's head) 0 and 255 are reached at
/// |u| = 1.26 with the gradient alive; the overshoot (to -22.5..277.5) is seen by the loss
/// in training and clamped away when stylizing.
pub const OUTPUT_SCALE: f32 = 150.0;
/// The head of style files that record none.
pub const LEGACY_OUTPUT_SCALE: f32 = 127.5;
/// The heads a style may have: below 127.5 the output cannot reach 0 and 255.
pub const OUTPUT_SCALE_RANGE: std::ops::RangeInclusive<f32> = LEGACY_OUTPUT_SCALE..=1000.0;

fn legacy_output_scale() -> f32 {
    LEGACY_OUTPUT_SCALE
}

/// The instance norms' variance epsilon of new networks (see
/// [`TransformerConfig::norm_eps`]). Against 1e-5, from scratch on The Scream at style
/// weight 5 with the peak penalty and style tiles on (one run each, same seed): saturated
/// yellow blobs by step 25 that stayed at 50, against none through step 503 and lower
/// content and style losses at every step logged. Without those two terms 0.1 alone still
/// grew dark-red blobs by step 50: the three work together.
/// The pre-norm variance of a freshly initialized layer is about 0.17, so 0.1 leaves the
/// signal through the layers alive at the start.
pub const NORM_EPS: f64 = 0.1;
/// The epsilon of style files that record none (PyTorch's).
pub const LEGACY_NORM_EPS: f64 = crate::kernels::norm::EPS;
/// The epsilons a style may have: a larger one leaves only channels with a variance well
/// above it normalized.
pub const NORM_EPS_RANGE: std::ops::RangeInclusive<f64> = 1e-8..=100.0;

fn legacy_norm_eps() -> f64 {
    LEGACY_NORM_EPS
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// Channel multiplier: 1.0 = 32/64/128 channels, 0.5 = 16/32/64 (about 4x cheaper).
    pub width: f32,
    /// Number of residual blocks at quarter resolution.
    pub residual_blocks: usize,
    /// Half-range of the tanh output head (see [`OUTPUT_SCALE`]).
    #[serde(default = "legacy_output_scale")]
    pub output_scale: f32,
    /// Instance norm on the output layer too (lengstrom's network): each picture's colour
    /// means and spreads before the tanh are then learned constants, so no pixel can move
    /// them. Files without the field have none.
    #[serde(default)]
    pub output_norm: bool,
    /// Added to each plane's variance in every instance norm. Tiny (1e-5), it scales every
    /// channel of every picture to unit spread, so the network cannot turn a channel down
    /// for one picture except by letting a few huge pixels carry its variance (the
    /// "droplet" that shows as a blob); large, a channel whose spread is below it stays
    /// small, which gives the network an honest way to do the same.
    #[serde(default = "legacy_norm_eps")]
    pub norm_eps: f64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        Self::new(1.0, 5)
    }
}

impl TransformerConfig {
    pub fn new(width: f32, residual_blocks: usize) -> Self {
        Self {
            width,
            residual_blocks,
            output_scale: OUTPUT_SCALE,
            output_norm: false,
            norm_eps: NORM_EPS,
        }
    }

    pub fn with_norm_eps(mut self, norm_eps: f64) -> Self {
        self.norm_eps = norm_eps;
        self
    }

    pub fn with_output_norm(mut self, output_norm: bool) -> Self {
        self.output_norm = output_norm;
        self
    }

    pub fn with_output_scale(mut self, output_scale: f32) -> Self {
        self.output_scale = output_scale;
        self
    }

    /// Rejects settings that cannot make a network, so a bad file or flag fails early.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.width.is_finite() && self.width > 0.0 && self.width <= 8.0) {
            return Err(format!("width {} is outside (0, 8]", self.width));
        }
        if !OUTPUT_SCALE_RANGE.contains(&self.output_scale) {
            return Err(format!(
                "output scale {} is outside {}..{}",
                self.output_scale,
                OUTPUT_SCALE_RANGE.start(),
                OUTPUT_SCALE_RANGE.end()
            ));
        }
        if !NORM_EPS_RANGE.contains(&self.norm_eps) {
            return Err(format!(
                "instance-norm epsilon {} is outside {:e}..{}",
                self.norm_eps,
                NORM_EPS_RANGE.start(),
                NORM_EPS_RANGE.end()
            ));
        }
        if self.residual_blocks > 64 {
            return Err(format!(
                "{} residual blocks is more than the 64 supported",
                self.residual_blocks
            ));
        }
        Ok(())
    }

    /// Channels at full, half and quarter resolution.
    pub fn channels(&self) -> [usize; 3] {
        BASE_CHANNELS.map(|c| ((c as f32 * self.width).round() as usize).max(1))
    }

    /// Number of learned parameters (weights, biases, instance-norm scales and shifts).
    pub fn parameter_count(&self) -> usize {
        let [c1, c2, c3] = self.channels();
        let conv = |i: usize, o: usize, k: usize| i * o * k * k + o;
        let conv_norm = |i, o, k| conv(i, o, k) + 2 * o;
        conv_norm(3, c1, 9)
            + conv_norm(c1, c2, 3)
            + conv_norm(c2, c3, 3)
            + self.residual_blocks * 2 * conv_norm(c3, c3, 3)
            + conv_norm(c3, c2, 3)
            + conv_norm(c2, c1, 3)
            + if self.output_norm {
                conv_norm(c1, 3, 9)
            } else {
                conv(c1, 3, 9)
            }
    }

    /// Multiply-adds per output pixel, for FLOP figures in benchmarks.
    pub fn macs_per_pixel(&self) -> f64 {
        let [c1, c2, c3] = self.channels().map(|c| c as f64);
        let full = 3.0 * c1 * 81.0 + c1 * 3.0 * 81.0 + c2 * c1 * 9.0;
        let half = (c1 * c2 * 9.0 + c3 * c2 * 9.0) / 4.0;
        let quarter = (c2 * c3 * 9.0 + self.residual_blocks as f64 * 2.0 * c3 * c3 * 9.0) / 16.0;
        full + half + quarter
    }

    /// A short human-readable description, e.g. "width 1.0, 5 residual blocks, 1.68 M params".
    pub fn describe(&self) -> String {
        format!(
            "width {:?}, {} residual blocks, {:.2} M params",
            self.width,
            self.residual_blocks,
            self.parameter_count() as f64 / 1e6
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_network_matches_the_design_figures() {
        let c = TransformerConfig::default();
        assert_eq!(c.channels(), [32, 64, 128]);
        assert_eq!(c.parameter_count(), 1_679_235);
        // DESIGN.md: about 153.8 k multiply-adds per output pixel.
        assert!(
            (c.macs_per_pixel() - 153_792.0).abs() < 1.0,
            "{}",
            c.macs_per_pixel()
        );
    }

    #[test]
    fn half_width_halves_channels() {
        assert_eq!(TransformerConfig::new(0.5, 5).channels(), [16, 32, 64]);
    }

    #[test]
    fn invalid_settings_are_rejected() {
        assert!(TransformerConfig::new(0.0, 5).validate().is_err());
        assert!(TransformerConfig::new(f32::NAN, 5).validate().is_err());
        assert!(TransformerConfig::new(1.0, 1000).validate().is_err());
        assert!(TransformerConfig::new(0.5, 0).validate().is_ok());
        let narrow = TransformerConfig::new(1.0, 5).with_output_scale(100.0);
        assert!(narrow.validate().is_err());
        for eps in [0.0, -1.0, 1e3, f64::NAN] {
            let c = TransformerConfig::new(1.0, 5).with_norm_eps(eps);
            assert!(c.validate().is_err(), "{eps}");
        }
        assert!(
            TransformerConfig::new(1.0, 5)
                .with_norm_eps(1.0)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn files_without_an_output_scale_get_the_legacy_head() {
        let old: TransformerConfig =
            serde_json::from_str(r#"{"width":1.0,"residual_blocks":5}"#).unwrap();
        assert_eq!(old.output_scale, LEGACY_OUTPUT_SCALE);
        assert_eq!(old.norm_eps, LEGACY_NORM_EPS);
        assert_eq!(TransformerConfig::default().output_scale, OUTPUT_SCALE);
    }
}
