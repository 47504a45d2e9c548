//! Video fixtures made with the ffmpeg CLI, and ffprobe-based checks.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the ffmpeg CLI quietly; panics with its stderr if it fails (a broken fixture).
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg CLI installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ffprobe's JSON for a file: streams (with counted frames) and format.
pub fn probe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe installed");
    assert!(out.status.success(), "ffprobe failed on {}", path.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn streams(path: &Path) -> Vec<serde_json::Value> {
    probe(path)["streams"].as_array().unwrap().clone()
}

pub fn video_stream(path: &Path) -> serde_json::Value {
    streams(path)
        .into_iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream")
}

pub fn frame_count(path: &Path) -> u64 {
    video_stream(path)["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Presentation times of every video frame, as ffprobe prints them.
pub fn frame_times(path: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Runs the ffmpeg CLI on `input` with `args` after it and returns what it wrote to stdout.
fn ffmpeg_stdout(input: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(input)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// MD5 of the packets of one stream, stream-copied (`ffmpeg -map 0:SPEC -c copy -f md5`).
pub fn packets_md5(path: &Path, spec: &str) -> String {
    let map = format!("0:{spec}");
    let out = ffmpeg_stdout(path, &["-map", &map, "-c", "copy", "-f", "md5", "-"]);
    String::from_utf8_lossy(&out).trim().to_string()
}

/// All video frames decoded to 8-bit RGB.
pub fn rgb_frames(path: &Path) -> Vec<u8> {
    ffmpeg_stdout(
        path,
        &["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    )
}

pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "different amounts of video");
    let sum: u64 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    sum as f64 / a.len() as f64
}

/// A test clip: moving colour pattern (testsrc2) and, if `audio`, a stereo tone.
pub fn make_clip(
    dir: &Path,
    name: &str,
    size: &str,
    rate: u32,
    seconds: f64,
    audio: bool,
    extra: &[&str],
) -> PathBuf {
    let path = dir.join(name);
    let video = format!("testsrc2=size={size}:rate={rate}");
    let t = seconds.to_string();
    let mut args = vec!["-f", "lavfi", "-i", &video];
    if audio {
        args.extend([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-ac",
            "2",
        ]);
    }
    args.extend(["-t", &t]);
    args.extend(extra);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path
}

pub fn stream_duration(stream: &serde_json::Value) -> f64 {
    stream["duration"].as_str().unwrap().parse().unwrap()
}

/// The common fixture: an H.264 clip at 25 fps, with AAC stereo audio if `audio`.
pub fn h264_clip(dir: &Path, name: &str, size: &str, seconds: f64, audio: bool) -> PathBuf {
    let codecs: &[&str] = if audio {
        &["-c:v", "libx264", "-c:a", "aac"]
    } else {
        &["-c:v", "libx264"]
    };
    make_clip(dir, name, size, 25, seconds, audio, codecs)
}
