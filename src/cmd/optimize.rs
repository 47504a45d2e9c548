//! `faststyle optimize`: paint one photo by optimizing the picture (Gatys et al. 2016).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::backend::Autodiff;

use super::image::{check_writable, output_format, save_image, writable_name};
use crate::cli::OptimizeArgs;
use crate::device::{self, BackendTask};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::interrupt;
use crate::kernels::Kernels;
use crate::model::vgg::{self, Vgg19};
use crate::optimize::{self, Losses, Outcome, Settings};
use crate::picture;
use crate::progress::Progress;
use crate::train::objective::LossSpec;

pub fn run(args: OptimizeArgs) -> Result<()> {
    let photo = picture::limit_size(picture::load_rgb(&args.photo)?, args.size);
    let painting = picture::load_rgb(&args.style_image)?;
    let output = args.output.clone().unwrap_or_else(|| {
        let painting_name = args
            .style_image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        args.photo
            .with_file_name(writable_name(&args.photo, Some(&painting_name)))
    });
    let format = output_format(&output)?;
    if fsutil::same_file(&args.photo, &output) || fsutil::same_file(&args.style_image, &output) {
        return Err(Error::Usage(format!(
            "{} is an input; choose another output",
            output.display()
        )));
    }
    if !args.overwrite && output.exists() {
        return Err(Error::OutputExists { path: output });
    }
    check_writable(&output)?;
    let previews = (args.preview_every > 0).then(|| output.with_extension("previews"));
    if let Some(dir) = &previews {
        std::fs::create_dir_all(dir).map_err(|e| Error::Output {
            path: dir.clone(),
            detail: fsutil::describe_io(&e),
        })?;
    }
    let spec = LossSpec {
        content_layer: args.content_layer.clone(),
        style_layers: args.style_layers.clone(),
        content_weight: args.content_weight,
        style_weight: args.style_weight,
        tv_weight: args.tv_weight,
        // Gatys et al.'s loss: the whole picture's Gram matrices.
        style_tiles: 1,
    };
    let deepest = spec.deepest_layer().map_err(Error::Usage)?.to_string();
    let settings = Settings {
        steps: args.steps.clone(),
        init: args.init,
        method: args.optimizer,
        lr: args.lr,
        history: optimize::HISTORY,
        seed: args.seed,
        spec,
    };
    let device_spec = args.device.resolve();
    device::check_device(device_spec)?;
    let style_size = args.style_size.unwrap_or(args.size);
    let plan = optimize::scales(
        photo.width() as usize,
        photo.height() as usize,
        &settings.steps,
    );
    let plan_text: Vec<String> = plan
        .iter()
        .map(|(w, h, n)| format!("{n} at {w}x{h}"))
        .collect();
    eprintln!(
        "optimizing {} in the style of {} (at most {style_size} px), {} steps: {}; device {device_spec}",
        args.photo.display(),
        args.style_image.display(),
        match settings.method {
            optimize::Method::Lbfgs => "L-BFGS",
            optimize::Method::Adam => "Adam",
        },
        plan_text.join(", "),
    );
    interrupt::install();
    let started = Instant::now();
    let outcome = device::dispatch(
        device_spec,
        Run {
            photo: &photo,
            painting,
            style_size,
            settings: &settings,
            vgg: vgg::weights_path(args.vgg.as_deref()),
            deepest,
            previews: previews.as_deref(),
            preview_every: args.preview_every,
            total_steps: plan.iter().map(|s| s.2).sum(),
        },
    )?;
    let img = outcome.picture.to_rgb();
    save_image(&img, &output, format, args.overwrite)?;
    let describe = |l: &Losses| {
        format!(
            "content {:.3e} style {:.3e} tv {:.3e} total {:.3e}",
            l.content, l.style, l.tv, l.total
        )
    };
    eprintln!(
        "wrote {} ({}x{}) after {} steps ({} evaluations) in {:.1} s",
        output.display(),
        img.width(),
        img.height(),
        outcome.steps(),
        outcome.evaluations(),
        started.elapsed().as_secs_f64()
    );
    for s in &outcome.scales {
        for (label, losses) in [("first:", &s.first), ("last: ", &s.last)] {
            eprintln!(
                "  {}x{}, {} steps  {label} {}",
                s.width,
                s.height,
                s.steps,
                describe(losses)
            );
        }
    }
    Ok(())
}

struct Run<'a> {
    photo: &'a image::RgbImage,
    painting: image::RgbImage,
    style_size: u32,
    settings: &'a Settings,
    vgg: PathBuf,
    deepest: String,
    previews: Option<&'a Path>,
    preview_every: u64,
    /// Iterations over all scales, for the progress bar.
    total_steps: u64,
}

impl BackendTask for Run<'_> {
    type Output = Result<Outcome>;

    fn run<B: Kernels>(self, device: B::Device) -> Self::Output {
        let vgg = Vgg19::<Autodiff<B>>::load(&self.vgg, &self.deepest, &device).map_err(|e| {
            Error::Input {
                path: self.vgg.clone(),
                detail: e.to_string(),
            }
        })?;
        let mut progress = Progress::new(Some(self.total_steps), "steps");
        let outcome = optimize::optimize(
            &vgg,
            self.photo,
            &self.painting,
            self.style_size,
            self.settings,
            &device,
            |step| {
                progress.update(step.step);
                let l = step.losses;
                progress.set_message(format!(
                    "content {:.3e}  style {:.3e}  tv {:.3e}",
                    l.content, l.style, l.tv
                ));
                match self.previews {
                    Some(dir) if step.step % self.preview_every == 0 => {
                        let path = dir.join(format!("step-{:05}.png", step.step));
                        save_image(&step.picture.to_rgb(), &path, image::ImageFormat::Png, true)
                    }
                    _ => Ok(()),
                }
            },
        );
        progress.finish();
        outcome
    }
}
