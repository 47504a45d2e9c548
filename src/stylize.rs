//! Running a style on images: the network plus the post-processing a user asked for
//! (colour preservation, strength). Shared by the image and video commands.

use crate::kernels::Kernels;

use crate::model::Transformer;
use crate::picture::{self, Planar};

/// What to do with the network's output.
#[derive(Debug, Clone, Copy)]
pub struct StyleOptions {
    pub preserve_color: bool,
    /// 0 = the input, 1 = the full style.
    pub strength: f32,
    /// The network paints strokes of a fixed size in its own pixels; at F > 1 it runs on
    /// the picture scaled down by F and its result is scaled back up, so the strokes come
    /// out F times larger (and the network's work is F² times smaller).
    pub stroke_scale: f32,
}

impl Default for StyleOptions {
    fn default() -> Self {
        Self {
            preserve_color: false,
            strength: 1.0,
            stroke_scale: 1.0,
        }
    }
}

pub struct Stylizer<B: Kernels> {
    model: Transformer<B>,
    device: B::Device,
    options: StyleOptions,
    /// Run images one at a time even when given a batch. On the CPU backend a batch of
    /// four costs 1.7-1.9x four single images (im2col over the whole batch; measured with
    /// `cargo run --release --example backend_compare`), while instance norm makes the
    /// results identical either way.
    one_at_a_time: bool,
}

impl<B: Kernels> Stylizer<B> {
    pub fn new(
        model: Transformer<B>,
        device: B::Device,
        options: StyleOptions,
        one_at_a_time: bool,
    ) -> Self {
        Self {
            model,
            device,
            options,
            one_at_a_time,
        }
    }

    /// Stylizes a batch of same-sized images.
    pub fn run(&self, images: &[Planar]) -> Vec<Planar> {
        if images.is_empty() {
            return Vec::new();
        }
        if self.options.strength == 0.0 {
            return images.to_vec();
        }
        let raw: Vec<Planar> = if self.one_at_a_time {
            images
                .iter()
                .flat_map(|img| self.forward(std::slice::from_ref(img)))
                .collect()
        } else {
            self.forward(images)
        };
        raw.into_iter()
            .zip(images)
            .map(|(mut out, original)| {
                if self.options.preserve_color {
                    out = picture::preserve_color(&out, original);
                }
                if self.options.strength < 1.0 {
                    out = picture::blend(&out, original, self.options.strength);
                }
                out
            })
            .collect()
    }

    fn forward(&self, images: &[Planar]) -> Vec<Planar> {
        let scale = self.options.stroke_scale;
        if scale <= 1.0 {
            let input = picture::to_tensor::<B>(images, &self.device);
            return picture::from_tensor(self.model.forward(input));
        }
        let (w, h) = (images[0].width, images[0].height);
        let (sw, sh) = (scaled_side(w, scale), scaled_side(h, scale));
        let small: Vec<Planar> = images
            .iter()
            .map(|img| picture::shrink(img, sw, sh))
            .collect();
        let input = picture::to_tensor::<B>(&small, &self.device);
        picture::from_tensor(self.model.forward(input))
            .iter()
            .map(|out| picture::upscale(out, w, h))
            .collect()
    }
}

/// A side scaled down by `scale`, but not below 16 pixels (or the side itself, if smaller),
/// where the network's 9x9 kernels would see little but padding.
fn scaled_side(side: usize, scale: f32) -> usize {
    ((side as f32 / scale).round() as usize).max(side.min(16))
}
