//! End-to-end tests of `faststyle bench` (figures are checked for shape, never for speed).

mod common;

use common::*;

#[test]
fn bench_reports_network_figures_as_json() {
    let out = faststyle()
        .args([
            "bench", "--size", "64x48", "--frames", "3", "--batch", "2", "--width", "0.25",
            "--json",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = &v["network"];
    assert_eq!(
        (n["width"].as_u64(), n["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(n["frames"], 4, "whole batches are timed");
    assert!(n["fps"].as_f64().unwrap() > 0.0);
    let expected_gflop =
        2.0 * faststyle::model::TransformerConfig::new(0.25, 5).macs_per_pixel() * 64.0 * 48.0
            / 1e9;
    assert!((n["gflop_per_frame"].as_f64().unwrap() - expected_gflop).abs() < 1e-9);
    assert_eq!(n["frames_as"], "rgb");
    assert!(v["video"].is_null());
}

#[test]
fn bench_times_frames_as_4_2_0_planes_on_request() {
    // Odd sizes: chroma planes rounded up, frames padded to whole words.
    let out = faststyle()
        .args([
            "bench", "--size", "33x17", "--frames", "2", "--batch", "2", "--width", "0.25",
            "--yuv", "--json",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["network"]["frames_as"], "yuv");
    assert_eq!(v["network"]["frames"], 2);
    assert!(v["network"]["fps"].as_f64().unwrap() > 0.0);
}

#[cfg(feature = "video")]
#[test]
fn bench_with_a_video_reports_stage_figures() {
    let dir = tempfile::tempdir().unwrap();
    let clip = media::make_clip(
        dir.path(),
        "c.mp4",
        "96x64",
        25,
        0.4,
        true,
        &["-c:v", "libx264", "-c:a", "aac"],
    );
    let out = faststyle()
        .args([
            "bench", "--size", "32x32", "--frames", "1", "--width", "0.25", "--json", "--video",
        ])
        .arg(&clip)
        .output()
        .unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["video"]["frames"], 10);
    for stage in ["decode_fps", "stylize_fps", "encode_fps"] {
        assert!(v["video"][stage].as_f64().unwrap() > 0.0, "{stage}");
    }
    assert_eq!(files_in(dir.path()), ["c.mp4"]);
}

#[test]
fn bench_train_times_training_steps() {
    // Needs the VGG19 weights that scripts/setup.sh installs, as training does.
    let out = faststyle()
        .args([
            "bench", "--train", "--size", "32x32", "--batch", "2", "--steps", "2", "--width",
            "0.25", "--json",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["network"].is_null(), "only the training step is timed");
    let t = &v["train"];
    assert_eq!(
        (t["batch"].as_u64(), t["steps"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(t["steps_per_s"].as_f64().unwrap() > 0.0);
    use faststyle::model::vgg::macs_per_pixel;
    let macs = 3.0 * faststyle::model::TransformerConfig::new(0.25, 5).macs_per_pixel()
        + macs_per_pixel("block4_conv2")
        + 2.0 * macs_per_pixel("block5_conv1");
    let expected_gflop = 2.0 * macs * 32.0 * 32.0 * 2.0 / 1e9;
    assert!((t["gflop_per_step"].as_f64().unwrap() - expected_gflop).abs() < 1e-9);
}

/// `--precision bf16` runs on AMX tiles or AVX512-BF16 where the CPU has them and otherwise
/// refuses in one sentence; `f32` runs everywhere; the report and the JSON say which
/// precision ran.
#[test]
fn bench_train_precision_is_reported_or_refused() {
    let run = |precision: &str| {
        faststyle()
            .args([
                "bench",
                "--train",
                "--size",
                "32x32",
                "--batch",
                "1",
                "--steps",
                "1",
                "--width",
                "0.25",
                "--json",
                "--precision",
                precision,
            ])
            .output()
            .unwrap()
    };
    let out = run("f32");
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["train"]["precision"], "f32");
    let out = run("bf16");
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let engine = if cpuinfo.contains(" amx_bf16") {
        Some("AMX")
    } else if cpuinfo.contains(" avx512_bf16") {
        Some("AVX512-BF16")
    } else {
        None
    };
    if let Some(engine) = engine {
        assert_ok(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["train"]["precision"],
            format!("bf16 GEMM operands on {engine}, f32 sums").as_str()
        );
    } else {
        eprintln!("this CPU has no bf16 GEMM: checking the refusal instead");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs a CPU with AVX512-BF16"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bench_train_without_the_vgg_weights_says_where_they_go_or_uses_random_ones() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("vgg19.h5");
    for how in ["env", "flag"] {
        let mut cmd = faststyle();
        cmd.args(["bench", "--train", "--size", "32x32", "--steps", "1"]);
        if how == "env" {
            cmd.env("FASTSTYLE_VGG19", &missing);
        } else {
            cmd.arg("--vgg").arg(&missing);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{how}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("vgg19.h5") && err.contains("fetch-vgg19.sh"),
            "{how}: {err}"
        );
        assert!(!err.contains("panicked"), "{how}: {err}");
    }
    // --random-vgg needs no file: the same work, for timing.
    let out = faststyle()
        .args([
            "bench", "--train", "--size", "32x32", "--batch", "1", "--steps", "1",
        ])
        .args(["--width", "0.25", "--random-vgg", "--json"])
        .env("FASTSTYLE_VGG19", &missing)
        .output()
        .unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["train"]["random_vgg"], true);
    assert!(v["train"]["ms_per_step"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_bench_sizes_are_refused() {
    let out = faststyle()
        .args(["bench", "--size", "0x5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0x5"));
}
