//! End-to-end tests of `faststyle video`, driving the real binary on clips made here with
//! the ffmpeg CLI.

mod common;

use std::path::{Path, PathBuf};

use common::media::*;
use common::*;

/// A small, fast untrained style: these tests check the plumbing, not the painting.
fn style(dir: &Path) -> PathBuf {
    write_style(&dir.join("s.safetensors"), 0.25)
}

fn stylize(input: &Path, output: &Path, style: &Path, extra: &[&str]) -> std::process::Output {
    faststyle()
        .arg("video")
        .arg(input)
        .arg("--style")
        .arg(style)
        .arg("-o")
        .arg(output)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn keeps_frames_size_timing_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_clip(
        dir.path(),
        "in.mp4",
        "320x240",
        30,
        2.0,
        true,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    );
    let output = dir.path().join("out.mp4");
    let out = stylize(&input, &output, &style(dir.path()), &[]);
    assert_ok(&out);

    let (a, b) = (video_stream(&input), video_stream(&output));
    assert_eq!(frame_count(&output), 60);
    assert_eq!(
        (b["width"].clone(), b["height"].clone()),
        (a["width"].clone(), a["height"].clone())
    );
    assert_eq!(b["avg_frame_rate"], "30/1");
    assert!((stream_duration(&a) - stream_duration(&b)).abs() <= 1.0 / 30.0);
    assert_eq!(frame_times(&input), frame_times(&output));
    assert_eq!(
        packets_md5(&input, "a"),
        packets_md5(&output, "a"),
        "audio packets changed"
    );
    // The frames were really painted.
    assert!(mean_abs_diff(&rgb_frames(&input), &rgb_frames(&output)) > 10.0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stylize") && stderr.contains("fps"),
        "no stage report: {stderr}"
    );
    assert_eq!(files_in(dir.path()), ["in.mp4", "out.mp4", "s.safetensors"]);
}

/// 8-bit limited range, 8-bit full range (JPEG) and 10-bit inputs, with their file names.
const PIXEL_FORMATS: [(&str, &str); 3] = [
    ("p.mp4", "yuv420p"),
    ("j.mp4", "yuvj420p"),
    ("t.mkv", "yuv420p10le"),
];

#[test]
fn strength_zero_reproduces_the_input_colours() {
    // With the style off, frames go through unchanged but for the RGB round trip and the
    // lossy re-encode. The peer is ffmpeg doing the same (to RGB and back, x264 crf 18) in
    // the same run: a wrong YUV matrix or range would show as a much larger difference.
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    for (name, pix_fmt) in PIXEL_FORMATS {
        let input = make_clip(
            dir.path(),
            name,
            "160x120",
            25,
            0.6,
            false,
            &["-c:v", "libx264", "-pix_fmt", pix_fmt],
        );
        let output = dir.path().join(format!("out-{name}"));
        assert_ok(&stylize(&input, &output, &style, &["--strength", "0"]));
        let peer = dir.path().join(format!("peer-{name}"));
        let filter = format!("format=rgb24,format={pix_fmt}");
        ffmpeg(&[
            "-i",
            input.to_str().unwrap(),
            "-vf",
            &filter,
            "-c:v",
            "libx264",
            "-crf",
            "18",
            peer.to_str().unwrap(),
        ]);
        let original = rgb_frames(&input);
        let ours = mean_abs_diff(&original, &rgb_frames(&output));
        let theirs = mean_abs_diff(&original, &rgb_frames(&peer));
        eprintln!("{pix_fmt}: mean RGB difference {ours:.2} (ffmpeg's own round trip {theirs:.2})");
        assert!(
            ours < 1.3 * theirs + 0.3,
            "{pix_fmt}: mean difference {ours:.2}, ffmpeg's {theirs:.2}"
        );
        let (a, b) = (video_stream(&input), video_stream(&output));
        assert_eq!(
            a["pix_fmt"], b["pix_fmt"],
            "{pix_fmt}: pixel format not kept"
        );
        assert_eq!(
            a["color_range"], b["color_range"],
            "{pix_fmt}: range not kept"
        );
    }
}

#[test]
fn frames_as_4_2_0_planes_match_frames_as_rgb() {
    // The road a GPU takes (8-bit 4:2:0 planes, converted by `Kernels`; here their host
    // version) against swscale's RGB road, forced either way on the CPU. The two upsample
    // chroma differently (bilinear against swscale's nearest), which the network
    // amplifies at the test pattern's colour edges; a wrong matrix or range would move
    // whole channels. A shipped style, not a fresh random one: an untrained network's
    // gain on those edges changes from draw to draw (channel means 0.8 to 1.5 apart).
    let dir = tempfile::tempdir().unwrap();
    let style = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("styles/the-scream.safetensors");
    for (name, pix_fmt) in PIXEL_FORMATS {
        let input = make_clip(
            dir.path(),
            name,
            "96x64",
            25,
            0.4,
            true,
            &["-c:v", "libx264", "-pix_fmt", pix_fmt, "-c:a", "aac"],
        );
        let mut decoded = Vec::new();
        for form in ["rgb", "yuv"] {
            let output = dir.path().join(format!("{form}-{name}"));
            let out = faststyle()
                .env("FASTSTYLE_FRAME_FORM", form)
                .args(["video", input.to_str().unwrap(), "--style"])
                .arg(&style)
                .arg("-o")
                .arg(&output)
                .output()
                .unwrap();
            assert_ok(&out);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                stderr.contains("frames as 8-bit 4:2:0"),
                form == "yuv",
                "{stderr}"
            );
            assert_eq!(frame_count(&output), 10, "{form} {pix_fmt}");
            let (a, b) = (video_stream(&input), video_stream(&output));
            assert_eq!(a["pix_fmt"], b["pix_fmt"], "{form}: pixel format not kept");
            assert_eq!(a["color_range"], b["color_range"], "{form}: range not kept");
            assert_eq!(packets_md5(&input, "a"), packets_md5(&output, "a"));
            decoded.push(rgb_frames(&output));
        }
        let painted = mean_abs_diff(&rgb_frames(&input), &decoded[0]);
        let roads = mean_abs_diff(&decoded[0], &decoded[1]);
        let channel_mean = |d: &[u8], c: usize| {
            d.iter()
                .skip(c)
                .step_by(3)
                .map(|v| f64::from(*v))
                .sum::<f64>()
                / (d.len() / 3) as f64
        };
        let shift = (0..3)
            .map(|c| (channel_mean(&decoded[0], c) - channel_mean(&decoded[1], c)).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "{pix_fmt}: the roads differ by {roads:.2} on average (channel means by at most \
             {shift:.2}), the style changes the frames by {painted:.2}"
        );
        assert!(
            roads * 5.0 < painted,
            "{pix_fmt}: {roads:.2} against {painted:.2}"
        );
        assert!(
            shift < 1.5,
            "{pix_fmt}: a channel's mean moved by {shift:.2}"
        );
    }
}

#[test]
fn odd_sizes_are_kept_at_any_stroke_scale() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_clip(
        dir.path(),
        "odd.mp4",
        "320x180",
        25,
        0.4,
        false,
        &[
            "-vf",
            "scale=321:179",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv444p",
        ],
    );
    let style = style(dir.path());
    let output = dir.path().join("out.mp4");
    assert_ok(&stylize(&input, &output, &style, &[]));
    // --stroke-scale paints at a smaller size (here 128x72, in batches) and scales back up.
    let scaled = dir.path().join("scaled.mp4");
    let flags = ["--stroke-scale", "2.5", "--batch", "3"];
    assert_ok(&stylize(&input, &scaled, &style, &flags));
    for output in [&output, &scaled] {
        let v = video_stream(output);
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(321), Some(179))
        );
        assert_eq!(frame_count(output), 10);
    }
    assert!(mean_abs_diff(&rgb_frames(&output), &rgb_frames(&scaled)) > 2.0);
}

#[test]
fn variable_frame_rate_timestamps_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vfr.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=30",
        "-vf",
        "setpts='if(lt(N,10),N,N*2+7)/30/TB'",
        "-fps_mode",
        "passthrough",
        "-frames:v",
        "30",
        "-c:v",
        "libx264",
        input.to_str().unwrap(),
    ]);
    let times = frame_times(&input);
    assert!(times.len() == 30, "fixture: {times:?}");
    let output = dir.path().join("out.mp4");
    assert_ok(&stylize(&input, &output, &style(dir.path()), &[]));
    assert_eq!(frame_times(&output), times);
}

#[test]
fn rotation_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let plain = h264_clip(dir.path(), "plain.mp4", "160x120", 0.4, false);
    let input = dir.path().join("rot.mp4");
    ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        input.to_str().unwrap(),
    ]);
    let rotation = |p: &Path| video_stream(p)["side_data_list"][0]["rotation"].clone();
    assert!(rotation(&input).is_number(), "fixture has no rotation");
    let output = dir.path().join("out.mp4");
    assert_ok(&stylize(&input, &output, &style(dir.path()), &[]));
    assert_eq!(rotation(&output), rotation(&input));
}

#[test]
fn mkv_with_two_audio_streams_and_subtitles_keeps_all() {
    let dir = tempfile::tempdir().unwrap();
    let srt = dir.path().join("subs.srt");
    std::fs::write(
        &srt,
        "1\n00:00:00,000 --> 00:00:00,500\nHello\n\n2\n00:00:00,500 --> 00:00:01,000\nWorld\n",
    )
    .unwrap();
    let input = dir.path().join("in.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880:sample_rate=44100",
        "-i",
        srt.to_str().unwrap(),
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        "-map",
        "3",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-c:a:0",
        "aac",
        "-c:a:1",
        "libopus",
        "-c:s",
        "srt",
        "-metadata:s:a:1",
        "language=fra",
        input.to_str().unwrap(),
    ]);
    let output = dir.path().join("out.mkv");
    assert_ok(&stylize(&input, &output, &style(dir.path()), &[]));
    let kinds: Vec<String> = streams(&output)
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["h264", "aac", "opus", "subrip"]);
    for spec in ["a:0", "a:1", "s:0"] {
        assert_eq!(
            packets_md5(&input, spec),
            packets_md5(&output, spec),
            "stream {spec} changed"
        );
    }
    assert_eq!(streams(&output)[2]["tags"]["language"], "fra");
}

#[test]
fn stream_the_container_cannot_hold_is_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let srt = dir.path().join("subs.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:00,400\nHi\n\n").unwrap();
    let input = dir.path().join("in.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-i",
        srt.to_str().unwrap(),
        "-map",
        "0",
        "-map",
        "1",
        "-t",
        "0.4",
        "-c:v",
        "libx264",
        "-c:s",
        "srt",
        input.to_str().unwrap(),
    ]);
    let output = dir.path().join("out.mp4");
    let out = stylize(&input, &output, &style(dir.path()), &[]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: dropped subtitle stream"),
        "{stderr}"
    );
    assert_eq!(streams(&output).len(), 1);
}

#[test]
fn start_and_duration_cut_video_and_audio_alike() {
    let dir = tempfile::tempdir().unwrap();
    let input = h264_clip(dir.path(), "in.mp4", "160x120", 3.0, true);
    let output = dir.path().join("out.mp4");
    assert_ok(&stylize(
        &input,
        &output,
        &style(dir.path()),
        &["--start", "1", "--duration", "1.2"],
    ));
    assert_eq!(frame_count(&output), 30);
    let s = streams(&output);
    let (v, a) = (stream_duration(&s[0]), stream_duration(&s[1]));
    assert!(
        (v - 1.2).abs() < 0.05 && (a - 1.2).abs() < 0.05,
        "video {v} s, audio {a} s"
    );
    assert_eq!(frame_times(&output)[0], "0.000000");
}

#[test]
fn no_audio_works_and_audio_only_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let silent = h264_clip(dir.path(), "silent.mp4", "96x64", 0.4, false);
    assert_ok(&stylize(&silent, &dir.path().join("out.mp4"), &style, &[]));

    let audio = dir.path().join("tone.m4a");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-t",
        "0.5",
        audio.to_str().unwrap(),
    ]);
    let out = stylize(&audio, &dir.path().join("tone-out.mp4"), &style, &[]);
    assert_clean_failure(&out, "tone.m4a");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no video stream"));
    assert!(!dir.path().join("tone-out.mp4").exists());
}

#[test]
fn damaged_inputs_fail_cleanly_or_keep_what_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    // Not a video at all.
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is not a video").unwrap();
    let out = stylize(&text, &dir.path().join("a.mp4"), &style, &[]);
    assert_clean_failure(&out, "notes.mp4");

    // A file cut in the middle (MPEG-TS keeps working up to the cut).
    let whole = h264_clip(dir.path(), "whole.ts", "160x120", 2.0, true);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.ts");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let output = dir.path().join("b.mp4");
    let out = stylize(&cut, &output, &style, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    if out.status.success() {
        let n = frame_count(&output);
        assert!(n > 5 && n < 50, "{n} frames from half a 50-frame file");
    } else {
        assert!(stderr.contains("cut.ts"), "{stderr}");
        assert!(!output.exists());
    }

    // A truncated MP4 whose index is missing cannot be read: a clear error.
    let mp4 = h264_clip(dir.path(), "whole.mp4", "160x120", 1.0, false);
    let bytes = std::fs::read(&mp4).unwrap();
    let trunc = dir.path().join("trunc.mp4");
    std::fs::write(&trunc, &bytes[..bytes.len() / 3]).unwrap();
    let out = stylize(&trunc, &dir.path().join("c.mp4"), &style, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    if !out.status.success() {
        assert!(stderr.contains("trunc.mp4"), "{stderr}");
    }
    let leftovers: Vec<String> = files_in(dir.path())
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn output_safety() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let input = h264_clip(dir.path(), "in.mp4", "96x64", 0.4, false);

    let existing = dir.path().join("taken.mp4");
    std::fs::write(&existing, b"precious").unwrap();
    let out = stylize(&input, &existing, &style, &[]);
    assert_clean_failure(&out, "taken.mp4");
    assert_eq!(std::fs::read(&existing).unwrap(), b"precious");

    let out = stylize(&input, &input, &style, &["-y"]);
    assert_clean_failure(&out, "in.mp4");

    let out = stylize(&input, &dir.path().join("missing/out.mp4"), &style, &[]);
    assert_clean_failure(&out, "out.mp4");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = stylize(&input, &blocker.join("out.mp4"), &style, &[]);
    assert_clean_failure(&out, "out.mp4");

    assert_eq!(
        files_in(dir.path()),
        ["file", "in.mp4", "s.safetensors", "taken.mp4"]
    );

    assert_ok(&stylize(&input, &existing, &style, &["--overwrite"]));
    assert_eq!(frame_count(&existing), 10);
}

#[test]
fn batch_sizes_give_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    let input = h264_clip(dir.path(), "in.mp4", "96x64", 0.44, false);
    let mut decoded = Vec::new();
    for batch in ["1", "3", "8"] {
        let output = dir.path().join(format!("b{batch}.mp4"));
        assert_ok(&stylize(&input, &output, &style, &["--batch", batch]));
        assert_eq!(frame_count(&output), 11, "batch {batch}");
        decoded.push(rgb_frames(&output));
    }
    assert!(mean_abs_diff(&decoded[0], &decoded[1]) < 0.5);
    assert!(mean_abs_diff(&decoded[0], &decoded[2]) < 0.5);
}

#[test]
fn mov_output_and_max_height() {
    let dir = tempfile::tempdir().unwrap();
    let input = h264_clip(dir.path(), "in.mp4", "320x240", 0.4, true);
    let output = dir.path().join("out.mov");
    assert_ok(&stylize(
        &input,
        &output,
        &style(dir.path()),
        &["--max-height", "120"],
    ));
    let v = video_stream(&output);
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(160), Some(120))
    );
    assert_eq!(streams(&output).len(), 2);
    assert_eq!(packets_md5(&input, "a"), packets_md5(&output, "a"));
}

#[test]
fn ctrl_c_stops_cleanly_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 1.0);
    let input = h264_clip(dir.path(), "in.mp4", "320x240", 20.0, true);
    let output = dir.path().join("out.mp4");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("faststyle"))
        .arg("video")
        .arg(&input)
        .arg("--style")
        .arg(&style)
        .arg("-o")
        .arg(&output)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the temporary output exists, i.e. the pipeline is running.
    let started = std::time::Instant::now();
    while !files_in(dir.path())
        .iter()
        .any(|n| n.starts_with(".out.mp4"))
    {
        assert!(started.elapsed().as_secs() < 30, "never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (out, stderr) = signal_and_wait(child, "-INT");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(files_in(dir.path()), ["in.mp4", "s.safetensors"]);
}

#[test]
fn other_codecs_and_containers() {
    let dir = tempfile::tempdir().unwrap();
    let style = style(dir.path());
    // VP9 + Opus in WebM in, H.264 in MP4 out; audio copied.
    let webm = make_clip(
        dir.path(),
        "in.webm",
        "96x64",
        25,
        0.4,
        true,
        &["-c:v", "libvpx-vp9", "-c:a", "libopus"],
    );
    let out = dir.path().join("from-webm.mp4");
    assert_ok(&stylize(&webm, &out, &style, &[]));
    assert_eq!(frame_count(&out), 10);
    assert_eq!(packets_md5(&webm, "a"), packets_md5(&out, "a"));
    // MPEG-4 Part 2 in AVI in, H.265 in MKV out, with chapters and title kept.
    let avi = make_clip(
        dir.path(),
        "in.avi",
        "96x64",
        25,
        0.4,
        false,
        &["-c:v", "mpeg4"],
    );
    let meta = dir.path().join("meta.txt");
    std::fs::write(
        &meta,
        ";FFMETADATA1\ntitle=Holiday\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=200\ntitle=Beach\n",
    )
    .unwrap();
    let mkv = dir.path().join("in.mkv");
    ffmpeg(&[
        "-i",
        avi.to_str().unwrap(),
        "-i",
        meta.to_str().unwrap(),
        "-map_metadata",
        "1",
        "-map_chapters",
        "1",
        "-c",
        "copy",
        mkv.to_str().unwrap(),
    ]);
    let out = dir.path().join("hevc.mkv");
    assert_ok(&stylize(
        &mkv,
        &out,
        &style,
        &["--codec", "libx265", "--crf", "28"],
    ));
    assert_eq!(video_stream(&out)["codec_name"], "hevc");
    assert_eq!(frame_count(&out), 10);
    assert_eq!(probe(&out)["format"]["tags"]["title"], "Holiday");
    let chapters = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_chapters", "-of", "json"])
        .arg(&out)
        .output()
        .unwrap();
    let chapters: serde_json::Value = serde_json::from_slice(&chapters.stdout).unwrap();
    assert_eq!(chapters["chapters"][0]["tags"]["title"], "Beach");
    // An encoder that does not exist is a clear error.
    let out = stylize(
        &webm,
        &dir.path().join("x.mp4"),
        &style,
        &["--codec", "nope264"],
    );
    assert_clean_failure(&out, "nope264");
}
