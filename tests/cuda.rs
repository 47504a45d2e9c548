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
    // f32 on both: the GPU's default f16 is checked against f32 below.
    let run = |device: &str| {
        let out = dir.path().join(format!("{device}.png"));
        let output = faststyle()
            .args([
                "image",
                input.to_str().unwrap(),
                "--device",
                device,
                "--precision",
                "f32",
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

/// f16, the GPU's default, against f32 on the same GPU: every shipped style on the shipped
/// photos, within 1 level on 99.9% of the 8-bit values. bf16 keeps 8 bits of mantissa, so
/// its outputs near 255 are already a level apart: a looser bound, 5%.
#[test]
#[cfg_attr(not(feature = "cuda"), ignore = "built without --features cuda")]
fn f16_and_bf16_on_cuda_stay_close_to_f32_for_every_shipped_style() {
    if !cuda_or_skip("f16_and_bf16_on_cuda_stay_close_to_f32_for_every_shipped_style") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let photos = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/photos");
    let listed = faststyle().args(["styles", "--json"]).output().unwrap();
    assert_ok(&listed);
    let styles: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(styles.len() >= 5);
    for style in styles {
        let name = style["name"].as_str().unwrap();
        let run = |precision: &str| {
            let out = dir.path().join(format!("{name}-{precision}"));
            let output = faststyle()
                .arg("image")
                .arg(&photos)
                .args([
                    "--device",
                    "cuda",
                    "--precision",
                    precision,
                    "--style",
                    name,
                ])
                .arg("--out-dir")
                .arg(&out)
                .output()
                .unwrap();
            assert_ok(&output);
            let mut values = Vec::new();
            for entry in common::files_in(&out) {
                values.extend(image::open(out.join(entry)).unwrap().to_rgb8().into_raw());
            }
            values
        };
        let exact = run("f32");
        for (precision, bound) in [("f16", 0.001), ("bf16", 0.05)] {
            let low = run(precision);
            assert_eq!(exact.len(), low.len());
            let off = exact
                .iter()
                .zip(&low)
                .filter(|(a, b)| a.abs_diff(**b) > 1)
                .count() as f64
                / exact.len() as f64;
            eprintln!(
                "{name}: {precision} off f32 by more than 1 level on {:.4}% of values",
                off * 100.0
            );
            assert!(
                off <= bound,
                "{name}: {precision} is off f32 by more than 1 level on {:.3}% of values",
                off * 100.0
            );
        }
    }
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
