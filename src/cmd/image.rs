//! `faststyle image`: stylize still images.

use crate::kernels::Kernels;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{ImageFormat, RgbImage};

use crate::catalog;
use crate::cli::ImageArgs;
use crate::device::{self, BackendTask};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::model::StyleFile;
use crate::picture::{self, Planar};
use crate::stylize::StyleOptions;
use crate::stylize::Stylizer;

/// Extensions taken from a folder given as input.
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"];

/// One input and where its result goes.
#[derive(Debug, Clone)]
struct Job {
    input: PathBuf,
    output: PathBuf,
    format: ImageFormat,
    overwrite: bool,
}

pub fn run(args: ImageArgs) -> Result<()> {
    let (style, style_path) = catalog::load(&args.style)?;
    let style_name = style_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "styled".to_string());
    let jobs = plan(&args, &style_name)?;
    let spec = args.device.resolve();
    device::check_device(spec)?;
    let options = args.style_args.options(spec)?;
    eprintln!(
        "style {} ({}), device {spec} ({}), {} image{}",
        style_name,
        style.config.describe(),
        device::dtype_name(options.dtype),
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" }
    );
    device::dispatch(
        spec,
        Stylize {
            jobs,
            style,
            style_path,
            options,
            args: &args,
        },
    )
}

/// Expands folders, names outputs and checks everything that can be checked before any
/// work: missing inputs, output collisions, existing outputs, unwritable folders.
fn plan(args: &ImageArgs, style_name: &str) -> Result<Vec<Job>> {
    let mut inputs = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            let found = images_in(input)?;
            if found.is_empty() {
                return Err(Error::Input {
                    path: input.clone(),
                    detail: "the folder contains no images".to_string(),
                });
            }
            inputs.extend(found);
        } else if input.is_file() {
            inputs.push(input.clone());
        } else {
            return Err(Error::Input {
                path: input.clone(),
                detail: "no such file or folder".to_string(),
            });
        }
    }
    if args.output.is_some() && inputs.len() != 1 {
        return Err(Error::Usage(format!(
            "-o names one output but there are {} inputs; use --out-dir instead",
            inputs.len()
        )));
    }
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::Output {
            path: dir.clone(),
            detail: fsutil::describe_io(&e),
        })?;
    }

    let mut jobs: Vec<Job> = Vec::new();
    for input in inputs {
        let output = match (&args.output, &args.out_dir) {
            (Some(o), _) => o.clone(),
            (None, Some(dir)) => dir.join(writable_name(&input, None)),
            (None, None) => input.with_file_name(writable_name(&input, Some(style_name))),
        };
        let format = output_format(&output)?;
        if fsutil::same_file(&input, &output) {
            return Err(Error::Usage(format!(
                "{} is both input and output; choose another output",
                input.display()
            )));
        }
        if let Some(other) = jobs.iter().find(|j| fsutil::same_file(&j.output, &output)) {
            return Err(Error::Usage(format!(
                "{} and {} would both be written to {}",
                other.input.display(),
                input.display(),
                output.display()
            )));
        }
        if !args.overwrite && output.exists() {
            return Err(Error::OutputExists { path: output });
        }
        check_writable(&output)?;
        jobs.push(Job {
            input,
            output,
            format,
            overwrite: args.overwrite,
        });
    }
    Ok(jobs)
}

/// Image files directly inside `dir`, sorted by name.
fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::Input {
        path: dir.to_path_buf(),
        detail: format!("cannot list the folder: {}", fsutil::describe_io(&e)),
    })?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| IMAGE_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The input's file name, with `-STYLE` added to the stem when given, and `.png` when the
/// input's format cannot be written.
pub(crate) fn writable_name(input: &Path, style_suffix: Option<&str>) -> String {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = input
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .filter(|e| ImageFormat::from_extension(e).is_some_and(|f| f.writing_enabled()))
        .unwrap_or_else(|| "png".to_string());
    match style_suffix {
        Some(style) => format!("{stem}-{style}.{ext}"),
        None => format!("{stem}.{ext}"),
    }
}

pub(crate) fn output_format(output: &Path) -> Result<ImageFormat> {
    match ImageFormat::from_path(output) {
        Ok(f) if f.writing_enabled() => Ok(f),
        _ => Err(Error::Output {
            path: output.to_path_buf(),
            detail:
                "its extension names no image format faststyle writes (use .png, .jpg or .webp)"
                    .to_string(),
        }),
    }
}

/// Creates (and removes) a temporary file where the output will go, so an unwritable
/// folder is reported before minutes of computation.
pub(crate) fn check_writable(output: &Path) -> Result<()> {
    fsutil::temp_beside(output, false)
        .map(drop)
        .map_err(|e| Error::Output {
            path: output.to_path_buf(),
            detail: fsutil::describe_io(&e),
        })
}

struct Stylize<'a> {
    jobs: Vec<Job>,
    style: StyleFile,
    style_path: PathBuf,
    options: StyleOptions,
    args: &'a ImageArgs,
}

impl BackendTask for Stylize<'_> {
    type Output = Result<()>;

    fn run<B: Kernels>(self, device: B::Device) -> Result<()> {
        let model = self.style.to_model::<B>(&device, &self.style_path)?;
        // One image per run, so how batches are split does not matter here.
        let stylizer = Stylizer::new(model, device, self.options, false);
        let total = self.jobs.len();
        let mut failed = 0;
        let mut last_error = None;
        for job in &self.jobs {
            let started = Instant::now();
            let result = picture::load_rgb(&job.input).and_then(|img| {
                let img = match self.args.max_size {
                    Some(max) => picture::limit_size(img, max),
                    None => img,
                };
                let original = Planar::from_rgb(&img);
                let out = stylizer
                    .run(std::slice::from_ref(&original))
                    .remove(0)
                    .to_rgb();
                save(&out, job)?;
                Ok(out.dimensions())
            });
            match result {
                Ok((w, h)) => eprintln!(
                    "{} -> {} ({w}x{h}, {:.2} s)",
                    job.input.display(),
                    job.output.display(),
                    started.elapsed().as_secs_f64()
                ),
                Err(e) => {
                    eprintln!("error: {e}");
                    failed += 1;
                    last_error = Some(e);
                }
            }
        }
        match last_error {
            None => Ok(()),
            Some(e) if total == 1 => Err(e),
            Some(_) => Err(Error::SomeFailed { failed, total }),
        }
    }
}

fn save(img: &RgbImage, job: &Job) -> Result<()> {
    save_image(img, &job.output, job.format, job.overwrite)
}

/// Writes `img` to `output` atomically, JPEG at quality 95.
pub(crate) fn save_image(
    img: &RgbImage,
    output: &Path,
    format: ImageFormat,
    overwrite: bool,
) -> Result<()> {
    let result = fsutil::write_atomically(output, overwrite, |w| {
        let encoded = match format {
            ImageFormat::Jpeg => {
                image::codecs::jpeg::JpegEncoder::new_with_quality(w, 95).encode_image(img)
            }
            format => img.write_to(w, format),
        };
        encoded.map_err(io::Error::other)
    });
    result.map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => Error::OutputExists {
            path: output.to_path_buf(),
        },
        _ => Error::Output {
            path: output.to_path_buf(),
            detail: fsutil::describe_io(&e),
        },
    })
}
