//! `faststyle video`: stylize a video file, keeping its audio and everything else.

use crate::kernels::Kernels;
use std::path::{Path, PathBuf};

use crate::catalog;
use crate::cli::VideoArgs;
use crate::device::{self, BackendTask, DeviceSpec};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::interrupt;
use crate::model::StyleFile;
use crate::progress::format_duration;
use crate::stylize::{StyleOptions, Stylizer};
use crate::video::pipeline::{self, PipelineConfig, Report};
use crate::video::sink::{EncodeSettings, Sink};
use crate::video::source::Source;

pub fn run(args: VideoArgs) -> Result<()> {
    stylize_video(&args, false).map(|_| ())
}

/// Runs the whole job; `quiet` skips the final report (for `faststyle bench`).
pub fn stylize_video(args: &VideoArgs, quiet: bool) -> Result<Report> {
    crate::video::init_ffmpeg();
    if !args.input.is_file() {
        return Err(Error::Input {
            path: args.input.clone(),
            detail: if args.input.exists() {
                "is not a file".to_string()
            } else {
                "no such file".to_string()
            },
        });
    }
    let (style, style_path) = catalog::load(&args.style)?;
    let style_name = file_stem(&style_path);
    let output = args.output.clone().unwrap_or_else(|| {
        args.input
            .with_file_name(format!("{}-{style_name}.mp4", file_stem(&args.input)))
    });
    check_output(&args.input, &output, args.overwrite)?;
    let spec = args.device.resolve();
    device::check_device(spec)?;

    let source = Source::open(&args.input)?;
    if let (Some(start), Some(total)) = (args.start, source.duration_seconds)
        && start >= total
    {
        return Err(Error::Usage(format!(
            "--start {start} s is past the end of {} ({total:.2} s)",
            args.input.display()
        )));
    }
    let (width, height) = output_size(source.width, source.height, args.max_height);
    let temp = temp_output(&output)?;
    let settings = EncodeSettings {
        codec: args.codec.clone(),
        crf: args.crf,
        preset: args.preset.clone(),
    };
    let mut warnings = Vec::new();
    let sink = Sink::open(
        temp.path(),
        &output,
        &source,
        width,
        height,
        &settings,
        &mut warnings,
    )?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let batch = args
        .batch
        .map(|b| b as usize)
        .unwrap_or(if spec == DeviceSpec::Cpu { 1 } else { 4 });
    eprintln!(
        "{} ({}x{} {:?}, {:.3} fps{}) -> {} ({}x{} {} {:?}), style {} ({}), device {spec}, batch {batch}",
        args.input.display(),
        source.width,
        source.height,
        source.pixel_format,
        f64::from(source.frame_rate),
        source
            .rotation()
            .filter(|r| r.abs() > 0.5)
            .map(|r| format!(", rotated {r:.0}°"))
            .unwrap_or_default(),
        output.display(),
        sink.width,
        sink.height,
        settings.codec,
        sink.pixel_format,
        style_name,
        style.config.describe(),
    );
    let config = PipelineConfig {
        batch,
        width: sink.width,
        height: sink.height,
        start: args.start,
        duration: args.duration,
    };
    interrupt::install();
    let report = device::dispatch(
        spec,
        Job {
            source,
            sink,
            style,
            style_path,
            options: StyleOptions {
                preserve_color: args.preserve_color,
                strength: args.strength,
            },
            one_at_a_time: spec == DeviceSpec::Cpu,
            config,
        },
    )?;
    let persisted = if args.overwrite {
        temp.persist(&output)
    } else {
        temp.persist_noclobber(&output)
    };
    persisted.map_err(|e| match e.error.kind() {
        std::io::ErrorKind::AlreadyExists => Error::OutputExists {
            path: output.clone(),
        },
        _ => Error::Output {
            path: output.clone(),
            detail: fsutil::describe_io(&e.error),
        },
    })?;
    if !quiet {
        print_report(&report, &output);
    }
    Ok(report)
}

struct Job {
    source: Source,
    sink: Sink,
    style: StyleFile,
    style_path: PathBuf,
    options: StyleOptions,
    one_at_a_time: bool,
    config: PipelineConfig,
}

impl BackendTask for Job {
    type Output = Result<Report>;

    fn run<B: Kernels>(self, device: B::Device) -> Result<Report> {
        let model = self.style.to_model::<B>(&device, &self.style_path)?;
        let stylizer = Stylizer::new(model, device, self.options, self.one_at_a_time);
        pipeline::run(self.source, self.sink, stylizer, &self.config)
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string())
}

fn check_output(input: &Path, output: &Path, overwrite: bool) -> Result<()> {
    if fsutil::same_file(input, output) {
        return Err(Error::Usage(format!(
            "{} is both input and output; choose another output",
            input.display()
        )));
    }
    if output.is_dir() {
        return Err(Error::Output {
            path: output.to_path_buf(),
            detail: "is a folder; give a file name".to_string(),
        });
    }
    if !overwrite && output.exists() {
        return Err(Error::OutputExists {
            path: output.to_path_buf(),
        });
    }
    if output.extension().is_none() {
        return Err(Error::Output {
            path: output.to_path_buf(),
            detail: "has no extension to pick the container by (use .mp4, .mkv or .mov)"
                .to_string(),
        });
    }
    Ok(())
}

/// A hidden temporary file beside the output with the output's extension, so FFmpeg picks
/// the same container; renamed into place only when the video is complete.
fn temp_output(output: &Path) -> Result<tempfile::NamedTempFile> {
    fsutil::temp_beside(output, true).map_err(|e| Error::Output {
        path: output.to_path_buf(),
        detail: fsutil::describe_io(&e),
    })
}

/// The frame size after `--max-height`: aspect kept, even sides (encoders need them).
pub fn output_size(width: u32, height: u32, max_height: Option<u32>) -> (u32, u32) {
    match max_height {
        Some(max) if height > max => {
            let h = max & !1;
            let w = ((width as f64 * h as f64 / height as f64 / 2.0).round() as u32 * 2).max(2);
            (w, h)
        }
        _ => (width, height),
    }
}

fn print_report(report: &Report, output: &Path) {
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let wall = report.wall.as_secs_f64();
    eprintln!(
        "wrote {} ({} frames in {}, {:.2} fps; {} copied packets)",
        output.display(),
        report.frames_written,
        format_duration(wall),
        report.frames_written as f64 / wall.max(1e-9),
        report.copied_packets
    );
    let stages = [
        ("decode", &report.decode),
        ("stylize", &report.stylize),
        ("encode", &report.encode),
    ];
    for (name, s) in stages {
        eprintln!(
            "  {name:<8} {:>9.2} fps when busy ({:>6.1} s busy, waited {:>6.1} s for input, {:>6.1} s for the next stage)",
            s.fps(),
            s.busy().as_secs_f64(),
            s.waited_for_input.as_secs_f64(),
            s.waited_for_output.as_secs_f64()
        );
    }
    if let Some((name, _)) = stages.iter().min_by(|a, b| a.1.fps().total_cmp(&b.1.fps())) {
        eprintln!("  the {name} stage sets the pace");
    }
}

#[cfg(test)]
mod tests {
    use super::output_size;

    #[test]
    fn max_height_keeps_aspect_with_even_sides() {
        assert_eq!(output_size(1920, 1080, Some(720)), (1280, 720));
        assert_eq!(output_size(1920, 1080, Some(2000)), (1920, 1080));
        assert_eq!(output_size(321, 179, Some(101)), (180, 100));
        assert_eq!(output_size(321, 179, None), (321, 179));
    }
}
