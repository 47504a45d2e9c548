//! End-to-end tests of `faststyle live`: the real binary on generated clips read with
//! --realtime (as a camera delivers frames), headless, streaming, and in a window under
//! Xvfb driven with xdotool (both installed by scripts/setup.sh).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::media::*;
use common::*;

/// A deliberately slow style for a 30 fps source on a CPU: a full-width network.
fn slow_style(dir: &Path, name: &str) -> PathBuf {
    write_style(&dir.join(format!("{name}.safetensors")), 1.0)
}

fn clip(dir: &Path, seconds: f64) -> PathBuf {
    make_clip(
        dir,
        "cam.mkv",
        "160x120",
        30,
        seconds,
        false,
        &["-c:v", "libx264"],
    )
}

/// The figures of the closing report line.
#[derive(Debug)]
struct Figures {
    shown: f64,
    captured: f64,
    dropped: f64,
    latency_max_ms: f64,
    network_ms: f64,
}

fn figures(stderr: &str) -> Figures {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("live: showed"))
        .unwrap_or_else(|| panic!("no report line: {stderr}"));
    let numbers: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.trim_matches('.').parse().ok())
        .collect();
    // showed S of C frames (D dropped) in W s: F fps; latency mean M ms, max X ms; network N ms
    assert_eq!(numbers.len(), 8, "{line}");
    Figures {
        shown: numbers[0],
        captured: numbers[1],
        dropped: numbers[2],
        latency_max_ms: numbers[6],
        network_ms: numbers[7],
    }
}

#[test]
fn drops_stale_frames_keeps_latency_bounded_and_records_wall_clock_time() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), 4.0);
    let style = slow_style(dir.path(), "slow");
    let recording = dir.path().join("rec.mkv");
    let started = Instant::now();
    let out = faststyle()
        .arg("live")
        .arg(&input)
        .args(["--realtime", "--no-window", "--style"])
        .arg(&style)
        .arg("-o")
        .arg(&recording)
        .output()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let f = figures(&stderr);
    // Read at its own rate, the clip takes its length, whatever the network's speed.
    assert!(wall > 3.5, "--realtime read the clip in {wall:.1} s");
    assert_eq!(f.captured, 120.0, "{stderr}");
    assert!(
        f.network_ms > 1000.0 / 30.0,
        "the style is not slow here: {f:?}"
    );
    assert!(
        f.dropped > 0.0 && f.shown + f.dropped == f.captured,
        "{f:?}"
    );
    // A shown frame waited at most for the run in progress, then its own: nothing like the
    // seconds of backlog that showing every frame would build up.
    assert!(
        f.latency_max_ms < 2.0 * f.network_ms + 400.0,
        "latency not bounded: {f:?}"
    );
    // The recording holds what was shown, at the times it was shown.
    assert!(
        stderr.contains(&format!("recorded {} frames", f.shown)),
        "{stderr}"
    );
    let times: Vec<f64> = frame_times(&recording)
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(times.len() as f64, f.shown);
    assert!(times.windows(2).all(|w| w[1] > w[0]));
    let span = times.last().unwrap() - times[0];
    let expected = (f.shown - 1.0) * f.network_ms / 1000.0;
    assert!(
        (span - expected).abs() < 0.25 * expected + 0.3,
        "recording spans {span:.2} s; {} frames a network run apart span about {expected:.2} s",
        f.shown
    );
}

#[test]
fn streams_to_udp() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), 3.0);
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("udp://127.0.0.1:{port}");
    // The receiver listens first; it gives up 4 s after the stream stops.
    let receiver = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
        ])
        .args(["-of", "json"])
        .arg(format!("{url}?timeout=4000000"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = faststyle()
        .arg("live")
        .arg(&input)
        .args(["--realtime", "--no-window", "--style"])
        .arg(write_style(&dir.path().join("s.safetensors"), 0.25))
        .args(["-f", "mpegts", "-o", &url])
        .output()
        .unwrap();
    assert_ok(&out);
    let received = receiver.wait_with_output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&received.stdout).unwrap();
    let stream = &json["streams"][0];
    assert_eq!(stream["codec_name"], "h264", "{json}");
    assert_eq!(
        (stream["width"].clone(), stream["height"].clone()),
        (160.into(), 120.into())
    );
}

/// A virtual X display for the duration of a test.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "480x360x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb installed (scripts/setup.sh)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            child,
            display: format!(":{}", line.trim()),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e} (installed by scripts/setup.sh)"))
    }

    /// The whole screen as RGB.
    fn screenshot(&self, path: &Path) -> image::RgbImage {
        ffmpeg(&[
            "-f",
            "x11grab",
            "-video_size",
            "480x360",
            "-i",
            &self.display,
            "-frames:v",
            "1",
            path.to_str().unwrap(),
        ]);
        image::open(path).unwrap().to_rgb8()
    }

    /// Focuses the window titled like `title` and types `key` into it.
    fn key(&self, window: &str, key: &str) {
        let found = self.run("xdotool", &["search", "--name", window]);
        let id = String::from_utf8_lossy(&found.stdout)
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no window named {window}"))
            .to_string();
        assert!(
            self.run("xdotool", &["windowfocus", "--sync", &id])
                .status
                .success()
        );
        assert!(self.run("xdotool", &["key", key]).status.success());
    }

    fn window_name(&self, window: &str) -> String {
        let out = self.run("xdotool", &["search", "--name", window, "getwindowname"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn window_shows_stylized_frames_and_answers_keys() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), 30.0);
    let first = write_style(&dir.path().join("first.safetensors"), 0.25);
    let second = write_style(&dir.path().join("second.safetensors"), 0.5);
    let x = Xvfb::start();
    let started = Instant::now();
    let child = Command::new(assert_cmd::cargo::cargo_bin("faststyle"))
        .arg("live")
        .arg(&input)
        .args(["--realtime", "--window", "--style"])
        .arg(&first)
        .arg("--style")
        .arg(&second)
        .arg("--snapshot-dir")
        .arg(dir.path())
        .env("DISPLAY", &x.display)
        .env("XDG_RUNTIME_DIR", dir.path())
        .env_remove("WAYLAND_DISPLAY")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the window's title", Duration::from_secs(20), || {
        x.window_name("faststyle live").contains("fps")
    });
    assert!(x.window_name("faststyle live").contains("first"));

    // On screen: a picture (not blank) that is not any raw frame of the input.
    let shot = x.screenshot(&dir.path().join("shot.png"));
    let (w, h) = shot.dimensions();
    let window = image::imageops::crop_imm(&shot, (w - 160) / 2, (h - 120) / 2, 160, 120)
        .to_image()
        .into_raw();
    let mean = window.iter().map(|&v| v as f64).sum::<f64>() / window.len() as f64;
    let spread = (window
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / window.len() as f64)
        .sqrt();
    assert!(spread > 10.0, "the window looks blank (spread {spread:.1})");
    let raw = rgb_frames(&input);
    let closest_raw = raw
        .chunks(window.len())
        .map(|frame| mean_abs_diff(frame, &window))
        .fold(f64::INFINITY, f64::min);
    assert!(
        closest_raw > 10.0,
        "the window shows the raw input (mean difference {closest_raw:.1})"
    );

    // s saves what is shown; n switches to the next style; q quits long before the clip ends.
    x.key("faststyle live", "s");
    let snapshot = dir.path().join("snapshot-0001.png");
    wait_for("the snapshot", Duration::from_secs(10), || {
        snapshot.exists()
    });
    assert_eq!(image::open(&snapshot).unwrap().width(), 160);
    x.key("faststyle live", "n");
    wait_for("the second style", Duration::from_secs(10), || {
        x.window_name("faststyle live").contains("second")
    });
    x.key("faststyle live", "q");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "q did not quit: the run lasted the whole clip"
    );
}

#[test]
fn a_missing_camera_or_display_is_named() {
    let out = faststyle()
        .args(["live", "/dev/video99", "--no-window"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "no camera at /dev/video99");
    assert_clean_failure(&out, "v4l2");
    if !Path::new("/dev/video0").exists() {
        let out = faststyle().args(["live", "--no-window"]).output().unwrap();
        assert_clean_failure(&out, "no camera at /dev/video0");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = faststyle()
        .arg("live")
        .arg(clip(dir.path(), 0.5))
        .arg("--window")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_clean_failure(&out, "no display to open a window on");
}
