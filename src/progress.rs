//! Progress of long work: an indicatif bar on a terminal, plain periodic lines otherwise
//! (logs, CI, pipes).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    unit: &'static str,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    started: Instant,
    last_log: Instant,
    last_done: u64,
    plain_lines: bool,
}

impl Progress {
    /// `unit` names what is counted ("frames", "steps").
    pub fn new(total: Option<u64>, unit: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if total.is_some() {
                format!(
                    "{{bar:40.cyan/blue}} {{pos}}/{{len}} {unit}  {{per_sec}}  ETA {{eta}}  {{msg}}"
                )
            } else {
                format!("{{spinner}} {{pos}} {unit}  {{per_sec}}  {{elapsed}}  {{msg}}")
            };
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        let now = Instant::now();
        Self {
            unit,
            bar,
            total,
            started: now,
            last_log: now,
            last_done: 0,
            plain_lines: true,
        }
    }

    pub fn update(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            if let Some(total) = self.total
                && done > total
            {
                bar.set_length(done);
            }
            bar.set_position(done);
            return;
        }
        if !self.plain_lines || done == self.last_done || self.last_log.elapsed() < LOG_EVERY {
            return;
        }
        self.last_log = Instant::now();
        self.last_done = done;
        let elapsed = self.started.elapsed().as_secs_f64();
        let fps = done as f64 / elapsed.max(1e-9);
        match self.total {
            Some(total) if total >= done => {
                let eta = (total - done) as f64 / fps.max(1e-9);
                eprintln!(
                    "{} {done}/{total} ({:.0}%), {fps:.2}/s, ETA {}",
                    self.unit,
                    100.0 * done as f64 / total.max(1) as f64,
                    format_duration(eta)
                );
            }
            _ => eprintln!(
                "frame {done}, {fps:.2} fps, {} elapsed",
                format_duration(elapsed)
            ),
        }
    }

    /// Whether a live bar is shown (else plain lines are printed, or none: see `quiet`).
    pub fn is_bar(&self) -> bool {
        self.bar.is_some()
    }

    /// Text shown after the bar (e.g. the current losses).
    pub fn set_message(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        }
    }

    /// Turns off the plain progress lines, for callers that log their own.
    pub fn quiet(mut self) -> Self {
        self.plain_lines = false;
        self
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
