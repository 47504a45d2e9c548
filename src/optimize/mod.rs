//! Optimization-based style transfer (Gatys et al. 2016): the picture itself is optimized
//! against the same VGG19 objective that `train` teaches a network, so any painting can be
//! tried on a photo without training. Slow per picture, but it is the quality a trained
//! style aims at, and the reference `eval` compares trained styles with.

pub mod lbfgs;

use std::cell::{Cell, RefCell};

use burn::tensor::{ElementConversion, Tensor, TensorData};
use image::RgbImage;
use rand::{Rng, SeedableRng};

use crate::error::Error;
use crate::interrupt;
use crate::kernels::TrainKernels;
use crate::model::vgg::Vgg19;
use crate::picture::{self, Planar};
use crate::train::objective::{LossSpec, Objective};
use lbfgs::{Adam, Evaluation, Lbfgs};

/// The defaults of `faststyle optimize` (see the README's section for how they were chosen).
pub const DEFAULT_STEPS: &str = "150,50";
pub const CONTENT_WEIGHT: f64 = 1.0;
pub const STYLE_WEIGHT: f64 = 20.0;
pub const TV_WEIGHT: f64 = 1.0;
pub const ADAM_LR: f64 = 5.0;
/// Curvature pairs L-BFGS keeps: 20 pairs of a 512x384 picture are 94 MB.
pub const HISTORY: usize = 20;

/// Where the optimization starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Init {
    /// The photo itself: its content loss starts at 0 and the style grows over it.
    Photo,
    /// Uniform noise, as Gatys et al.: slower, and every run paints differently.
    Noise,
}

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Limited-memory BFGS, as the paper and jcjohnson/neural-style.
    Lbfgs,
    /// Adam with --lr.
    Adam,
}

/// Everything that defines a run besides the pictures.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Iterations (L-BFGS steps or Adam updates) at each scale, coarsest first: the last
    /// at the photo's size, each one before it at half the size of the next.
    pub steps: Vec<u64>,
    pub init: Init,
    pub method: Method,
    /// Adam's learning rate, in 0..255 pixel units.
    pub lr: f64,
    /// L-BFGS's memory: curvature pairs kept (each two pictures' worth of floats).
    pub history: usize,
    pub seed: u64,
    pub spec: LossSpec,
}

/// The smallest side a scale may have: VGG19's block5 sees it at 1/16.
pub const MIN_SIDE: usize = 32;

/// The scales a run optimizes at, coarsest first: (width, height, steps). Scales whose
/// short side would be under [`MIN_SIDE`] are left out, their steps given to the next.
pub fn scales(width: usize, height: usize, steps: &[u64]) -> Vec<(usize, usize, u64)> {
    let n = steps.len();
    let mut out: Vec<(usize, usize, u64)> = Vec::new();
    let mut carried = 0;
    for (i, &s) in steps.iter().enumerate() {
        let div = 1usize << (n - 1 - i);
        let (w, h) = (
            (width as f64 / div as f64).round() as usize,
            (height as f64 / div as f64).round() as usize,
        );
        if w.min(h) < MIN_SIDE && i + 1 < n {
            carried += s;
            continue;
        }
        out.push((w, h, s + carried));
        carried = 0;
    }
    out
}

/// The weighted loss terms at one point: content, style, TV, and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Losses {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
}

/// What the caller sees after each iteration.
pub struct Step<'a> {
    /// Iterations done, from 1, over all scales.
    pub step: u64,
    pub losses: Losses,
    /// Loss and gradient evaluations so far (each one VGG19 pass, forward and backward).
    pub evaluations: usize,
    /// The current picture, at the current scale's size.
    pub picture: &'a Planar,
}

/// How one scale went.
#[derive(Debug, Clone)]
pub struct ScaleReport {
    pub width: usize,
    pub height: usize,
    pub steps: u64,
    pub evaluations: usize,
    pub first: Losses,
    pub last: Losses,
}

/// The optimized picture and how it got there.
pub struct Outcome {
    pub picture: Planar,
    pub scales: Vec<ScaleReport>,
}

impl Outcome {
    pub fn steps(&self) -> u64 {
        self.scales.iter().map(|s| s.steps).sum()
    }

    pub fn evaluations(&self) -> usize {
        self.scales.iter().map(|s| s.evaluations).sum()
    }
}

/// Optimizes a picture of `photo`'s size whose VGG19 content is `photo`'s and whose style
/// is `painting`'s (scaled down to at most `style_size` at the photo's size, and in
/// proportion at the coarser scales, so that strokes keep their size relative to the
/// picture). Coarse scales lay out the large strokes cheaply; the finest adds the detail.
/// `observe` is called after every iteration (progress, previews); an error from it stops
/// the run. Ctrl-C stops it with `Error::Interrupted`.
pub fn optimize<B: TrainKernels>(
    vgg: &Vgg19<B>,
    photo: &RgbImage,
    painting: &RgbImage,
    style_size: u32,
    settings: &Settings,
    device: &B::Device,
    mut observe: impl FnMut(Step<'_>) -> Result<(), Error>,
) -> Result<Outcome, Error> {
    let (width, height) = (photo.width() as usize, photo.height() as usize);
    let plan = scales(width, height, &settings.steps);
    let mut reports = Vec::new();
    let mut picture: Option<Planar> = None;
    let mut done = 0;
    let mut evaluations = 0;
    for &(w, h, steps) in &plan {
        let ratio = w.max(h) as f64 / width.max(height) as f64;
        let scaled_style = ((style_size as f64 * ratio).round() as u32).max(16);
        let objective = Objective::new(
            vgg.clone(),
            settings.spec.clone(),
            painting.clone(),
            scaled_style,
        );
        let target = if (w, h) == (width, height) {
            photo.clone()
        } else {
            image::imageops::resize(
                photo,
                w as u32,
                h as u32,
                image::imageops::FilterType::Lanczos3,
            )
        };
        let target = Planar::from_rgb(&target);
        let start = match picture.take() {
            Some(coarser) => picture::resize(&coarser, w, h).data,
            None => match settings.init {
                Init::Photo => target.data.clone(),
                Init::Noise => {
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(settings.seed);
                    (0..target.data.len())
                        .map(|_| rng.random_range(0.0..255.0))
                        .collect()
                }
            },
        };
        let (result, report) = optimize_scale(
            &objective,
            &target,
            start,
            steps,
            settings,
            device,
            &mut |at: Step<'_>| {
                observe(Step {
                    step: done + at.step,
                    evaluations: evaluations + at.evaluations,
                    ..at
                })
            },
        )?;
        done += report.steps;
        evaluations += report.evaluations;
        reports.push(report);
        picture = Some(result);
    }
    Ok(Outcome {
        picture: picture.expect("at least one scale"),
        scales: reports,
    })
}

/// One scale: `steps` iterations from `start` against `photo`'s content.
fn optimize_scale<B: TrainKernels>(
    objective: &Objective<B>,
    photo: &Planar,
    start: Vec<f32>,
    steps: u64,
    settings: &Settings,
    device: &B::Device,
    // Steps and evaluations counted within this scale.
    observe: &mut dyn FnMut(Step<'_>) -> Result<(), Error>,
) -> Result<(Planar, ScaleReport), Error> {
    let (w, h) = (photo.width, photo.height);
    let target =
        objective.content_target(picture::to_tensor::<B>(std::slice::from_ref(photo), device));
    let weights = &settings.spec;
    let evaluations = Cell::new(0usize);
    // The terms of every evaluation since the last iteration. An iteration that moves ends
    // on the point it accepts (L-BFGS returns at the first acceptable step; Adam evaluates
    // once), so that point's terms are the last ones here.
    let seen: RefCell<Vec<Losses>> = RefCell::new(Vec::new());
    let mut evaluate = |x: &[f32]| -> Evaluation {
        evaluations.set(evaluations.get() + 1);
        let x = Tensor::<B, 4>::from_data(TensorData::new(x.to_vec(), [1, 3, h, w]), device)
            .require_grad();
        let terms = objective.terms_against(target.clone(), x.clone());
        let parts = [
            terms.content * weights.content_weight,
            terms.style * weights.style_weight,
            terms.tv * weights.tv_weight,
        ];
        let values = parts.clone().map(|t| t.into_scalar().elem::<f64>());
        let total = parts.into_iter().reduce(|a, b| a + b).expect("three terms");
        let grads = total.backward();
        let gradient: Vec<f32> = x
            .grad(&grads)
            .expect("the picture is a leaf of the loss")
            .into_data()
            .convert::<f32>()
            .into_vec()
            .expect("float data");
        let losses = Losses {
            content: values[0],
            style: values[1],
            tv: values[2],
            total: values.iter().sum(),
        };
        seen.borrow_mut().push(losses);
        Evaluation {
            loss: losses.total,
            gradient,
        }
    };

    enum Optimizer {
        Lbfgs(Lbfgs),
        Adam(Adam),
    }
    let mut opt = match settings.method {
        Method::Lbfgs => Optimizer::Lbfgs(Lbfgs::new(start, settings.history, &mut evaluate)),
        Method::Adam => Optimizer::Adam(Adam::new(start, settings.lr)),
    };
    let mut first = None;
    let mut last = Losses::default();
    let mut done = 0;
    let mut current = Planar {
        width: w,
        height: h,
        data: Vec::new(),
    };
    while done < steps {
        if interrupt::interrupted() {
            return Err(Error::Interrupted);
        }
        let report = match &mut opt {
            Optimizer::Lbfgs(o) => o.step(&mut evaluate),
            Optimizer::Adam(o) => o.step(&mut evaluate),
        };
        if !report.loss.is_finite() {
            return Err(Error::Internal(format!(
                "the loss became {} at step {} at {w}x{h}; lower the loss weights{}",
                report.loss,
                done + 1,
                if settings.method == Method::Adam {
                    " or --lr"
                } else {
                    ""
                }
            )));
        }
        done += 1;
        {
            let mut seen = seen.borrow_mut();
            first.get_or_insert(seen[0]);
            if report.moved {
                last = *seen.last().expect("an iteration evaluates");
            }
            seen.clear();
        }
        current.data = match &opt {
            Optimizer::Lbfgs(o) => o.x().to_vec(),
            Optimizer::Adam(o) => o.x().to_vec(),
        };
        observe(Step {
            step: done,
            losses: last,
            evaluations: evaluations.get(),
            picture: &current,
        })?;
        if !report.moved {
            // No step lowers the loss any more: more iterations would change nothing.
            break;
        }
    }
    if current.data.is_empty() {
        current.data = match &opt {
            Optimizer::Lbfgs(o) => o.x().to_vec(),
            Optimizer::Adam(o) => o.x().to_vec(),
        };
    }
    let report = ScaleReport {
        width: w,
        height: h,
        steps: done,
        evaluations: evaluations.get(),
        first: first.unwrap_or(last),
        last,
    };
    Ok((current, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_halve_towards_the_coarsest_and_drop_the_too_small() {
        assert_eq!(scales(451, 300, &[100]), [(451, 300, 100)]);
        assert_eq!(
            scales(451, 300, &[150, 50]),
            [(226, 150, 150), (451, 300, 50)]
        );
        // 64x40 halved is 32x20: too small, so its steps go to the photo's size.
        assert_eq!(scales(64, 40, &[150, 50]), [(64, 40, 200)]);
        assert_eq!(
            scales(512, 256, &[10, 20, 30]),
            [(128, 64, 10), (256, 128, 20), (512, 256, 30)]
        );
    }
}
