//! `faststyle video`: stylize a video file, keeping its audio and everything else.

use crate::kernels::Kernels;
use ffmpeg_next::format::Pixel;
use std::path::{Path, PathBuf};

use crate::catalog;
use crate::cli::VideoArgs;
use crate::device::{self, DeviceList, DeviceSpec, MultiDeviceTask};
use crate::error::{Error, Result};
use crate::interrupt;
use crate::model::StyleFile;
use crate::progress::format_duration;
use crate::stylize::{StyleOptions, Stylizer};
use crate::video::batch_choice;
use crate::video::chunk::{self, ChunkSpec, FrameIndex, Manifest};
use crate::video::destination::Destination;
use crate::video::endpoint::Endpoint;
use crate::video::pipeline::{self, PipelineConfig, Report};
use crate::video::sink::{EncodeSettings, Sink, Timing};
use crate::video::source::Source;

pub fn run(args: VideoArgs) -> Result<()> {
    stylize_video(&args, false).map(|_| ())
}

/// Runs the whole job; `quiet` skips the final report (for `faststyle bench`).
pub fn stylize_video(args: &VideoArgs, quiet: bool) -> Result<Report> {
    crate::video::init_ffmpeg();
    let input = Endpoint::parse(&args.input);
    if let Endpoint::File(path) = &input
        && !path.is_file()
    {
        return Err(Error::Input {
            path: path.clone(),
            detail: if path.exists() {
                "is not a file".to_string()
            } else {
                "no such file".to_string()
            },
        });
    }
    let (style, style_path) = catalog::load(&args.style)?;
    let style_name = file_stem(&style_path);
    if let Some(spec) = ChunkSpec::resolve(args.chunk.as_deref(), args.chunks, args.chunk_index)? {
        return stylize_chunk(args, spec, &input, style, style_path, quiet);
    }
    let output = match (args.output.as_ref().or(args.output_arg.as_ref()), &input) {
        (Some(o), _) => Endpoint::parse(o),
        (None, Endpoint::File(path)) => {
            Endpoint::File(path.with_file_name(format!("{}-{style_name}.mp4", file_stem(path))))
        }
        (None, _) => {
            return Err(Error::Usage(
                "give -o OUTPUT when the input is stdin, a URL or a picture sequence".to_string(),
            ));
        }
    };
    let destination =
        Destination::prepare(&output, &input, args.format.as_deref(), args.overwrite)?;
    let devices = DeviceList::resolve(args.device.device.as_ref())?;
    let options = args.style_args.options(devices[0])?;

    let source = Source::open(&input, args.input_format.as_deref(), &args.input_options)?;
    if let (Some(start), Some(total)) = (args.start, source.duration_seconds)
        && start >= total
    {
        return Err(Error::Usage(format!(
            "--start {start} s is past the end of {} ({total:.2} s)",
            source.path.display()
        )));
    }
    let (width, height) = output_size(source.width, source.height, args.max_height);
    let settings = encode_settings(args);
    let mut warnings = Vec::new();
    let sink = Sink::open(
        &destination.url(),
        &destination.name(),
        args.format.as_deref(),
        destination.streaming(),
        Timing::Source,
        &source,
        width,
        height,
        &settings,
        &mut warnings,
    )?;
    if destination.streaming() {
        warnings.push(format!(
            "{} is written as frames are done: if this run fails or is stopped, what was sent stays, cut short",
            destination.name().display()
        ));
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let batch = batch_size(args, &devices);
    let yuv = yuv_frames(&devices, &options, source.pixel_format);
    eprintln!(
        "{} ({}x{} {:?}, {:.3} fps{}) -> {} ({}x{} {} {:?}), style {} ({}), {}, batch {}{}",
        source.path.display(),
        source.width,
        source.height,
        source.pixel_format,
        f64::from(source.frame_rate),
        source
            .rotation()
            .filter(|r| r.abs() > 0.5)
            .map(|r| format!(", rotated {r:.0}°"))
            .unwrap_or_default(),
        destination.name().display(),
        sink.width,
        sink.height,
        sink.codec,
        sink.pixel_format,
        style_name,
        style.config.describe(),
        describe_devices(&devices, &options),
        if batch == 0 {
            "to be measured".to_string()
        } else {
            batch.to_string()
        },
        if yuv { ", frames as 8-bit 4:2:0" } else { "" },
    );
    let config = PipelineConfig {
        batch,
        width: sink.width,
        height: sink.height,
        start: args.start,
        duration: args.duration,
        frames: None,
        yuv_frames: yuv,
    };
    let report = run_job(&devices, source, sink, (style, style_path, options), config)?;
    let name = destination.name();
    destination.commit(args.overwrite)?;
    if !quiet {
        print_report(&report, &name);
    }
    Ok(report)
}

/// `--chunk K/N`: writes one chunk of a split run into the output folder, or skips it
/// when a verified one is already there (a job engine's retry is a resume).
fn stylize_chunk(
    args: &VideoArgs,
    spec: ChunkSpec,
    input: &Endpoint,
    style: StyleFile,
    style_path: PathBuf,
    quiet: bool,
) -> Result<Report> {
    let Endpoint::File(input_path) = input else {
        return Err(Error::Usage(
            "--chunk needs a video file as the input (every chunk's process reads it)".to_string(),
        ));
    };
    let dir = args
        .output
        .as_ref()
        .or(args.output_arg.as_ref())
        .ok_or_else(|| {
            Error::Usage("--chunk needs -o DIR, the folder every chunk is written to".to_string())
        })?;
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Output {
            path: dir.clone(),
            detail: "is a file; with --chunk the output is the folder of chunks".to_string(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Output {
        path: dir.clone(),
        detail: crate::fsutil::describe_io(&e),
    })?;
    let index = FrameIndex::cached(input_path, dir)?;
    let range = index.range(spec);
    let settings = chunk_settings(args, &style, &style_path);
    let (file, manifest_path) = chunk::paths(dir, spec);
    let label = format!("chunk {} of {}", spec.index, spec.count);
    if let Ok(done) = Manifest::read(&manifest_path) {
        // The same source may sit at another path on another machine.
        let fresh = Manifest {
            bytes: done.bytes,
            crc32: done.crc32.clone(),
            source_name: done.source_name.clone(),
            ..Manifest::new_unchecked(spec, &index, input_path, settings.clone())
        };
        if done == fresh && done.verify_file(dir).is_none() {
            eprintln!(
                "{label} ({} frames) is already in {} and verifies; skipped",
                done.frames,
                dir.display()
            );
            return Ok(Report::default());
        }
    }
    // Whatever is there is stale or unfinished: it is replaced, and the temporary file of
    // a killed earlier attempt goes.
    let _ = std::fs::remove_file(&manifest_path);
    chunk::remove_unfinished(dir, spec);
    let destination = Destination::prepare(
        &Endpoint::File(file.clone()),
        input,
        Some(chunk::CHUNK_FORMAT),
        true,
    )?;
    let devices = DeviceList::resolve(args.device.device.as_ref())?;
    let options = args.style_args.options(devices[0])?;
    let source = Source::open(input, args.input_format.as_deref(), &args.input_options)?;
    let (width, height) = output_size(source.width, source.height, args.max_height);
    let settings_of_encoder = encode_settings(args);
    let mut warnings = Vec::new();
    let sink = Sink::open(
        &destination.url(),
        &destination.name(),
        Some(chunk::CHUNK_FORMAT),
        false,
        Timing::Chunk,
        &source,
        width,
        height,
        &settings_of_encoder,
        &mut warnings,
    )?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let first = spec.frames(index.frames()).start;
    eprintln!(
        "{} -> {} ({label}: frames {first}..{} of {}), style {}, {}",
        input_path.display(),
        file.display(),
        first + range.count,
        index.frames(),
        file_stem(&style_path),
        describe_devices(&devices, &options),
    );
    let config = PipelineConfig {
        batch: batch_size(args, &devices),
        width: sink.width,
        height: sink.height,
        start: None,
        duration: None,
        frames: Some(range),
        yuv_frames: yuv_frames(&devices, &options, source.pixel_format),
    };
    let report = run_job(&devices, source, sink, (style, style_path, options), config)?;
    if report.frames_written != range.count {
        return Err(Error::Input {
            path: input_path.clone(),
            detail: format!(
                "{label} should hold {} frames but {} could be decoded; the source is damaged there",
                range.count, report.frames_written
            ),
        });
    }
    destination.commit(true)?;
    Manifest::new(spec, &index, input_path, settings, &file)?.write(&manifest_path)?;
    if !quiet {
        print_report(&report, &file);
    }
    Ok(report)
}

/// What must be the same for chunks to belong together: the style's weights and every
/// setting that changes the pictures or the encoding.
fn chunk_settings(args: &VideoArgs, style: &StyleFile, style_path: &Path) -> String {
    format!(
        "style {} {:08x}; codec {} crf {} preset {}; max-height {}; preserve-color {}; strength {}; stroke-scale {}",
        file_stem(style_path),
        style.fingerprint(),
        args.codec.as_deref().unwrap_or("default"),
        args.crf,
        args.preset,
        args.max_height
            .map_or("none".to_string(), |h| h.to_string()),
        args.style_args.preserve_color,
        args.style_args.strength,
        args.style_args.stroke_scale
    )
}

/// Stylizes `source` into `sink` on `devices`, one worker each.
fn run_job(
    devices: &[DeviceSpec],
    source: Source,
    sink: Sink,
    (style, style_path, options): (StyleFile, PathBuf, StyleOptions),
    config: PipelineConfig,
) -> Result<Report> {
    interrupt::install();
    let workers: Vec<DeviceSpec> = devices
        .iter()
        .flat_map(|d| std::iter::repeat_n(*d, workers_per_device(*d)))
        .collect();
    device::dispatch_many(
        &workers,
        Job {
            source,
            sink,
            style,
            style_path,
            options,
            one_at_a_time: devices[0] == DeviceSpec::Cpu,
            names: workers.iter().map(|d| d.to_string()).collect(),
            config,
        },
    )
}

fn encode_settings(args: &VideoArgs) -> EncodeSettings {
    EncodeSettings {
        codec: args.codec.clone(),
        crf: args.crf,
        preset: args.preset.clone(),
    }
}

/// Frames cross to a GPU as 8-bit 4:2:0 planes and are converted there (1.5 bytes a
/// pixel each way instead of 12), when the source is 4:2:0 (4:2:2 and 4:4:4 sources would
/// lose chroma) and the options do not post-process RGB. The CPU takes f32 RGB from
/// swscale. `FASTSTYLE_FRAME_FORM=rgb` or `yuv` overrides the choice (to compare the two,
/// and to test the 4:2:0 road without a GPU).
fn yuv_frames(devices: &[DeviceSpec], options: &StyleOptions, source: Pixel) -> bool {
    match std::env::var("FASTSTYLE_FRAME_FORM").as_deref() {
        Ok("rgb") => false,
        Ok("yuv") => true,
        _ => devices[0] != DeviceSpec::Cpu && options.plain() && chroma_420(source),
    }
}

/// Whether frames of this format carry chroma at half resolution both ways.
fn chroma_420(format: Pixel) -> bool {
    matches!(
        format,
        Pixel::YUV420P
            | Pixel::YUVJ420P
            | Pixel::NV12
            | Pixel::NV21
            | Pixel::YUV420P10LE
            | Pixel::YUV420P10BE
            | Pixel::YUV420P12LE
            | Pixel::P010LE
    )
}

/// Frames per network run: `--batch`, else 1 on the CPU (see `Stylizer`), and on a GPU 0:
/// measured when the workers start (`batch_choice`).
fn batch_size(args: &VideoArgs, devices: &[DeviceSpec]) -> usize {
    args.batch
        .map(|b| b as usize)
        .unwrap_or(if devices[0] == DeviceSpec::Cpu { 1 } else { 0 })
}

/// Workers (threads with their own copy of the network) per device: on a GPU two, so that
/// one's upload, download and host work overlap the other's network (double buffering);
/// `FASTSTYLE_GPU_WORKERS=N` sets another number (to measure the difference).
fn workers_per_device(spec: DeviceSpec) -> usize {
    if spec == DeviceSpec::Cpu {
        return 1;
    }
    std::env::var("FASTSTYLE_GPU_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(2)
}

fn describe_devices(devices: &[DeviceSpec], options: &StyleOptions) -> String {
    let precision = device::dtype_name(options.dtype);
    let per = workers_per_device(devices[0]);
    let workers = if per > 1 {
        format!(", {per} workers each")
    } else {
        String::new()
    };
    match devices {
        [one] => format!("device {one} ({precision}{workers})"),
        many => format!(
            "devices {} ({precision}{workers})",
            many.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

struct Job {
    source: Source,
    sink: Sink,
    style: StyleFile,
    style_path: PathBuf,
    options: StyleOptions,
    one_at_a_time: bool,
    names: Vec<String>,
    config: PipelineConfig,
}

impl MultiDeviceTask for Job {
    type Output = Result<Report>;

    fn run<B: Kernels>(mut self, devices: Vec<B::Device>) -> Result<Report> {
        let mut workers = Vec::with_capacity(devices.len());
        for (device, name) in devices.into_iter().zip(self.names) {
            let model = self.style.to_model::<B>(&device, &self.style_path)?;
            workers.push((
                name,
                Stylizer::new(model, device, self.options, self.one_at_a_time),
            ));
        }
        if self.config.batch == 0 {
            let config = &self.config;
            let (w, h) = (config.width as usize, config.height as usize);
            let (batch, timings) = batch_choice::measure(&workers[0].1, w, h, config.yuv_frames);
            let tried: Vec<String> = timings
                .iter()
                .map(|(b, fps)| format!("{b}: {fps:.1} fps"))
                .collect();
            eprintln!(
                "batch {batch}, chosen by measurement on {} at {w}x{h} ({})",
                workers[0].0,
                tried.join(", ")
            );
            self.config.batch = batch;
        }
        pipeline::run(self.source, self.sink, workers, &self.config)
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string())
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
    if report.workers.len() > 1 {
        for (i, (device, s)) in report.workers.iter().enumerate() {
            eprintln!(
                "    worker {i} on {device:<7} {:>9.2} fps when busy ({} frames, {:>6.1} s busy)",
                s.fps(),
                s.frames,
                s.busy().as_secs_f64()
            );
        }
    }
    if let Some((name, _)) = stages.iter().min_by(|a, b| a.1.fps().total_cmp(&b.1.fps())) {
        eprintln!("  the {name} stage sets the pace");
    }
}

#[cfg(test)]
mod tests {
    use super::output_size;

    #[test]
    fn frames_cross_as_4_2_0_only_from_4_2_0_sources_to_a_gpu_with_plain_options() {
        use super::{DeviceSpec, Pixel, StyleOptions, yuv_frames};
        let gpu = [DeviceSpec::Cuda(0)];
        let plain = StyleOptions::default();
        assert!(yuv_frames(&gpu, &plain, Pixel::YUV420P));
        assert!(yuv_frames(&gpu, &plain, Pixel::YUV420P10LE));
        assert!(!yuv_frames(&gpu, &plain, Pixel::YUV444P));
        assert!(!yuv_frames(&gpu, &plain, Pixel::YUV422P));
        assert!(!yuv_frames(&[DeviceSpec::Cpu], &plain, Pixel::YUV420P));
        let half = StyleOptions {
            strength: 0.5,
            ..plain
        };
        assert!(!yuv_frames(&gpu, &half, Pixel::YUV420P));
    }

    #[test]
    fn max_height_keeps_aspect_with_even_sides() {
        assert_eq!(output_size(1920, 1080, Some(720)), (1280, 720));
        assert_eq!(output_size(1920, 1080, Some(2000)), (1920, 1080));
        assert_eq!(output_size(321, 179, Some(101)), (180, 100));
        assert_eq!(output_size(321, 179, None), (321, 179));
    }
}
