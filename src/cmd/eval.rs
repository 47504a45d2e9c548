//! `faststyle eval`: how well a style does what it was trained to do. Stylizes a folder of
//! photos and reports the mean content loss (against each photo) and style loss (against
//! the painting), with the training's own VGG19 layers and definitions, next to the same
//! figures for the unstylized photos as the baseline.

use std::path::{Path, PathBuf};

use burn::tensor::ElementConversion;
use serde::Serialize;

use crate::catalog;
use crate::cli::EvalArgs;
use crate::device::{self, BackendTask};
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::model::StyleFile;
use crate::model::vgg::{self, Vgg19};
use crate::picture::{self, Planar};
use crate::progress::Progress;
use crate::train::dataset;
use crate::train::objective::{LossSpec, Objective};

/// Mean unweighted loss terms over the photos.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Scores {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
}

#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub style: String,
    pub painting: PathBuf,
    pub photos: usize,
    pub skipped: usize,
    pub content_layer: String,
    pub style_layers: Vec<String>,
    pub unstylized: Scores,
    pub stylized: Scores,
    /// Stylized style loss / unstylized style loss: below 1 means closer to the painting.
    pub style_ratio: f64,
}

pub fn run(args: EvalArgs) -> Result<()> {
    if args.temporal {
        return super::flicker::run(&args);
    }
    let spec = args.device.resolve();
    device::check_device(spec)?;
    let (Some(style_arg), Some(images)) = (&args.style, &args.images) else {
        return Err(Error::Usage(
            "eval needs --style and --images (or --temporal)".to_string(),
        ));
    };
    let (style, style_path) = catalog::load(style_arg)?;
    let training = &style.meta.training;
    let defaults = LossSpec::default();
    let loss = LossSpec {
        content_layer: training
            .get("content_layer")
            .and_then(|v| v.as_str())
            .map(String::from)
            .unwrap_or(defaults.content_layer),
        style_layers: training
            .get("style_layers")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or(defaults.style_layers),
        ..defaults
    };
    let style_size = training
        .get("style_size")
        .and_then(|v| v.as_u64())
        .unwrap_or(512) as u32;
    let painting = painting_path(&args, &style, &style_path)?;
    let photos = dataset::scan(images)?;
    let vgg_path = vgg::weights_path(args.vgg.as_deref());
    let deepest = loss.deepest_layer().map_err(Error::Usage)?.to_string();
    let job = Evaluate {
        style: &style,
        style_path: &style_path,
        loss: loss.clone(),
        painting: &painting,
        style_size,
        photos: &photos,
        vgg_path: &vgg_path,
        deepest: &deepest,
        max_size: args.max_size,
        quiet: args.json,
    };
    let (unstylized, stylized, used) = device::dispatch(spec, job)?;
    let report = EvalReport {
        style: style.meta.name.clone(),
        painting,
        photos: used,
        skipped: photos.len() - used,
        content_layer: loss.content_layer,
        style_layers: loss.style_layers,
        unstylized,
        stylized,
        style_ratio: stylized.style / unstylized.style,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?
        );
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(r: &EvalReport) {
    println!(
        "{} on {} photos ({} skipped), painting {}",
        r.style,
        r.photos,
        r.skipped,
        r.painting.display()
    );
    println!(
        "content loss at {}, style loss at {}",
        r.content_layer,
        r.style_layers.join(",")
    );
    println!("{:<12} {:>14} {:>14} {:>14}", "", "content", "style", "tv");
    for (name, s) in [("unstylized", r.unstylized), ("stylized", r.stylized)] {
        println!(
            "{name:<12} {:>14.4e} {:>14.4e} {:>14.4e}",
            s.content, s.style, s.tv
        );
    }
    println!(
        "style loss of the stylized photos: {:.3} of the unstylized",
        r.style_ratio
    );
}

/// `--style-image`, else the painting recorded at training if it is still there.
fn painting_path(args: &EvalArgs, style: &StyleFile, style_path: &Path) -> Result<PathBuf> {
    if let Some(p) = &args.style_image {
        if !p.is_file() {
            return Err(Error::Input {
                path: p.clone(),
                detail: "no such painting file".to_string(),
            });
        }
        return Ok(p.clone());
    }
    let recorded = style
        .meta
        .training
        .get("style_image")
        .and_then(|v| v.as_str())
        .map(PathBuf::from);
    match recorded {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => Err(Error::Usage(format!(
            "the painting {} was trained on is not at {}; pass it with --style-image",
            style_path.display(),
            p.display()
        ))),
        None => Err(Error::Usage(format!(
            "{} does not record its painting; pass it with --style-image",
            style_path.display()
        ))),
    }
}

struct Evaluate<'a> {
    style: &'a StyleFile,
    style_path: &'a Path,
    loss: LossSpec,
    painting: &'a Path,
    style_size: u32,
    photos: &'a [PathBuf],
    vgg_path: &'a Path,
    deepest: &'a str,
    max_size: u32,
    quiet: bool,
}

impl BackendTask for Evaluate<'_> {
    type Output = Result<(Scores, Scores, usize)>;

    fn run<B: Kernels>(self, device: B::Device) -> Self::Output {
        let model = self.style.to_model::<B>(&device, self.style_path)?;
        let vgg =
            Vgg19::<B>::load(self.vgg_path, self.deepest, &device).map_err(|e| Error::Input {
                path: self.vgg_path.to_path_buf(),
                detail: e.to_string(),
            })?;
        let painting = picture::load_rgb(self.painting)?;
        let objective = Objective::new(vgg, self.loss, painting, self.style_size);
        let mut sums = [Scores::default(); 2];
        let mut used = 0;
        let mut progress = Progress::new(Some(self.photos.len() as u64), "photos");
        if self.quiet {
            progress = progress.quiet();
        }
        for (i, path) in self.photos.iter().enumerate() {
            let photo = match picture::load_rgb(path) {
                Ok(p) => picture::limit_size(p, self.max_size),
                Err(e) => {
                    eprintln!("warning: skipped: {e}");
                    continue;
                }
            };
            let x = picture::to_tensor::<B>(&[Planar::from_rgb(&photo)], &device);
            let stylized = model.forward(x.clone());
            for (sum, output) in sums.iter_mut().zip([x.clone(), stylized]) {
                let terms = objective.terms(x.clone(), output);
                sum.content += terms.content.into_scalar().elem::<f64>();
                sum.style += terms.style.into_scalar().elem::<f64>();
                sum.tv += terms.tv.into_scalar().elem::<f64>();
            }
            used += 1;
            progress.update(i as u64 + 1);
        }
        progress.finish();
        if used == 0 {
            return Err(Error::Usage(
                "none of the photos could be read; nothing to score".to_string(),
            ));
        }
        let mean = |s: Scores| Scores {
            content: s.content / used as f64,
            style: s.style / used as f64,
            tv: s.tv / used as f64,
        };
        Ok((mean(sums[0]), mean(sums[1]), used))
    }
}
