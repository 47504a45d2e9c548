//! `faststyle video` with the ffmpeg command line's inputs and outputs: stdin and stdout,
//! `-f`, URLs, picture sequences; the real binary on clips made here with the ffmpeg CLI.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::media::*;
use common::*;

fn style(dir: &Path) -> PathBuf {
    write_style(&dir.join("s.safetensors"), 0.25)
}

/// A 2 s clip at 10 fps with audio, in Matroska (which streams through a pipe).
fn clip(dir: &Path) -> PathBuf {
    make_clip(
        dir,
        "in.mkv",
        "96x64",
        10,
        2.0,
        true,
        &["-c:v", "libx264", "-c:a", "aac"],
    )
}

/// The real binary as a plain process, for tests that wire its stdin and stdout.
fn faststyle_process() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("faststyle"));
    cmd.env_remove("FASTSTYLE_STYLES");
    cmd
}

/// Runs faststyle with `stdin` fed to it; returns its output (stdout as bytes).
fn run_with_stdin(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = faststyle_process()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Written from a thread: faststyle writes stdout while it still reads stdin.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn pipes_stdin_to_stdout_like_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let style = style(dir.path());
    let nut = dir.path().join("in.nut");
    ffmpeg(&[
        "-i",
        input.to_str().unwrap(),
        "-c",
        "copy",
        nut.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&nut).unwrap();

    // ffmpeg's order: input, options, output; `-` for both ends.
    let out = run_with_stdin(
        &[
            "video",
            "-",
            "--style",
            style.to_str().unwrap(),
            "-f",
            "nut",
            "-",
        ],
        &bytes,
    );
    assert_ok(&out);
    let piped = dir.path().join("piped.nut");
    std::fs::write(&piped, &out.stdout).unwrap();
    assert_eq!(frame_count(&piped), 20);
    assert_eq!(frame_times(&piped), frame_times(&nut));
    assert_eq!(packets_md5(&piped, "a"), packets_md5(&input, "a"));
    assert!(mean_abs_diff(&rgb_frames(&input), &rgb_frames(&piped)) > 10.0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stdout") && stderr.contains("cut short"),
        "a pipe's output must be said to be partial on failure: {stderr}"
    );

    // MP4 cannot seek back in a pipe: it is written fragmented, and still plays.
    let out = faststyle()
        .args(["video", input.to_str().unwrap(), "--style"])
        .arg(&style)
        .args(["-o", "pipe:", "-f", "mp4"])
        .output()
        .unwrap();
    assert_ok(&out);
    let mp4 = dir.path().join("piped.mp4");
    std::fs::write(&mp4, &out.stdout).unwrap();
    assert_eq!(frame_count(&mp4), 20);
    assert_eq!(packets_md5(&mp4, "a"), packets_md5(&input, "a"));

    // --start on stdin, which cannot seek: decoded up to it instead, with the same cut
    // as from the file.
    let out = run_with_stdin(
        &[
            "video",
            "-",
            "--style",
            style.to_str().unwrap(),
            "--start",
            "1",
            "-o",
            dir.path().join("cut.mkv").to_str().unwrap(),
        ],
        &bytes,
    );
    assert_ok(&out);
    let from_file = dir.path().join("cut-file.mkv");
    let out = faststyle()
        .arg("video")
        .arg(&nut)
        .arg("--style")
        .arg(&style)
        .args(["--start", "1", "-o"])
        .arg(&from_file)
        .output()
        .unwrap();
    assert_ok(&out);
    let cut = frame_times(&dir.path().join("cut.mkv"));
    assert!(cut.len() >= 10 && cut.len() < 20, "{cut:?}");
    assert_eq!(cut, frame_times(&from_file));
}

#[test]
fn format_names_the_container_where_the_name_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let output = dir.path().join("stylized");
    let out = faststyle()
        .arg("video")
        .arg(&input)
        .arg("--style")
        .arg(style(dir.path()))
        .arg("-o")
        .arg(&output)
        .args(["-f", "matroska"])
        .output()
        .unwrap();
    assert_ok(&out);
    let format = probe(&output)["format"]["format_name"].clone();
    assert!(format.as_str().unwrap().starts_with("matroska"), "{format}");
    assert_eq!(frame_count(&output), 20);

    // MPEG-TS cannot say whether it holds H.264 (it does); webm cannot hold it, and gets
    // its own VP9.
    for (name, codec) in [("o.ts", "h264"), ("o.webm", "vp9")] {
        let output = dir.path().join(name);
        let out = faststyle()
            .arg("video")
            .arg(&input)
            .arg("--style")
            .arg(style(dir.path()))
            .args(["--duration", "0.5", "-o"])
            .arg(&output)
            .output()
            .unwrap();
        assert_ok(&out);
        assert_eq!(video_stream(&output)["codec_name"], codec, "{name}");
    }
}

#[test]
fn picture_sequences_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let style = style(dir.path());
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let pattern = frames.join("f-%03d.png");

    // Out: one PNG per frame, numbered from 1 as ffmpeg numbers them, appearing only when
    // complete (no hidden work folder left behind); the audio has nowhere to go.
    let run = |extra: &[&str]| {
        faststyle()
            .arg("video")
            .arg(&input)
            .arg("--style")
            .arg(&style)
            .arg("-o")
            .arg(&pattern)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_ok(&out);
    let names = files_in(&frames);
    assert_eq!(names.len(), 20, "{names:?}");
    assert_eq!(
        (names[0].as_str(), names[19].as_str()),
        ("f-001.png", "f-020.png")
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("dropped audio"));
    let first = image::open(frames.join("f-001.png")).unwrap();
    assert_eq!((first.width(), first.height()), (96, 64));

    // An existing sequence is not overwritten without -y; with -y a shorter one replaces
    // it entirely.
    assert_clean_failure(&run(&[]), "f-001.png already exists");
    assert_eq!(files_in(&frames).len(), 20);
    assert_ok(&run(&["-y", "--duration", "1"]));
    assert_eq!(files_in(&frames).len(), 10);

    // In: the sequence read back at the frame rate given to the demuxer.
    let output = dir.path().join("back.mp4");
    let out = faststyle()
        .arg("video")
        .arg(&pattern)
        .arg("--style")
        .arg(&style)
        .args(["--input-option", "framerate=5", "-o"])
        .arg(&output)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(frame_count(&output), 10);
    assert_eq!(video_stream(&output)["avg_frame_rate"], "5/1");
}

/// Serves `file` over HTTP on a free local port to any number of requests (FFmpeg may
/// reconnect to probe), ignoring ranges: the whole file each time.
fn serve(file: PathBuf) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let body = std::fs::read(&file).unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: video/x-matroska\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

#[test]
fn reads_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let port = serve(input.clone());
    let output = dir.path().join("from-http.mkv");
    let out = faststyle()
        .arg("video")
        .arg(format!("http://127.0.0.1:{port}/in.mkv"))
        .arg("--style")
        .arg(style(dir.path()))
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(frame_count(&output), 20);
    assert_eq!(packets_md5(&output, "a"), packets_md5(&input, "a"));
}

#[test]
fn bad_inputs_and_outputs_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let style = style(dir.path());
    let video = |args: &[&str]| {
        faststyle_process()
            .arg("video")
            .args(args)
            .arg("--style")
            .arg(&style)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let input = input.to_str().unwrap();
    let out_mkv = dir.path().join("o.mkv");
    let out_mkv = out_mkv.to_str().unwrap();

    let out = video(&[input, "-o", "-"]);
    assert_clean_failure(&out, "needs -f FORMAT");
    assert!(out.stdout.is_empty());
    assert_clean_failure(&video(&["-", "-o", out_mkv]), "stdin: is not a video");
    assert_clean_failure(&video(&["-"]), "give -o OUTPUT");
    assert_clean_failure(
        &video(&[input, "-o", out_mkv, "-f", "no-such-muxer"]),
        "no output format named 'no-such-muxer'",
    );
    assert_clean_failure(
        &video(&[input, "--input-format", "no-such-demuxer", "-o", out_mkv]),
        "no input format named 'no-such-demuxer'",
    );
    assert_clean_failure(
        &video(&[input, "--input-option", "no_such_option=1", "-o", out_mkv]),
        "--input-option no_such_option",
    );
    assert_clean_failure(
        &video(&[input, "--input-option", "framerate", "-o", out_mkv]),
        "not KEY=VALUE",
    );
    let missing = dir.path().join("none").join("%03d.png");
    assert_clean_failure(
        &video(&[missing.to_str().unwrap(), "-o", out_mkv]),
        "no pictures in",
    );
    let missing_folder = dir.path().join("none").join("%03d.png");
    assert_clean_failure(
        &video(&[input, "-o", missing_folder.to_str().unwrap()]),
        "does not exist",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_clean_failure(
        &video(&[&format!("http://127.0.0.1:{closed}/x.mkv"), "-o", out_mkv]),
        "is not a video FFmpeg can read",
    );
    // Nothing was left behind by any of these.
    assert_eq!(files_in(dir.path()), ["in.mkv", "s.safetensors"]);
}
