//! The network on a CUDA GPU. Without `--features cuda` these are reported as ignored; with
//! it but without a GPU that answers, each says on stderr that it was skipped and why
//! (scripts/gpu-check.sh runs them with --nocapture).
// Built without the `video` feature, the video tests and their helpers drop out.
#![cfg_attr(not(feature = "video"), allow(unused))]

mod common;

use common::media::{frame_count, h264_clip};
use common::training::{losses, tiny_dataset, train_cmd};
use common::{assert_ok, faststyle, write_image, write_style};

/// Whether `--device cuda` works here; if not, says so on stderr.
fn cuda_or_skip(test: &str) -> bool {
    let out = faststyle()
        .args([
            "bench", "--device", "cuda", "--size", "16x16", "--frames", "1", "--json",
        ])
        .output()
        .unwrap();
    if out.status.success() {
        return true;
    }
    let why = String::from_utf8_lossy(&out.stderr);
    eprintln!("{test}: SKIPPED, no CUDA here: {}", why.trim());
    false
}

#[test]
#[cfg_attr(not(feature = "cuda"), ignore = "built without --features cuda")]
fn image_on_cuda_matches_the_cpu() {
    if !cuda_or_skip("image_on_cuda_matches_the_cpu") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 1.0);
    let input = write_image(&dir.path().join("in.png"), 62, 45);
    let run = |device: &str| {
        let out = dir.path().join(format!("{device}.png"));
        let output = faststyle()
            .args([
                "image",
                input.to_str().unwrap(),
                "--device",
                device,
                "--style",
            ])
            .arg(&style)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert_ok(&output);
        image::open(out).unwrap().to_rgb8()
    };
    let (cpu, gpu) = (run("cpu"), run("cuda"));
    let worst = cpu
        .as_raw()
        .iter()
        .zip(gpu.as_raw())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    assert!(
        worst <= 2,
        "CPU and CUDA pictures differ by up to {worst} levels"
    );
}

#[cfg(feature = "video")]
#[test]
#[cfg_attr(not(feature = "cuda"), ignore = "built without --features cuda")]
fn video_on_cuda_in_batches_keeps_every_frame() {
    if !cuda_or_skip("video_on_cuda_in_batches_keeps_every_frame") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 1.0);
    let clip = h264_clip(dir.path(), "in.mp4", "320x240", 2.0, true);
    let out = dir.path().join("out.mp4");
    let output = faststyle()
        .args([
            "video",
            clip.to_str().unwrap(),
            "--device",
            "cuda",
            "--batch",
            "8",
            "--style",
        ])
        .arg(&style)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_ok(&output);
    assert_eq!(frame_count(&out), frame_count(&clip));
}

#[test]
#[cfg_attr(not(feature = "cuda"), ignore = "built without --features cuda")]
fn training_on_cuda_lowers_the_loss() {
    if !cuda_or_skip("training_on_cuda_lowers_the_loss") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "gpu.safetensors",
        40,
        &["--device", "cuda"],
    );
    assert_ok(&out);
    let l = losses(&dir.path().join("gpu.train/losses.csv"));
    let early: f64 = l[..5].iter().map(|l| l.1).sum::<f64>() / 5.0;
    let late: f64 = l[35..].iter().map(|l| l.1).sum::<f64>() / 5.0;
    assert!(
        late < 0.7 * early,
        "loss did not fall on CUDA: {early:.4e} -> {late:.4e}"
    );
}
