//! `faststyle eval`: how well a style does what it was trained to do. Stylizes a folder of
//! photos and reports the mean content loss (against each photo) and style loss (against
//! the painting), with the training's own VGG19 layers and definitions, next to the same
//! figures for the unstylized photos as the baseline. With `--stylized DIR` it scores
//! pictures another tool made of the same photos instead (a peer's outputs), with the same
//! definitions, so that the two can be compared figure for figure.

use std::path::{Path, PathBuf};

use burn::tensor::ElementConversion;
use image::RgbImage;
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
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    /// The style loss of each style layer (their sum is `style`): which scales of the
    /// painting's statistics a style misses.
    pub style_by_layer: Vec<f64>,
}

impl Scores {
    /// The mean of each term over `all`.
    fn mean<'a>(all: impl Iterator<Item = &'a Scores>) -> Scores {
        let mut sum = Scores::default();
        let mut n = 0usize;
        for s in all {
            sum.content += s.content;
            sum.style += s.style;
            sum.tv += s.tv;
            sum.style_by_layer
                .resize(s.style_by_layer.len().max(sum.style_by_layer.len()), 0.0);
            for (a, b) in sum.style_by_layer.iter_mut().zip(&s.style_by_layer) {
                *a += b;
            }
            n += 1;
        }
        let n = n.max(1) as f64;
        Scores {
            content: sum.content / n,
            style: sum.style / n,
            tv: sum.tv / n,
            style_by_layer: sum.style_by_layer.iter().map(|v| v / n).collect(),
        }
    }
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
    /// Each photo's scores (`--per-photo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_photo: Option<Vec<PhotoScores>>,
}

/// One photo's unweighted terms, unstylized and stylized.
#[derive(Debug, Clone, Serialize)]
pub struct PhotoScores {
    pub photo: PathBuf,
    pub unstylized: Scores,
    pub stylized: Scores,
}

/// What makes the stylized pictures: a style network, or another tool beforehand.
enum Stylizer<'a> {
    Network {
        style: &'a StyleFile,
        path: &'a Path,
    },
    Folder(&'a Path),
}

pub fn run(args: EvalArgs) -> Result<()> {
    if args.temporal {
        return super::flicker::run(&args);
    }
    let spec = args.device.resolve();
    device::check_device(spec)?;
    let Some(images) = &args.images else {
        return Err(Error::Usage(
            "eval needs --images (or --temporal)".to_string(),
        ));
    };
    // The measure is the whole picture's Gram, whatever grid training used.
    let defaults = LossSpec {
        style_tiles: 1,
        ..LossSpec::default()
    };
    let loaded;
    let (name, stylizer, loss, style_size, painting) = if let Some(dir) = &args.stylized {
        if !dir.is_dir() {
            return Err(Error::Input {
                path: dir.clone(),
                detail: "no such folder of stylized pictures".to_string(),
            });
        }
        let painting = painting_path(&args, None)?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        (
            name,
            Stylizer::Folder(dir),
            defaults,
            args.style_size,
            painting,
        )
    } else {
        let Some(style_arg) = &args.style else {
            return Err(Error::Usage(
                "eval needs --style or --stylized (or --temporal)".to_string(),
            ));
        };
        loaded = catalog::load(style_arg)?;
        let (style, style_path) = (&loaded.0, &loaded.1);
        let training = &style.meta.training;
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
        let painting = painting_path(&args, Some((style, style_path)))?;
        let stylizer = Stylizer::Network {
            style,
            path: style_path,
        };
        (
            style.meta.name.clone(),
            stylizer,
            loss,
            style_size,
            painting,
        )
    };
    let photos = dataset::scan(images)?;
    let vgg_path = vgg::weights_path(args.vgg.as_deref());
    let deepest = loss.deepest_layer().map_err(Error::Usage)?.to_string();
    let job = Evaluate {
        stylizer,
        loss: loss.clone(),
        painting: &painting,
        style_size,
        images,
        photos: &photos,
        vgg_path: &vgg_path,
        deepest: &deepest,
        max_size: args.max_size,
        quiet: args.json,
    };
    let scores = device::dispatch(spec, job)?;
    let used = scores.len();
    let unstylized = Scores::mean(scores.iter().map(|p| &p.unstylized));
    let stylized = Scores::mean(scores.iter().map(|p| &p.stylized));
    let style_ratio = stylized.style / unstylized.style;
    let report = EvalReport {
        style: name,
        painting,
        photos: used,
        skipped: photos.len() - used,
        content_layer: loss.content_layer,
        style_layers: loss.style_layers,
        unstylized,
        stylized,
        style_ratio,
        per_photo: args.per_photo.then_some(scores),
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
    for (name, s) in [("unstylized", &r.unstylized), ("stylized", &r.stylized)] {
        println!(
            "{name:<12} {:>14.4e} {:>14.4e} {:>14.4e}",
            s.content, s.style, s.tv
        );
    }
    println!(
        "style loss of the stylized photos: {:.3} of the unstylized",
        r.style_ratio
    );
    println!(
        "by layer:    {:>14} {:>14} {:>8}",
        "unstylized", "stylized", "ratio"
    );
    for (i, layer) in r.style_layers.iter().enumerate() {
        let (u, s) = (
            r.unstylized.style_by_layer.get(i).copied().unwrap_or(0.0),
            r.stylized.style_by_layer.get(i).copied().unwrap_or(0.0),
        );
        println!("{layer:<12} {u:>14.4e} {s:>14.4e} {:>8.3}", s / u);
    }
}

/// `--style-image`, else the painting recorded at training if it is still there.
fn painting_path(args: &EvalArgs, style: Option<(&StyleFile, &Path)>) -> Result<PathBuf> {
    if let Some(p) = &args.style_image {
        if !p.is_file() {
            return Err(Error::Input {
                path: p.clone(),
                detail: "no such painting file".to_string(),
            });
        }
        return Ok(p.clone());
    }
    let Some((style, style_path)) = style else {
        return Err(Error::Usage(
            "--stylized needs --style-image, the painting to compare with".to_string(),
        ));
    };
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

/// The stylizer, loaded on the backend.
enum Source<'a, B: Kernels> {
    Network(Box<crate::model::Transformer<B>>),
    Folder(&'a Path),
}

struct Evaluate<'a> {
    stylizer: Stylizer<'a>,
    loss: LossSpec,
    painting: &'a Path,
    style_size: u32,
    images: &'a Path,
    photos: &'a [PathBuf],
    vgg_path: &'a Path,
    deepest: &'a str,
    max_size: u32,
    quiet: bool,
}

impl BackendTask for Evaluate<'_> {
    type Output = Result<Vec<PhotoScores>>;

    fn run<B: Kernels>(self, device: B::Device) -> Self::Output {
        let source = match self.stylizer {
            Stylizer::Network { style, path } => {
                Source::Network(Box::new(style.to_model::<B>(&device, path)?))
            }
            Stylizer::Folder(dir) => Source::Folder(dir),
        };
        let vgg =
            Vgg19::<B>::load(self.vgg_path, self.deepest, &device).map_err(|e| Error::Input {
                path: self.vgg_path.to_path_buf(),
                detail: e.to_string(),
            })?;
        let painting = picture::load_rgb(self.painting)?;
        let objective = Objective::new(vgg, self.loss, painting, self.style_size);
        let mut scores = Vec::new();
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
            let stylized = match &source {
                Source::Network(model) => model.forward(x.clone()),
                Source::Folder(dir) => {
                    let made = stylized_picture(dir, self.images, path, &photo, self.max_size)?;
                    picture::to_tensor::<B>(&[Planar::from_rgb(&made)], &device)
                }
            };
            let [unstylized, stylized] = objective.terms_pair(x, stylized).map(|terms| Scores {
                content: terms.content.into_scalar().elem::<f64>(),
                style: terms.style.into_scalar().elem::<f64>(),
                tv: terms.tv.into_scalar().elem::<f64>(),
                style_by_layer: terms
                    .style_by_layer
                    .into_iter()
                    .map(|l| l.into_scalar().elem::<f64>())
                    .collect(),
            });
            scores.push(PhotoScores {
                photo: path.clone(),
                unstylized,
                stylized,
            });
            progress.update(i as u64 + 1);
        }
        progress.finish();
        if scores.is_empty() {
            return Err(Error::Usage(
                "none of the photos could be read; nothing to score".to_string(),
            ));
        }
        Ok(scores)
    }
}

/// The picture in `dir` made of `photo_path`: at the photo's path relative to `images`
/// (or directly in `dir`), with the same file stem and any image format; scaled like the
/// photo, and then of the photo's size exactly.
fn stylized_picture(
    dir: &Path,
    images: &Path,
    photo_path: &Path,
    photo: &RgbImage,
    max_size: u32,
) -> Result<RgbImage> {
    let stem = photo_path.file_stem().unwrap_or_default();
    let relative = photo_path.strip_prefix(images).unwrap_or(photo_path);
    let candidates = [dir.join(relative), dir.join(stem)];
    let found = candidates
        .iter()
        .flat_map(|c| {
            dataset::PHOTO_EXTENSIONS
                .iter()
                .map(move |ext| c.with_extension(ext))
        })
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Input {
            path: dir.join(stem),
            detail: format!(
                "no stylized picture of {} in the folder (looked for {}.png, .jpg, ...)",
                photo_path.display(),
                stem.to_string_lossy()
            ),
        })?;
    let made = picture::limit_size(picture::load_rgb(&found)?, max_size);
    if made.dimensions() != photo.dimensions() {
        let (w, h) = made.dimensions();
        let (pw, ph) = photo.dimensions();
        return Err(Error::Input {
            path: found,
            detail: format!("is {w}x{h} but its photo is {pw}x{ph}"),
        });
    }
    Ok(made)
}
