//! `faststyle live`: a camera or any video input, stylized as it comes.

use std::path::{Path, PathBuf};

use crate::catalog;
use crate::cli::LiveArgs;
use crate::device::{self, BackendTask};
use crate::error::{Error, Result};
use crate::interrupt;
use crate::kernels::Kernels;
use crate::live::capture::CaptureConfig;
use crate::live::record::Recorder;
use crate::live::{self, LiveConfig, LiveReport, LiveStyle};
use crate::model::StyleFile;
use crate::stylize::{StyleOptions, Stylizer};
use crate::video::destination::Destination;
use crate::video::endpoint::Endpoint;
use crate::video::sink::{EncodeSettings, Sink, Timing};
use crate::video::source::Source;

const DEFAULT_CAMERA: &str = "/dev/video0";
/// Live is about responsiveness: the default size keeps a CPU near interactive rates.
const DEFAULT_MAX_LINES: u32 = 480;

pub fn run(args: LiveArgs) -> Result<()> {
    crate::video::init_ffmpeg();
    let input = match &args.input {
        Some(path) => Endpoint::parse(path),
        None => Endpoint::File(PathBuf::from(DEFAULT_CAMERA)),
    };
    let camera = matches!(&input, Endpoint::File(p) if is_video_device(p));
    if let Endpoint::File(path) = &input
        && !path.exists()
    {
        return Err(if camera {
            no_camera(path)
        } else {
            Error::Input {
                path: path.clone(),
                detail: "no such file".to_string(),
            }
        });
    }
    let input_format = args
        .input_format
        .clone()
        .or_else(|| camera.then(|| "v4l2".to_string()));
    let window = wants_window(&args)?;
    let styles = load_styles(&args.styles)?;

    let destination = args
        .output
        .as_ref()
        .map(|o| {
            Destination::prepare(
                &Endpoint::parse(o),
                &input,
                args.format.as_deref(),
                args.overwrite,
            )
        })
        .transpose()?;
    let spec = args.device.resolve();
    device::check_device(spec)?;
    let options = args.style_args.options(spec)?;
    let source = Source::open(&input, input_format.as_deref(), &args.input_options).map_err(
        |e| match e {
            Error::Input { path, detail } if camera => Error::Input {
                path,
                detail: format!("no camera could be opened through FFmpeg's v4l2 input ({detail})"),
            },
            e => e,
        },
    )?;
    let (width, height) = args
        .size
        .unwrap_or_else(|| default_size(source.width, source.height));
    let recorder = match &destination {
        Some(d) => {
            let mut warnings = Vec::new();
            let sink = Sink::open(
                &d.url(),
                &d.name(),
                args.format.as_deref(),
                d.streaming(),
                Timing::WallClock,
                &source,
                width,
                height,
                &EncodeSettings {
                    codec: args.codec.clone(),
                    crf: args.crf,
                    preset: args.preset.clone(),
                },
                &mut warnings,
            )?;
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            Some(Recorder::new(sink))
        }
        None => None,
    };
    eprintln!(
        "{} ({}x{}, {:.3} fps) -> {} at {width}x{height}{}, styles {}, device {spec}{}",
        source.path.display(),
        source.width,
        source.height,
        f64::from(source.frame_rate),
        if window { "window" } else { "no window" },
        destination
            .as_ref()
            .map(|d| format!(", recording to {}", d.name().display()))
            .unwrap_or_default(),
        styles
            .iter()
            .map(|(name, _, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        if window {
            "; keys: n/p style, s snapshot, q quit"
        } else {
            "; Ctrl-C stops"
        },
    );
    interrupt::install();
    let report = device::dispatch(
        spec,
        Job {
            source,
            styles,
            options,
            config: LiveConfig {
                capture: CaptureConfig {
                    width,
                    height,
                    realtime: args.realtime,
                    duration: args.duration,
                },
                window,
                snapshot_dir: args.snapshot_dir.clone(),
            },
            recorder,
        },
    )?;
    let recorded_to = destination.as_ref().map(|d| d.name());
    if let Some(d) = destination {
        d.commit(args.overwrite)?;
    }
    print_report(&report, recorded_to.as_deref());
    Ok(())
}

struct Job {
    source: Source,
    styles: Vec<(String, StyleFile, PathBuf)>,
    options: StyleOptions,
    config: LiveConfig,
    recorder: Option<Recorder>,
}

impl BackendTask for Job {
    type Output = Result<LiveReport>;

    fn run<B: Kernels>(self, device: B::Device) -> Result<LiveReport> {
        let styles = self
            .styles
            .into_iter()
            .map(|(name, file, path)| {
                let model = file.to_model::<B>(&device, &path)?;
                Ok(LiveStyle {
                    name,
                    stylizer: Stylizer::new(model, device.clone(), self.options, true),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        live::run(self.source, styles, self.config, self.recorder)
    }
}

fn is_video_device(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.starts_with("/dev/video"))
}

/// "No camera at /dev/video0", with what was tried and what this machine has instead.
fn no_camera(path: &Path) -> Error {
    let mut found: Vec<String> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("video"))
        .map(|n| format!("/dev/{n}"))
        .collect();
    found.sort();
    let others = if found.is_empty() {
        "this machine has no /dev/video* devices".to_string()
    } else {
        format!("video devices here: {}", found.join(", "))
    };
    Error::Usage(format!(
        "no camera at {}: tried FFmpeg's v4l2 input on {}; {others} (give a file or URL as INPUT to stylize something else)",
        path.display(),
        path.display()
    ))
}

fn wants_window(args: &LiveArgs) -> Result<bool> {
    if args.no_window && !args.window {
        return Ok(false);
    }
    let available = live::window::display_available();
    if args.window && !available {
        return Err(Error::Usage(if cfg!(feature = "window") {
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); use --no-window"
        } else {
            "this faststyle was built without the window (cargo feature `window`); use --no-window"
        }
        .to_string()));
    }
    Ok(available)
}

/// The styles to cycle through: those given, or the one given followed by every other
/// installed style.
fn load_styles(given: &[String]) -> Result<Vec<(String, StyleFile, PathBuf)>> {
    let mut names: Vec<String> = given.to_vec();
    if given.len() == 1 {
        let (installed, _) = catalog::list();
        let first = catalog::resolve(&given[0])?;
        names.extend(
            installed
                .into_iter()
                .filter(|e| e.path != first)
                .map(|e| e.name),
        );
    }
    names
        .into_iter()
        .map(|name| {
            let (file, path) = catalog::load(&name)?;
            let label = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(name);
            Ok((label, file, path))
        })
        .collect()
}

fn default_size(width: u32, height: u32) -> (u32, u32) {
    crate::cmd::video::output_size(width, height, Some(DEFAULT_MAX_LINES))
}

fn print_report(report: &LiveReport, recorded_to: Option<&Path>) {
    let (latency_mean, latency_max) = live::mean_max_ms(&report.latencies);
    let (network_mean, _) = live::mean_max_ms(&report.network);
    eprintln!(
        "live: showed {} of {} frames ({} dropped) in {:.1} s: {:.2} fps; latency mean {latency_mean:.0} ms, max {latency_max:.0} ms; network {network_mean:.0} ms a frame",
        report.shown,
        report.captured,
        report.dropped,
        report.wall.as_secs_f64(),
        report.fps(),
    );
    if let Some(path) = recorded_to {
        eprintln!("recorded {} frames to {}", report.recorded, path.display());
    }
}
