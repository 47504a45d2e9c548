//! Scaling out: several devices in one process (`--device cpu,cpu` stands in for
//! `cuda:0,cuda:1` here) write what one device writes; a video split into chunks
//! (`faststyle video --chunk K/N`, as Slurm job arrays and Kubernetes Indexed Jobs run it)
//! and joined (`faststyle join`) equals one run; retries resume; join refuses what does
//! not belong.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::media::*;
use common::*;

/// An H.264 clip with B-frames, open GOPs and AAC audio; 2.44 s is 61 frames (not a
/// multiple of 4).
fn source(dir: &Path, seconds: f64) -> PathBuf {
    make_clip(
        dir,
        "film.mp4",
        "96x64",
        25,
        seconds,
        true,
        &[
            "-c:v",
            "libx264",
            "-bf",
            "3",
            "-g",
            "12",
            "-x264opts",
            "open-gop=1",
            "-c:a",
            "aac",
        ],
    )
}

/// Near-lossless encoding, so that the joined and the single-run pictures differ by
/// encoding noise only.
const ENCODE: [&str; 2] = ["--crf", "2"];

fn binary() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("faststyle"))
}

fn chunk_cmd(input: &Path, style: &Path, dir: &Path) -> Command {
    let mut cmd = binary();
    cmd.arg("video")
        .arg(input)
        .arg("--style")
        .arg(style)
        .args(ENCODE)
        .arg("-o")
        .arg(dir);
    cmd
}

fn join(input: &Path, chunks: &Path, output: &Path) -> Output {
    faststyle()
        .arg("join")
        .arg(input)
        .arg("--chunks")
        .arg(chunks)
        .arg("-o")
        .arg(output)
        .output()
        .unwrap()
}

/// Average PSNR (dB) of `b`'s frames against `a`'s, by ffmpeg's psnr filter.
fn psnr(a: &Path, b: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args(["-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("PSNR"))
        .unwrap_or_else(|| panic!("no PSNR: {text}"));
    let value = line
        .split("average:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    if value == "inf" {
        f64::INFINITY
    } else {
        value.parse().unwrap()
    }
}

#[test]
fn four_chunks_from_two_processes_join_into_what_one_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), 2.44);
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let chunks = dir.path().join("chunks");

    // Two workers, as two array tasks would: one takes its index from the engine's
    // variable, the other from --chunk-index; each does two chunks in turn.
    let worker = |indices: [u32; 2], by_env: bool| {
        let (input, style, chunks) = (input.clone(), style.clone(), chunks.clone());
        std::thread::spawn(move || {
            for k in indices {
                let mut cmd = chunk_cmd(&input, &style, &chunks);
                cmd.args(["--chunks", "4"]);
                if by_env {
                    cmd.env("JOB_COMPLETION_INDEX", k.to_string());
                } else {
                    cmd.args(["--chunk-index", &k.to_string()]);
                }
                let out = cmd.output().unwrap();
                assert_ok(&out);
            }
        })
    };
    let a = worker([0, 2], true);
    let b = worker([1, 3], false);
    a.join().unwrap();
    b.join().unwrap();
    let names = files_in(&chunks);
    // Four chunks, their manifests, and the source's frame index the first task cached.
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(names.contains(&"index.json".to_string()));
    for k in 0..4 {
        let chunk = chunks.join(format!("chunk-{k:04}-of-0004.mp4"));
        let streams = streams(&chunk);
        assert_eq!(streams.len(), 1, "a chunk is video only");
        // Every chunk starts with a keyframe (an IDR: x264 opens each encode with one).
        let first = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["packet=flags", "-of", "csv=p=0", "-read_intervals", "%+#1"])
            .arg(&chunk)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&first.stdout).starts_with('K'));
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(chunks.join(format!("chunk-{k:04}-of-0004.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["frames"], [15, 15, 15, 16][k]);
        assert_eq!(frame_count(&chunk), [15, 15, 15, 16][k] as u64);
    }

    let joined = dir.path().join("joined.mp4");
    let out = join(&input, &chunks, &joined);
    assert_ok(&out);
    let single = dir.path().join("single.mp4");
    let mut cmd = faststyle();
    let out = cmd
        .arg("video")
        .arg(&input)
        .arg("--style")
        .arg(&style)
        .args(ENCODE)
        .arg("-o")
        .arg(&single)
        .output()
        .unwrap();
    assert_ok(&out);

    assert_eq!(frame_count(&joined), 61);
    assert_eq!(frame_times(&joined), frame_times(&single));
    assert_eq!(frame_times(&joined), frame_times(&input));
    assert_eq!(packets_md5(&joined, "a"), packets_md5(&single, "a"));
    assert_eq!(packets_md5(&joined, "a"), packets_md5(&input, "a"));
    let db = psnr(&single, &joined);
    eprintln!("joined against one run: PSNR {db:.1} dB");
    assert!(
        db >= 45.0,
        "joined pictures differ from one run's: PSNR {db:.1} dB"
    );
}

#[test]
fn a_killed_chunk_is_redone_and_finished_ones_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    // A longer clip and a slow network, so that the kill lands mid-chunk.
    let input = source(dir.path(), 8.0);
    let style = write_style(&dir.path().join("slow.safetensors"), 1.0);
    let chunks = dir.path().join("chunks");
    let out = chunk_cmd(&input, &style, &chunks)
        .args(["--chunk", "0/2"])
        .output()
        .unwrap();
    assert_ok(&out);
    let done = chunks.join("chunk-0000-of-0002.mp4");
    let modified = std::fs::metadata(&done).unwrap().modified().unwrap();

    let child = chunk_cmd(&input, &style, &chunks)
        .args(["--chunk", "1/2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !files_in(&chunks)
        .iter()
        .any(|n| n.contains("0001-of-0002.mp4"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no chunk 1 started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (out, _) = signal_and_wait(child, "-KILL");
    assert!(!out.status.success());
    assert!(
        !chunks.join("chunk-0001-of-0002.json").exists(),
        "a killed chunk has no manifest"
    );

    // The retry: chunk 0 verifies and is skipped, chunk 1 is made again; join takes them.
    let out = chunk_cmd(&input, &style, &chunks)
        .args(["--chunk", "0/2"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("verifies; skipped"));
    assert_eq!(
        std::fs::metadata(&done).unwrap().modified().unwrap(),
        modified
    );
    let out = chunk_cmd(&input, &style, &chunks)
        .args(["--chunk", "1/2"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(
        files_in(&chunks).iter().all(|n| !n.starts_with('.')),
        "the killed run's temporary file was left: {:?}",
        files_in(&chunks)
    );
    let joined = dir.path().join("joined.mkv");
    assert_ok(&join(&input, &chunks, &joined));
    assert_eq!(frame_count(&joined), 200);
}

#[test]
fn join_refuses_missing_corrupt_and_foreign_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), 2.44);
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let chunks = dir.path().join("chunks");
    for k in 0..3 {
        let out = chunk_cmd(&input, &style, &chunks)
            .arg("--chunk")
            .arg(format!("{k}/3"))
            .output()
            .unwrap();
        assert_ok(&out);
    }
    let joined = dir.path().join("joined.mp4");
    let spare = dir.path().join("spare");
    std::fs::create_dir(&spare).unwrap();
    let chunk1 = chunks.join("chunk-0001-of-0003.mp4");
    let manifest1 = chunks.join("chunk-0001-of-0003.json");

    // Missing.
    std::fs::rename(&manifest1, spare.join("m.json")).unwrap();
    assert_clean_failure(&join(&input, &chunks, &joined), "chunk 1 of 3 is missing");
    std::fs::rename(spare.join("m.json"), &manifest1).unwrap();

    // Corrupt: one byte changed in the middle.
    let good = std::fs::read(&chunk1).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x5a;
    std::fs::write(&chunk1, &bad).unwrap();
    assert_clean_failure(&join(&input, &chunks, &joined), "is corrupt");
    // Short: cut off.
    std::fs::write(&chunk1, &good[..good.len() - 100]).unwrap();
    assert_clean_failure(&join(&input, &chunks, &joined), "cut short");
    std::fs::write(&chunk1, &good).unwrap();

    // Foreign: a chunk of another video in its place.
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = h264_clip(&other_dir, "other.mp4", "96x64", 2.44, true);
    let other_chunks = other_dir.join("chunks");
    assert_ok(
        &chunk_cmd(&other, &style, &other_chunks)
            .args(["--chunk", "1/3"])
            .output()
            .unwrap(),
    );
    for name in ["chunk-0001-of-0003.mp4", "chunk-0001-of-0003.json"] {
        std::fs::copy(other_chunks.join(name), chunks.join(name)).unwrap();
    }
    assert_clean_failure(
        &join(&input, &chunks, &joined),
        "was made from another video",
    );
    assert!(!joined.exists(), "a refused join wrote its output");
    assert!(
        files_in(dir.path())
            .iter()
            .all(|n| !n.starts_with(".joined")),
        "a refused join left a temporary file"
    );

    // A chunk index past the split is a usage error.
    let out = chunk_cmd(&input, &style, &chunks)
        .args(["--chunk", "3/3"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "chunk 3 of 3 does not exist");
}

#[test]
fn several_devices_write_what_one_device_writes() {
    let dir = tempfile::tempdir().unwrap();
    let input = source(dir.path(), 2.44);
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let run = |devices: &str, name: &str| {
        let output = dir.path().join(name);
        let out = binary()
            .arg("video")
            .arg(&input)
            .arg("--style")
            .arg(&style)
            .args(["--device", devices, "--batch", "2", "-o"])
            .arg(&output)
            .output()
            .unwrap();
        assert_ok(&out);
        (output, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (one, _) = run("cpu", "one.mp4");
    let (two, stderr) = run("cpu,cpu", "two.mp4");
    // Same frames in the same order: the encoder's packets are identical.
    assert_eq!(packets_md5(&two, "v"), packets_md5(&one, "v"));
    assert_eq!(frame_times(&two), frame_times(&one));
    assert_eq!(packets_md5(&two, "a"), packets_md5(&input, "a"));
    // The report shows each device's share.
    let shares: Vec<u64> = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("worker "))
        .map(|l| {
            l.split('(')
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(shares.len(), 2, "{stderr}");
    assert_eq!(shares.iter().sum::<u64>(), 61, "{stderr}");

    let out = binary()
        .arg("video")
        .arg(&input)
        .args(["--device", "cpu,cuda:0", "-o"])
        .arg(dir.path().join("mixed.mp4"))
        .output()
        .unwrap();
    assert_clean_failure(&out, "devices of one kind");
}

/// Containers whose timestamps are not whole milliseconds (NTSC rates) or do not start at
/// zero (MPEG-TS), and whose demuxers seek loosely (MPEG-TS lands after the target).
#[test]
fn chunks_keep_exact_timestamps_in_every_container() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    for name in ["ntsc.mp4", "ntsc.ts", "ntsc.mkv"] {
        let input = dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=96x64:rate=30000/1001",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-bf",
            "3",
            "-g",
            "10",
            "-c:a",
            "aac",
            input.to_str().unwrap(),
        ]);
        let chunks = dir.path().join(format!("{name}.chunks"));
        for k in 0..3 {
            let out = chunk_cmd(&input, &style, &chunks)
                .arg("--chunk")
                .arg(format!("{k}/3"))
                .output()
                .unwrap();
            assert_ok(&out);
        }
        let joined = dir.path().join(format!("joined-{name}"));
        assert_ok(&join(&input, &chunks, &joined));
        assert_eq!(frame_count(&joined), 60, "{name}");
        assert_eq!(frame_times(&joined), frame_times(&input), "{name}");
        assert_eq!(
            packets_md5(&joined, "a"),
            packets_md5(&input, "a"),
            "{name}"
        );
    }
}
