//! `faststyle live`: a camera (or any input) stylized as it comes, newest frame first.
//!
//!   capture thread ──newest-frame slot──▶ stylize ──▶ window / recording
//!
//! The slot holds one frame: when the network is slower than the source, the frames it
//! could not take in time are dropped, so what is shown is never more than about one
//! network run old, however long the session.

pub mod capture;
pub mod record;
pub mod slot;
#[cfg(not(feature = "window"))]
#[path = "no_window.rs"]
pub mod window;
#[cfg(feature = "window")]
pub mod window;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::interrupt;
use crate::kernels::Kernels;
use crate::picture::Planar;
use crate::stylize::Stylizer;
use crate::video::source::Source;
use capture::CaptureConfig;
use record::Recorder;
use slot::{Latest, Take};

/// What the user asked for with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Quit,
    NextStyle,
    PreviousStyle,
    Snapshot,
}

/// A style ready to run, and its name for the title and report.
pub struct LiveStyle<B: Kernels> {
    pub name: String,
    pub stylizer: Stylizer<B>,
}

pub struct LiveConfig {
    pub capture: CaptureConfig,
    pub window: bool,
    pub snapshot_dir: PathBuf,
}

#[derive(Debug, Default)]
pub struct LiveReport {
    pub captured: u64,
    pub dropped: u64,
    pub shown: u64,
    pub recorded: u64,
    pub wall: Duration,
    /// Capture to shown, per shown frame.
    pub latencies: Vec<Duration>,
    /// One network run, per shown frame.
    pub network: Vec<Duration>,
    pub snapshots: Vec<PathBuf>,
}

impl LiveReport {
    pub fn fps(&self) -> f64 {
        self.shown as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Mean and largest of some durations, in milliseconds.
pub fn mean_max_ms(values: &[Duration]) -> (f64, f64) {
    let ms: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    (mean, ms.iter().copied().fold(0.0, f64::max))
}

pub fn run<B: Kernels>(
    source: Source,
    styles: Vec<LiveStyle<B>>,
    config: LiveConfig,
    mut recorder: Option<Recorder>,
) -> Result<LiveReport, Error> {
    let slot = Latest::default();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut report = LiveReport::default();
    let outcome = std::thread::scope(|scope| {
        let capture = scope.spawn(|| capture::run(source, &config.capture, &slot, &stop));
        let shown = show_loop(&styles, &config, &slot, &mut recorder, &mut report);
        stop.store(true, Ordering::Relaxed);
        let captured = capture
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the capture thread panicked".to_string())));
        // The display's error first; a capture error matters when nothing was shown.
        shown.and(captured.or_else(|e| if report.shown > 0 { Ok(()) } else { Err(e) }))
    });
    report.wall = started.elapsed();
    (report.captured, report.dropped) = slot.counts();
    outcome?;
    if let Some(recorder) = recorder {
        report.recorded = recorder.frames;
        recorder.finish()?;
    }
    Ok(report)
}

fn show_loop<B: Kernels>(
    styles: &[LiveStyle<B>],
    config: &LiveConfig,
    slot: &Latest,
    recorder: &mut Option<Recorder>,
    report: &mut LiveReport,
) -> Result<(), Error> {
    let mut current = 0usize;
    let mut display = if config.window {
        let size = (
            config.capture.width as usize,
            config.capture.height as usize,
        );
        Some(
            window::Display::open(&title(&styles[0].name, None), size.0, size.1).map_err(|e| {
                Error::Usage(format!("cannot open a window ({e}); use --no-window"))
            })?,
        )
    } else {
        None
    };
    let mut last: Option<Planar> = None;
    let mut last_title = Instant::now();
    let window_started = Instant::now();
    loop {
        if interrupt::interrupted() {
            return Ok(());
        }
        if let Some(display) = display.as_mut() {
            for command in display.commands() {
                match command {
                    Command::Quit => return Ok(()),
                    Command::NextStyle => current = (current + 1) % styles.len(),
                    Command::PreviousStyle => current = (current + styles.len() - 1) % styles.len(),
                    Command::Snapshot => {
                        if let Some(image) = &last {
                            report
                                .snapshots
                                .push(snapshot(image, &config.snapshot_dir)?);
                        }
                    }
                }
            }
        }
        let frame = match slot.take(Duration::from_millis(20)) {
            Take::Frame(frame) => frame,
            Take::Empty => {
                if let Some(display) = display.as_mut() {
                    display.poll();
                }
                continue;
            }
            Take::Ended => return Ok(()),
        };
        let run = Instant::now();
        let styled = styles[current]
            .stylizer
            .run(std::slice::from_ref(&frame.image))
            .pop()
            .expect("one frame in, one out");
        report.network.push(run.elapsed());
        if let Some(display) = display.as_mut() {
            display
                .show(&styled)
                .map_err(|e| Error::Usage(format!("the window failed ({e})")))?;
        }
        let shown = Instant::now();
        report.latencies.push(shown - frame.at);
        report.shown += 1;
        if let Some(recorder) = recorder.as_mut() {
            recorder.write(&styled, shown)?;
        }
        if let Some(display) = display.as_mut()
            && last_title.elapsed() > Duration::from_millis(500)
        {
            let (captured, dropped) = slot.counts();
            let fps = report.shown as f64 / window_started.elapsed().as_secs_f64();
            let latency = report.latencies.last().copied().unwrap_or_default();
            display.set_title(&title(
                &styles[current].name,
                Some((fps, latency, dropped, captured)),
            ));
            last_title = Instant::now();
        }
        last = Some(styled);
    }
}

fn title(style: &str, stats: Option<(f64, Duration, u64, u64)>) -> String {
    match stats {
        Some((fps, latency, dropped, captured)) => format!(
            "faststyle live: {style} | {fps:.1} fps | latency {:.0} ms | dropped {dropped} of {captured} | n/p style, s snapshot, q quit",
            latency.as_secs_f64() * 1e3
        ),
        None => format!("faststyle live: {style} | n/p style, s snapshot, q quit"),
    }
}

/// Saves the shown picture as the next free snapshot-NNNN.png in `dir`.
fn snapshot(image: &Planar, dir: &Path) -> Result<PathBuf, Error> {
    let path = (1..)
        .map(|i| dir.join(format!("snapshot-{i:04}.png")))
        .find(|p| !p.exists())
        .expect("a free name");
    crate::fsutil::write_atomically(&path, false, |w| {
        image
            .to_rgb()
            .write_to(w, image::ImageFormat::Png)
            .map_err(std::io::Error::other)
    })
    .map_err(|e| Error::Output {
        path: path.clone(),
        detail: crate::fsutil::describe_io(&e),
    })?;
    eprintln!("saved {}", path.display());
    Ok(path)
}
