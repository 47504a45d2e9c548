//! `faststyle train`: learn a style.

use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use burn::tensor::FloatDType;

use crate::catalog;
use crate::cli::TrainArgs;
use crate::device::{self, BackendTask, DeviceSpec};
use crate::error::{Error, Result};
use crate::interrupt;
use crate::kernels::Kernels;
use crate::model::file::EXTENSION;
use crate::model::vgg;
use crate::model::{StyleFile, TransformerConfig};
use crate::train::trainer::{InitStyle, RunPaths};
use crate::train::{TrainReport, TrainSettings, train};

/// An architecture setting of the run: the `--init` style's (a different `flag` value is
/// refused, since the trained weights belong to that architecture), else `given`, else
/// `default`.
fn inherited<T: Copy + PartialEq + std::fmt::Display>(
    flag: &str,
    what: &str,
    given: Option<T>,
    init: Option<(&TransformerConfig, &Path)>,
    of: impl Fn(&TransformerConfig) -> T,
    default: T,
) -> Result<T> {
    match (init, given) {
        (Some((config, path)), Some(v)) if v != of(config) => Err(Error::Usage(format!(
            "{flag} {v} differs from the {what} {} of --init {}",
            of(config),
            path.display()
        ))),
        (Some((config, _)), _) => Ok(of(config)),
        (None, v) => Ok(v.unwrap_or(default)),
    }
}

/// One training run on the backend `device::dispatch` picks, differentiated by `Autodiff`.
struct Training<'a> {
    settings: &'a TrainSettings,
    paths: &'a RunPaths,
    resume: bool,
    init: Option<(&'a StyleFile, &'a Path)>,
    teacher: Option<(&'a StyleFile, &'a Path)>,
    compute: FloatDType,
}

impl BackendTask for Training<'_> {
    type Output = Result<TrainReport>;

    fn run<B: Kernels>(self, device: B::Device) -> Self::Output {
        let sources = crate::train::trainer::Sources {
            init: self.init,
            teacher: self.teacher,
        };
        train::<Autodiff<B>>(
            self.settings,
            self.paths,
            self.resume,
            sources,
            (&device, self.compute),
        )
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    if let Some(painting) = &args.style_image
        && !painting.is_file()
    {
        return Err(Error::Input {
            path: painting.clone(),
            detail: "no such painting file".to_string(),
        });
    }
    let teacher = args.teacher.as_deref().map(catalog::load).transpose()?;
    if teacher.is_some() && args.stability_weight > 0.0 {
        return Err(Error::Usage(
            "--stability-weight is for training from a painting, not with --teacher".into(),
        ));
    }
    // The painting, or for a student the teacher's file, recorded as the run's source.
    let source = match (&args.style_image, &teacher) {
        (Some(painting), _) => painting.clone(),
        (None, Some((_, path))) => path.clone(),
        (None, None) => unreachable!("clap requires --style-image or --teacher"),
    };
    let style_file = style_file_for(&args.out);
    let work = style_file.with_extension("train");
    if style_file.exists() && !args.overwrite && !args.resume {
        return Err(Error::OutputExists { path: style_file });
    }
    let parent = style_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::Output {
            path: style_file.clone(),
            detail: "its folder does not exist".to_string(),
        });
    }
    crate::fsutil::temp_beside(&style_file, false)
        .map(drop)
        .map_err(|e| Error::Output {
            path: style_file.clone(),
            detail: crate::fsutil::describe_io(&e),
        })?;
    let vgg_path = vgg::weights_path(args.vgg.as_deref());
    let init = args.init.as_deref().map(catalog::load).transpose()?;
    let from_init = init
        .as_ref()
        .map(|(style, path)| (&style.config, path.as_path()));
    let default_width = if teacher.is_some() { 0.5 } else { 1.0 };
    let width = inherited(
        "--width",
        "width",
        args.width,
        from_init,
        |c| c.width,
        default_width,
    )?;
    let norm_eps = inherited(
        "--norm-eps",
        "epsilon",
        args.norm_eps,
        from_init,
        |c| c.norm_eps,
        crate::model::config::NORM_EPS,
    )?;
    let settings = TrainSettings {
        style_image: source.clone(),
        dataset: args.dataset.clone(),
        steps: args.steps,
        batch: args.batch as usize,
        image_size: args.image_size,
        crop_scale: args.crop_scale,
        style_size: args.style_size,
        content_weight: args.content_weight,
        style_weight: args.style_weight,
        tv_weight: args.tv_weight,
        lr: args.lr,
        width,
        output_scale: args.output_scale,
        norm_eps,
        output_norm: args.output_norm
            || init
                .as_ref()
                .is_some_and(|(style, _)| style.config.output_norm),
        residual_blocks: init
            .as_ref()
            .map_or(5, |(style, _)| style.config.residual_blocks),
        content_layer: args.content_layer.clone(),
        style_layers: args.style_layers.clone(),
        style_tiles: args.style_tiles as usize,
        stability_weight: args.stability_weight,
        peak_weight: args.peak_weight,
        checkpoint_every: args.checkpoint_every,
        preview_every: args.preview_every,
        seed: args.seed,
        painting_title: match (&args.painting_title, &teacher) {
            (Some(title), _) => title.clone(),
            (None, Some((style, _))) => style.meta.painting_title.clone(),
            (None, None) => source
                .file_stem()
                .map(|s| s.to_string_lossy().replace(['_', '-'], " "))
                .unwrap_or_default(),
        },
        painting_author: match &teacher {
            Some((style, _)) if args.painting_author.is_empty() => {
                style.meta.painting_author.clone()
            }
            _ => args.painting_author.clone(),
        },
        texture_weight: if teacher.is_some() {
            args.texture_weight
        } else {
            0.0
        },
        teacher: teacher.as_ref().map(|(style, _)| InitStyle {
            name: style.meta.name.clone(),
            steps: style.meta.steps,
        }),
        init: init.as_ref().map(|(style, _)| InitStyle {
            name: style.meta.name.clone(),
            steps: style.meta.steps,
        }),
    };
    let spec = args.device.resolve();
    device::check_device(spec)?;
    let precision = device::set_train_precision(args.precision, spec)?;
    let paths = RunPaths {
        style_file: style_file.clone(),
        work: work.clone(),
        vgg: vgg_path,
    };
    eprintln!(
        "training {} from {} on {} ({} steps, batch {}, {}px crops, width {}), device {spec} ({}); work folder {}",
        style_file.display(),
        source.display(),
        args.dataset.display(),
        settings.steps,
        settings.batch,
        settings.image_size,
        settings.width,
        precision.label,
        work.display()
    );
    if let Some(t) = &settings.teacher {
        let texture = if settings.texture_weight > 0.0 {
            format!(
                ", and their textures (VGG19 to block3_conv1) at weight {}",
                settings.texture_weight
            )
        } else {
            ", no VGG19".to_string()
        };
        eprintln!(
            "learning from style {} ({} steps): pixel MSE against its pictures{texture}",
            t.name, t.steps
        );
    }
    if let Some(i) = &settings.init {
        eprintln!(
            "starting from style {} ({} steps) with a fresh optimizer",
            i.name, i.steps
        );
    }
    if matches!(spec, DeviceSpec::Cuda(_)) {
        eprintln!(
            "the first steps on a GPU compile and tune its kernels: expect minutes before step 1 \
             (CUBECL_AUTOTUNE_LEVEL=minimal shortens the tuning)"
        );
    }
    interrupt::install();
    let report = device::dispatch(
        spec,
        Training {
            settings: &settings,
            paths: &paths,
            resume: args.resume,
            init: init.as_ref().map(|(style, path)| (style, path.as_path())),
            teacher: teacher
                .as_ref()
                .map(|(style, path)| (style, path.as_path())),
            compute: precision.compute,
        },
    )?;
    if report.skipped_photos > 0 {
        eprintln!(
            "warning: {} unreadable photos were skipped",
            report.skipped_photos
        );
    }
    eprintln!(
        "wrote {} after {} steps in {:.1} s ({:.3} steps/s); total loss {:.4e} -> {:.4e}",
        style_file.display(),
        report.steps_done,
        report.seconds,
        report.steps_done as f64 / report.seconds.max(1e-9),
        report.first.total,
        report.last.total
    );
    Ok(())
}

/// A name goes to the first styles folder; anything path-like is taken as a path.
fn style_file_for(out: &str) -> PathBuf {
    let p = Path::new(out);
    if out.contains('/') || out.contains(std::path::MAIN_SEPARATOR) || p.extension().is_some() {
        return p.to_path_buf();
    }
    let dir = catalog::style_dirs()
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("styles"));
    dir.join(format!("{out}.{EXTENSION}"))
}
