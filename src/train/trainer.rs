//! The training loop.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::kernels::TrainKernels;
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::{ElementConversion, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, CheckpointState, Losses};
use super::dataset::{self, BatchLoader};
use super::objective::{LossSpec, Objective};
use super::preview;
use crate::error::Error;
use crate::interrupt;
use crate::loss;
use crate::model::vgg::Vgg19;
use crate::model::{StyleFile, StyleMeta, Transformer, TransformerConfig, WeightStorage};
use crate::picture::{self, Planar};
use crate::progress::Progress;

/// Everything that defines a run; saved in checkpoints and in the style file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainSettings {
    pub style_image: PathBuf,
    pub dataset: PathBuf,
    pub steps: u64,
    pub batch: usize,
    pub image_size: u32,
    /// How much of a photo a crop covers ([`dataset::random_crop`]); older checkpoints
    /// used 1.
    #[serde(default = "one_f32")]
    pub crop_scale: f32,
    pub style_size: u32,
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
    pub lr: f64,
    pub width: f32,
    /// The output head ([`TransformerConfig::output_scale`]); checkpoints without it were
    /// made with the legacy head.
    #[serde(default = "legacy_output_scale")]
    pub output_scale: f32,
    /// Instance norm on the output layer ([`TransformerConfig::output_norm`]).
    #[serde(default)]
    pub output_norm: bool,
    /// The instance norms' epsilon ([`TransformerConfig::norm_eps`]); checkpoints without
    /// it used the legacy one.
    #[serde(default = "legacy_norm_eps")]
    pub norm_eps: f64,
    pub residual_blocks: usize,
    pub content_layer: String,
    pub style_layers: Vec<String>,
    /// The style loss's tiles per side; checkpoints without it used the whole crop.
    #[serde(default = "one")]
    pub style_tiles: usize,
    /// Weight of the peak penalty (0: off); older checkpoints have none.
    #[serde(default)]
    pub peak_weight: f64,
    /// Weight of the stability loss (0: off); older checkpoints have none.
    #[serde(default)]
    pub stability_weight: f64,
    /// The trained style the network started from, if not from random weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitStyle>,
    /// The trained style the network learns to reproduce (`--teacher`), instead of a
    /// painting through VGG19; `style_image` is then the teacher's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<InitStyle>,
    /// With a teacher: weight of the texture term (Gram MSE against the teacher's picture
    /// at [`TEXTURE_LAYERS`]; 0: pixel MSE only).
    #[serde(default)]
    pub texture_weight: f64,
    pub checkpoint_every: u64,
    pub preview_every: u64,
    pub seed: u64,
    pub painting_title: String,
    pub painting_author: String,
}

fn one() -> usize {
    1
}

fn one_f32() -> f32 {
    1.0
}

fn legacy_output_scale() -> f32 {
    crate::model::config::LEGACY_OUTPUT_SCALE
}

fn legacy_norm_eps() -> f64 {
    crate::model::config::LEGACY_NORM_EPS
}

/// Which trained network a run started from (`--init`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InitStyle {
    /// The style's name, as its metadata gives it.
    pub name: String,
    /// The optimizer steps it had been trained for.
    pub steps: u64,
}

impl TrainSettings {
    pub fn loss_spec(&self) -> LossSpec {
        LossSpec {
            content_layer: self.content_layer.clone(),
            style_layers: self.style_layers.clone(),
            content_weight: self.content_weight,
            style_weight: self.style_weight,
            tv_weight: self.tv_weight,
            style_tiles: self.style_tiles,
        }
    }

    /// The settings that must match for a checkpoint to be resumed.
    fn same_run(&self, other: &Self) -> bool {
        let mut a = self.clone();
        let mut b = other.clone();
        // These may change between sessions without changing the run.
        for s in [&mut a, &mut b] {
            s.steps = 0;
            s.checkpoint_every = 0;
            s.preview_every = 0;
            s.dataset = PathBuf::new();
            s.style_image = PathBuf::new();
        }
        a == b
    }
}

/// Where a run writes: the style file and a work folder beside it.
pub struct RunPaths {
    pub style_file: PathBuf,
    pub work: PathBuf,
    pub vgg: PathBuf,
}

#[derive(Debug, Clone)]
pub struct TrainReport {
    pub steps_done: u64,
    pub first: Losses,
    pub last: Losses,
    pub seconds: f64,
    pub skipped_photos: usize,
}

/// The trained styles a run reads: the network's starting point (`--init`) and the style
/// it learns from (`--teacher`), each with its file.
#[derive(Clone, Copy, Default)]
pub struct Sources<'a> {
    pub init: Option<(&'a StyleFile, &'a Path)>,
    pub teacher: Option<(&'a StyleFile, &'a Path)>,
}

/// The VGG19 layers of distillation's texture term: the scales of brush strokes, at a
/// third of the cost of the painting objective's layers.
pub const TEXTURE_LAYERS: [&str; 3] = ["block1_conv1", "block2_conv1", "block3_conv1"];

/// The texture term's tiles per side ([`loss::texture_loss`]): with the whole picture's
/// Gram (1) great-wave-lite painted pink patches over flat areas by step 125.
pub const TEXTURE_TILES: usize = 4;

/// `--texture-weight`'s default.
pub const DEFAULT_TEXTURE_WEIGHT: f64 = 1.0;

/// What a run's network is trained towards.
enum Target<B: TrainKernels> {
    /// A painting, through the VGG19 perceptual objective.
    Painting(Objective<B>),
    /// A trained style's pictures (no gradient flows into it).
    Teacher(Box<Teacher<B>>),
}

/// A trained network to reproduce, and the texture term's loss network and weight.
pub struct Teacher<B: TrainKernels> {
    pub net: Transformer<B::InnerBackend>,
    pub texture: Option<(Vgg19<B>, f64)>,
}

/// Runs (or resumes) training on an autodiff backend and writes the style file. The
/// networks compute in `compute` (f16 or bf16: mixed precision, see
/// [`crate::kernels::conv2d_padded`]); the weights, the optimizer and the losses stay f32.
pub fn train<B: TrainKernels>(
    settings: &TrainSettings,
    paths: &RunPaths,
    resume: bool,
    sources: Sources,
    (device, compute): (&B::Device, FloatDType),
) -> Result<TrainReport, Error> {
    let init = sources.init;
    let config = TransformerConfig::new(settings.width, settings.residual_blocks)
        .with_output_scale(settings.output_scale)
        .with_output_norm(settings.output_norm)
        .with_norm_eps(settings.norm_eps);
    config.validate().map_err(Error::Usage)?;
    if !settings.image_size.is_multiple_of(4) || settings.image_size < 16 {
        return Err(Error::Usage(format!(
            "--image-size {} must be a multiple of 4, at least 16",
            settings.image_size
        )));
    }
    let files = dataset::scan(&settings.dataset)?;
    let target = match sources.teacher {
        Some((style, path)) => {
            let texture = if settings.texture_weight > 0.0 {
                let vgg_net =
                    Vgg19::<B>::load(&paths.vgg, TEXTURE_LAYERS[2], device).map_err(|e| {
                        Error::Input {
                            path: paths.vgg.clone(),
                            detail: e.to_string(),
                        }
                    })?;
                Some((vgg_net, settings.texture_weight))
            } else {
                None
            };
            Target::Teacher(Box::new(Teacher {
                net: style.to_model::<B::InnerBackend>(device, path)?,
                texture,
            }))
        }
        None => {
            let spec = settings.loss_spec();
            let deepest = spec.deepest_layer().map_err(Error::Usage)?.to_string();
            let painting = picture::load_rgb(&settings.style_image)?;
            let vgg_net =
                Vgg19::<B>::load(&paths.vgg, &deepest, device).map_err(|e| Error::Input {
                    path: paths.vgg.clone(),
                    detail: e.to_string(),
                })?;
            Target::Painting(Objective::new(vgg_net, spec, painting, settings.style_size))
        }
    };
    std::fs::create_dir_all(&paths.work).map_err(|e| Error::Output {
        path: paths.work.clone(),
        detail: crate::fsutil::describe_io(&e),
    })?;

    // Validation photos for previews: the first few of the dataset, centre-cropped.
    let previews: Vec<Planar> = files
        .iter()
        .filter_map(|f| image::open(f).ok())
        .take(4)
        .map(|img| Planar::from_rgb(&dataset::center_crop(&img.to_rgb8(), settings.image_size)))
        .collect();

    // Fresh or resumed network and optimizer.
    B::seed(device, settings.seed);
    let mut model = match init {
        // On resume the checkpoint's weights replace these anyway.
        Some((style, path)) if !resume => {
            if (style.config.width, style.config.residual_blocks)
                != (config.width, config.residual_blocks)
            {
                return Err(Error::Usage(format!(
                    "{} is a network of width {} with {} residual blocks; this run's is width {} with {}",
                    path.display(),
                    style.config.width,
                    style.config.residual_blocks,
                    config.width,
                    config.residual_blocks
                )));
            }
            if style.config.output_norm != config.output_norm {
                return Err(Error::Usage(format!(
                    "{} {}; a run from it cannot {}",
                    path.display(),
                    if style.config.output_norm {
                        "has an output norm"
                    } else {
                        "has no output norm"
                    },
                    if config.output_norm {
                        "add one"
                    } else {
                        "drop it"
                    }
                )));
            }
            // The run's head may differ from the style's (a legacy style moved to the
            // current head is then fine-tuned with it).
            let mut model = style.to_model::<B>(device, path)?;
            model.output_scale = config.output_scale;
            model
        }
        _ => Transformer::<B>::new(&config, device),
    };
    let mut optim = AdamConfig::new().init::<B, Transformer<B>>();
    let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
    let ckpt_dir = checkpoint::dir(&paths.work);
    let mut start_step = 0;
    // The losses of the last step run; on resume, those the checkpoint recorded.
    let mut last = Losses::default();
    let mut seconds_before = 0.0;
    let mut first = None;
    if resume {
        let state = checkpoint::read_state(&paths.work).ok_or_else(|| Error::Input {
            path: ckpt_dir.clone(),
            detail: "has no checkpoint to resume from (start without --resume)".to_string(),
        })?;
        if !state.settings.same_run(settings) {
            return Err(Error::Usage(format!(
                "the checkpoint in {} was made with other settings; resume with the same ones, or start afresh elsewhere",
                ckpt_dir.display()
            )));
        }
        let ckpt_err = |what: &str, e: burn::record::RecorderError| Error::Input {
            path: ckpt_dir.join(what),
            detail: format!("cannot load the checkpoint: {e}"),
        };
        model = model
            .load_file(ckpt_dir.join(checkpoint::MODEL_FILE), &recorder, device)
            .map_err(|e| ckpt_err(checkpoint::MODEL_FILE, e))?;
        let record = recorder
            .load(ckpt_dir.join(checkpoint::OPTIMIZER_FILE), device)
            .map_err(|e| ckpt_err(checkpoint::OPTIMIZER_FILE, e))?;
        optim = optim.load_record(record);
        start_step = state.step;
        last = state.losses;
        seconds_before = truncate_log(&paths.work.join("losses.csv"), start_step);
        eprintln!("resuming at step {start_step} of {}", settings.steps);
    } else if ckpt_dir.join(checkpoint::STATE_FILE).exists() {
        return Err(Error::Usage(format!(
            "{} holds a checkpoint of an earlier run; pass --resume to continue it, or remove the folder to start afresh",
            paths.work.display()
        )));
    }

    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2);
    let mut loader = BatchLoader::start(
        files,
        settings.seed,
        settings.batch,
        (settings.image_size, settings.crop_scale),
        start_step,
        workers,
    );
    let started = Instant::now();
    let mut progress = Progress::new(Some(settings.steps), "steps").quiet();
    let mut last_report = Instant::now();
    let mut step = start_step;
    let save_checkpoint =
        |model: &Transformer<B>,
         optim: &burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, Transformer<B>, B>,
         step: u64,
         losses: Losses|
         -> Result<(), Error> {
            write_checkpoint(&ckpt_dir, &recorder, model, optim, step, settings, losses)
        };

    while step < settings.steps {
        if interrupt::interrupted() {
            progress.finish();
            save_checkpoint(&model, &optim, step, last)?;
            eprintln!("checkpoint written at step {step}; continue with --resume");
            return Err(Error::Interrupted);
        }
        let batch = loader.next_batch()?;
        let x = picture::to_tensor::<B>(&batch, device).cast(compute);
        let stability = (settings.stability_weight > 0.0).then(|| {
            Stability::for_step(
                settings.stability_weight,
                settings.seed,
                step,
                x.dims(),
                device,
            )
        });
        let terms;
        let lr = settings.lr * warmup_factor(settings.init.is_some(), step);
        (model, terms) = match &target {
            Target::Painting(objective) => train_step(
                model,
                &mut optim,
                objective,
                x,
                lr,
                stability,
                settings.peak_weight,
            ),
            Target::Teacher(teacher) => {
                distill_step(model, &mut optim, teacher, x, lr, settings.peak_weight)
            }
        };
        if !terms[3].is_finite() {
            return Err(Error::Internal(format!(
                "the loss became {} at step {step}; lower --lr or the loss weights{}",
                terms[3],
                if compute == FloatDType::F16 {
                    ", or train with --precision bf16 (f16 has no loss scaling)"
                } else {
                    ""
                }
            )));
        }
        step += 1;
        last = Losses {
            content: terms[0],
            style: terms[1],
            tv: terms[2],
            total: terms[3],
            stability: terms.get(4).copied().unwrap_or(0.0),
            peaks: terms.get(5).copied().unwrap_or(0.0),
        };
        first.get_or_insert(last);
        let elapsed = started.elapsed().as_secs_f64();
        let logged_seconds = seconds_before + elapsed;
        preview::log_losses(&paths.work.join("losses.csv"), step, logged_seconds, &terms).map_err(
            |e| Error::Output {
                path: paths.work.join("losses.csv"),
                detail: crate::fsutil::describe_io(&e),
            },
        )?;
        progress.update(step);
        let stability_note = [(4, "stability"), (5, "peaks")]
            .iter()
            .filter_map(|&(i, name)| terms.get(i).map(|v| format!("  {name} {v:.3e}")))
            .collect::<String>();
        let (terms_note, peaks_note) = match target {
            Target::Painting(_) => (
                format!(
                    "content {:.4e}  style {:.4e}  tv {:.4e}",
                    terms[0], terms[1], terms[2]
                ),
                stability_note,
            ),
            Target::Teacher(_) => (
                format!("teacher MSE {:.4e}  texture {:.4e}", terms[0], terms[1]),
                terms
                    .get(5)
                    .map(|v| format!("  peaks {v:.3e}"))
                    .unwrap_or_default(),
            ),
        };
        progress.set_message(format!("{terms_note}{peaks_note}"));
        let due = last_report.elapsed().as_secs() >= 10
            || step == settings.steps
            || step == start_step + 1;
        if due && !progress.is_bar() {
            last_report = Instant::now();
            let rate = (step - start_step) as f64 / elapsed.max(1e-9);
            eprintln!(
                "step {step}/{}: {terms_note}{peaks_note}  total {:.4e}  ({:.3} steps/s)",
                settings.steps, terms[3], rate
            );
        }
        if settings.checkpoint_every > 0 && step % settings.checkpoint_every == 0 {
            save_checkpoint(&model, &optim, step, last)?;
        }
        if step == settings.steps
            || (settings.preview_every > 0 && step % settings.preview_every == 0)
        {
            write_preview(&model, &previews, &paths.work, step, device)?;
        }
    }
    progress.finish();
    save_checkpoint(&model, &optim, step, last)?;
    let plot = paths.work.join("losses.png");
    if let Err(e) =
        preview::plot_losses(&preview::read_losses(&paths.work.join("losses.csv")), &plot)
    {
        eprintln!("warning: could not draw {}: {e}", plot.display());
    }

    let mut training = std::collections::BTreeMap::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(settings) {
        training.extend(map);
    }
    training.remove("dataset");
    let mut final_losses: std::collections::BTreeMap<String, f64> = match target {
        Target::Painting(_) => [
            ("content".to_string(), last.content),
            ("style".to_string(), last.style),
            ("tv".to_string(), last.tv),
            ("total".to_string(), last.total),
        ]
        .into(),
        Target::Teacher(_) => [
            ("teacher_mse".to_string(), last.content),
            ("texture".to_string(), last.style),
            ("total".to_string(), last.total),
        ]
        .into(),
    };
    if settings.stability_weight > 0.0 {
        final_losses.insert("stability".to_string(), last.stability);
    }
    if settings.peak_weight > 0.0 {
        final_losses.insert("peaks".to_string(), last.peaks);
    }
    let meta = StyleMeta {
        name: paths
            .style_file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        painting_title: settings.painting_title.clone(),
        painting_author: settings.painting_author.clone(),
        // The network's whole history: an --init style's steps and this run's.
        steps: step + settings.init.as_ref().map_or(0, |i| i.steps),
        training,
        final_losses,
        created_by: format!("faststyle {}", env!("CARGO_PKG_VERSION")),
    };
    StyleFile::from_model(&model.valid(), config, meta).save(
        &paths.style_file,
        WeightStorage::F16,
        true,
    )?;
    Ok(TrainReport {
        steps_done: step - start_step,
        first: first.unwrap_or(last),
        last,
        seconds: started.elapsed().as_secs_f64(),
        skipped_photos: loader.skipped(),
    })
}

/// Steps over which a run started from a trained network (`--init`) ramps its learning
/// rate up. A fresh Adam's first updates move every weight by about the learning rate
/// whatever its gradient; at full rate that undid a trained style (its style loss went from
/// 6e5 to 2e7 in one step).
pub const INIT_WARMUP_STEPS: u64 = 50;

/// The learning rate's factor at `step` (0-based, counted in this run).
pub fn warmup_factor(from_trained: bool, step: u64) -> f64 {
    if from_trained {
        ((step + 1) as f64 / INIT_WARMUP_STEPS as f64).min(1.0)
    } else {
        1.0
    }
}

/// Noise of the stability loss, in levels (0..255) per pixel: mild, like sensor noise.
pub const STABILITY_NOISE: f32 = 2.0;

/// The stability term of one step: its weight, the noise to add and the shift to apply.
pub struct Stability<B: TrainKernels> {
    pub weight: f64,
    pub noise: Tensor<B, 4>,
    pub shift: usize,
}

impl<B: TrainKernels> Stability<B> {
    /// Deterministic from (seed, step), so a resumed run sees the same noise and shifts;
    /// the shift cycles through 1, 2 and 3 pixels.
    pub fn for_step(
        weight: f64,
        seed: u64,
        step: u64,
        dims: [usize; 4],
        device: &B::Device,
    ) -> Self {
        use rand::SeedableRng;
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let values: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|_| STABILITY_NOISE * crate::temporal::standard_normal(&mut rng))
            .collect();
        Self {
            weight,
            noise: Tensor::from_data(burn::tensor::TensorData::new(values, dims), device),
            shift: 1 + (step % 3) as usize,
        }
    }
}

/// The kurtosis above which the peak penalty charges a channel: Gaussian noise has 3, the
/// trunk channels of a network without blobs about 4 to 20, those of the blob-ridden
/// the-scream up to 55 (`examples/activation_peaks.rs`).
pub const PEAK_LIMIT: f64 = 10.0;

/// One optimizer step on a batch of photos: returns the updated network and the weighted
/// loss terms (content, style, tv, total, then stability when it or the peak penalty is
/// on, and the peak penalty when it is on).
pub fn train_step<B: TrainKernels, O: Optimizer<Transformer<B>, B>>(
    model: Transformer<B>,
    optim: &mut O,
    objective: &Objective<B>,
    photos: Tensor<B, 4>,
    lr: f64,
    stability: Option<Stability<B>>,
    peak_weight: f64,
) -> (Transformer<B>, Vec<f64>) {
    let (y, peaks) = forward_with_peaks(&model, photos.clone(), peak_weight);
    let stable = stability.map(|s| {
        loss::stability_loss(
            |t| model.forward(t),
            photos.clone(),
            y.clone(),
            s.noise,
            s.shift,
        ) * s.weight
    });
    let [content, style, tv] = objective.weighted(objective.terms(photos, y));
    let mut total = content.clone() + style.clone() + tv.clone();
    if let Some(s) = &stable {
        total = total + s.clone();
    }
    if let Some(p) = &peaks {
        total = total + p.clone();
    }
    let mut terms = vec![
        content.into_scalar().elem::<f64>(),
        style.into_scalar().elem::<f64>(),
        tv.into_scalar().elem::<f64>(),
        total.clone().into_scalar().elem::<f64>(),
    ];
    match (stable, &peaks) {
        (Some(s), _) => terms.push(s.into_scalar().elem::<f64>()),
        (None, Some(_)) => terms.push(0.0),
        (None, None) => {}
    }
    if let Some(p) = peaks {
        terms.push(p.into_scalar().elem::<f64>());
    }
    step_unless_diverged(model, optim, lr, total, terms)
}

/// One optimizer step on `total`, unless the loss (`terms[3]`) is no longer finite: then the
/// network is returned unchanged for the caller to report.
fn step_unless_diverged<B: TrainKernels, O: Optimizer<Transformer<B>, B>>(
    model: Transformer<B>,
    optim: &mut O,
    lr: f64,
    total: Tensor<B, 1>,
    terms: Vec<f64>,
) -> (Transformer<B>, Vec<f64>) {
    if !terms[3].is_finite() {
        return (model, terms);
    }
    let grads = GradientsParams::from_grads(total.backward(), &model);
    (optim.step(lr, model, grads), terms)
}

/// The network's pictures and, if `peak_weight` is on, its weighted peak penalty.
fn forward_with_peaks<B: TrainKernels>(
    model: &Transformer<B>,
    photos: Tensor<B, 4>,
    peak_weight: f64,
) -> (Tensor<B, 4>, Option<Tensor<B, 1>>) {
    if peak_weight > 0.0 {
        let (y, watched) = model.forward_aligned_watched(photos);
        let layers = watched.len() as f64;
        let penalty = watched
            .into_iter()
            .map(|a| loss::peak_penalty(a, PEAK_LIMIT))
            .reduce(|a, b| a + b)
            .map(|p| p * (peak_weight / layers));
        (y, penalty)
    } else {
        (model.forward_aligned(photos), None)
    }
}

/// One optimizer step towards a teacher network's pictures of the photos: the loss is
/// their mean squared difference in levels (0..255), plus the weighted texture term (the
/// Gram matrices of both pictures at [`TEXTURE_LAYERS`], image by image: pixel MSE alone
/// teaches a narrower network the average of strokes it cannot place exactly, a blur),
/// plus the peak penalty when it is on. Returns the terms in [`train_step`]'s layout, the
/// MSE in the content slot and the texture term in the style slot.
pub fn distill_step<B: TrainKernels, O: Optimizer<Transformer<B>, B>>(
    model: Transformer<B>,
    optim: &mut O,
    teacher: &Teacher<B>,
    photos: Tensor<B, 4>,
    lr: f64,
    peak_weight: f64,
) -> (Transformer<B>, Vec<f64>) {
    let target = Tensor::<B, 4>::from_inner(teacher.net.forward_aligned(photos.clone().inner()));
    let (y, peaks) = forward_with_peaks(&model, photos, peak_weight);
    let texture = teacher.texture.as_ref().map(|(vgg, weight)| {
        let ours = vgg.features(y.clone(), &TEXTURE_LAYERS);
        let theirs = vgg.features(target.clone(), &TEXTURE_LAYERS);
        ours.into_iter()
            .zip(theirs)
            .map(|(a, b)| loss::texture_loss(a, b, TEXTURE_TILES))
            .reduce(|a, b| a + b)
            .expect("three layers")
            * *weight
    });
    let mse = (y.cast(FloatDType::F32) - target.cast(FloatDType::F32))
        .square()
        .mean();
    let mut total = mse.clone();
    if let Some(t) = &texture {
        total = total + t.clone();
    }
    if let Some(p) = &peaks {
        total = total + p.clone();
    }
    let mut terms = vec![
        mse.into_scalar().elem::<f64>(),
        texture.map_or(0.0, |t| t.into_scalar().elem::<f64>()),
        0.0,
        total.clone().into_scalar().elem::<f64>(),
    ];
    if let Some(p) = peaks {
        terms.extend([0.0, p.into_scalar().elem::<f64>()]);
    }
    step_unless_diverged(model, optim, lr, total, terms)
}

fn write_checkpoint<B: TrainKernels>(
    dir: &Path,
    recorder: &BinFileRecorder<FullPrecisionSettings>,
    model: &Transformer<B>,
    optim: &burn::optim::adaptor::OptimizerAdaptor<burn::optim::Adam, Transformer<B>, B>,
    step: u64,
    settings: &TrainSettings,
    losses: Losses,
) -> Result<(), Error> {
    let err = |e: String| Error::Output {
        path: dir.to_path_buf(),
        detail: format!("cannot write the checkpoint: {e}"),
    };
    // Written into a fresh folder and swapped in, so a crash mid-write keeps the old one.
    let tmp = dir.with_extension("new");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| err(e.to_string()))?;
    model
        .clone()
        .save_file(tmp.join(checkpoint::MODEL_FILE), recorder)
        .map_err(|e| err(e.to_string()))?;
    recorder
        .record(optim.to_record(), tmp.join(checkpoint::OPTIMIZER_FILE))
        .map_err(|e| err(e.to_string()))?;
    let state = CheckpointState {
        step,
        settings: settings.clone(),
        losses,
    };
    std::fs::write(
        tmp.join(checkpoint::STATE_FILE),
        serde_json::to_string_pretty(&state).map_err(|e| err(e.to_string()))?,
    )
    .map_err(|e| err(e.to_string()))?;
    let old = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| err(e.to_string()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

fn write_preview<B: TrainKernels>(
    model: &Transformer<B>,
    photos: &[Planar],
    work: &Path,
    step: u64,
    device: &B::Device,
) -> Result<(), Error> {
    if photos.is_empty() {
        return Ok(());
    }
    let inner = model.valid();
    let pairs: Vec<(Planar, Planar)> = photos
        .iter()
        .map(|p| {
            let x = picture::to_tensor::<B::InnerBackend>(std::slice::from_ref(p), device);
            (p.clone(), picture::from_tensor(inner.forward(x)).remove(0))
        })
        .collect();
    let path = work.join(format!("preview-{step:06}.png"));
    preview::grid(&pairs)
        .save(&path)
        .map_err(|e| Error::Output {
            path,
            detail: e.to_string(),
        })
}

/// Drops log lines past `step` (written after the checkpoint a run resumes from); returns
/// the training seconds logged up to there, which the resumed run's times continue from.
fn truncate_log(path: &Path, step: u64) -> f64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .is_none_or(|s| s <= step)
        })
        .collect();
    let _ = std::fs::write(path, kept.join("\n") + "\n");
    kept.last()
        .and_then(|l| l.split(',').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_from_a_trained_network_warm_up() {
        assert_eq!(warmup_factor(false, 0), 1.0);
        assert_eq!(warmup_factor(true, 0), 1.0 / INIT_WARMUP_STEPS as f64);
        assert_eq!(warmup_factor(true, INIT_WARMUP_STEPS - 1), 1.0);
        assert_eq!(warmup_factor(true, 10 * INIT_WARMUP_STEPS), 1.0);
    }
}

/// Mixed precision on a GPU backend (burn's wgpu over Mesa's lavapipe in CI, the code path
/// of CUDA): the same loss and gradients as f32, within f16's rounding, with the gradients
/// of the f32 master weights in f32.
#[cfg(all(test, feature = "wgpu"))]
mod mixed_precision_tests {
    use super::*;
    use burn::backend::{Autodiff, Wgpu};
    use burn::module::Param;
    use burn::tensor::DType;

    type B = Autodiff<Wgpu>;

    #[test]
    fn f16_training_step_matches_f32() {
        let device = Default::default();
        let objective = Objective::<B>::for_benchmarks(None, &device).unwrap();
        let model = Transformer::<B>::new(&TransformerConfig::new(0.5, 2), &device);
        let photos: Vec<_> = (0..2)
            .map(|i| picture::Planar::test_pattern(36 + 4 * i, 28))
            .map(|p| picture::resize(&p, 32, 32))
            .collect();
        let x = picture::to_tensor::<B>(&photos, &device);
        let run = |compute: FloatDType| {
            let x = x.clone().cast(compute);
            let (y, watched) = model.forward_aligned_watched(x.clone());
            assert_eq!(
                y.dtype(),
                DType::from(compute),
                "the network ran in {compute:?}"
            );
            let peaks = watched
                .into_iter()
                .map(|a| loss::peak_penalty(a, PEAK_LIMIT))
                .reduce(|a, b| a + b)
                .unwrap();
            let [content, style, tv] = objective.weighted(objective.terms(x, y));
            let total = content + style + tv + peaks * 1e4;
            let loss = total.clone().into_scalar().elem::<f64>();
            let grads = total.backward();
            let grad = |t: &Param<Tensor<B, 4>>| t.grad(&grads).unwrap();
            let g = [
                grad(&model.conv1.conv.weight),
                grad(&model.res[1].b.conv.weight),
                grad(&model.out.weight),
            ];
            let gamma = model.up1.norm.gamma.grad(&grads).unwrap();
            (loss, g, gamma)
        };
        let (loss32, g32, gamma32) = run(FloatDType::F32);
        let (loss16, g16, gamma16) = run(FloatDType::F16);
        let rel = (loss16 - loss32).abs() / loss32.abs();
        assert!(rel < 0.01, "f16 loss {loss16:.6e} against f32 {loss32:.6e}");
        let relative_error = |a: Vec<f32>, b: Vec<f32>| {
            let num: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(x - y).powi(2))
                .sum();
            let den: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum();
            (num / den.max(1e-30)).sqrt()
        };
        let values = |t: burn::tensor::TensorData| {
            assert_eq!(t.dtype, DType::F32, "master-weight gradients are f32");
            t.into_vec::<f32>().unwrap()
        };
        // The gradients drift further from f32's the further back they flow: measured on
        // lavapipe 0.015-0.025 (output layer), 0.035-0.049 (up1's norm gain), 0.16-0.17
        // (second residual block) and 0.26-0.29 (first layer, whose weight gradient sums
        // over every pixel; two runs, autotune picks differ), where
        // burn's direct convolution sums in the storage type (burn-cubecl conv/direct.rs);
        // CUDA's tensor cores sum in f32, and its default is bf16 with f32's range.
        let data32 = g32
            .map(|g| g.into_data())
            .into_iter()
            .chain([gamma32.into_data()]);
        let data16 = g16
            .map(|g| g.into_data())
            .into_iter()
            .chain([gamma16.into_data()]);
        let errors: Vec<f64> = data32
            .zip(data16)
            .map(|(a, b)| relative_error(values(a), values(b)))
            .collect();
        let names = [
            "conv1 weight",
            "res[1].b weight",
            "out weight",
            "up1 norm gain",
        ];
        eprintln!("f16 training step: loss {rel:.2e} off f32 (relative)");
        for (name, e) in names.iter().zip(&errors) {
            eprintln!("f16 training step: {name} gradient {e:.4} off f32 (relative L2)");
        }
        for ((name, e), bound) in names.iter().zip(errors).zip([0.45, 0.3, 0.05, 0.1]) {
            assert!(
                e < bound,
                "{name} gradient: f16 off f32 by {e:.4} (relative L2)"
            );
        }
    }
}
