//! `faststyle eval --temporal`: the flicker measures, end to end.
// Built without the `video` feature, the video tests and their helpers drop out.
#![cfg_attr(not(feature = "video"), allow(unused))]

mod common;

use common::media::h264_clip;
use common::{assert_clean_failure, assert_ok, faststyle, write_style};

fn eval_json(args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = faststyle()
        .args(["eval", "--temporal", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[cfg(feature = "video")]
#[test]
fn synthetic_clip_and_video_measures() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("wobbly.safetensors"), 0.25);
    let report = eval_json(&["--style".as_ref(), style.as_os_str()]);
    let r = &report[0];
    assert_eq!(r["style"], "wobbly");
    let e = &r["synthetic"];
    // The input pans by whole pixels without noise: its own error there is exactly 0; the
    // still stretch carries the mild noise (σ 2 levels: mean |difference| about 2.26).
    assert_eq!(e["input_pan"], 0.0);
    let hold = e["input_hold"].as_f64().unwrap();
    assert!(
        (1.8..2.8).contains(&hold),
        "input still-stretch difference {hold}"
    );
    let ratio = e["ratio"].as_f64().unwrap();
    assert!(ratio.is_finite() && ratio > 0.0, "ratio {ratio}");
    assert!(e["pan"].as_f64().unwrap() >= 0.0);

    let clip = h264_clip(dir.path(), "in.mp4", "160x120", 1.0, false);
    let report = eval_json(&[
        "--style".as_ref(),
        style.as_os_str(),
        "--video".as_ref(),
        clip.as_os_str(),
        "--frames".as_ref(),
        "10".as_ref(),
    ]);
    let v = report[0]["video_ratio"].as_f64().unwrap();
    assert!(v.is_finite() && v > 0.0, "video ratio {v}");
    assert!(report[0].get("synthetic").is_none());
}

#[test]
fn flicker_bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let out = faststyle()
        .args([
            "eval",
            "--temporal",
            "--video",
            "/nonexistent/v.mp4",
            "--style",
        ])
        .arg(&style)
        .output()
        .unwrap();
    assert_clean_failure(&out, "/nonexistent/v.mp4");
    // --video only makes sense with --temporal.
    let out = faststyle()
        .args(["eval", "--video", "x.mp4", "--style"])
        .arg(&style)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
