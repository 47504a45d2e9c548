//! `faststyle optimize` end to end: the loss falls, the result has the photo's size,
//! previews are written, and bad inputs fail cleanly with nothing written. Needs the VGG19
//! weights that scripts/setup.sh installs.

mod common;

use std::path::Path;

use common::training::tiny_dataset;
use common::*;

/// The first and last total loss at the photo's size, from the run's summary lines.
fn first_and_last_total(stderr: &str) -> (f64, f64) {
    let total = |label: &str| -> f64 {
        let line = stderr
            .lines()
            .rfind(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no '{label}' line in: {stderr}"));
        line.rsplit("total ")
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no total in '{line}'"))
    };
    (total("first:"), total("last:"))
}

fn optimize(dir: &Path, photo: &Path, painting: &Path, extra: &[&str]) -> std::process::Output {
    faststyle()
        .arg("optimize")
        .arg(photo)
        .arg("--style-image")
        .arg(painting)
        .args(["--size", "64", "--device", "cpu"])
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn lbfgs_lowers_the_loss_and_keeps_the_photos_size() {
    let dir = tempfile::tempdir().unwrap();
    let (_, painting) = tiny_dataset(dir.path());
    // Not square and not a multiple of 4, scaled down by --size 64 to 64x40.
    let photo = write_image(&dir.path().join("photo.png"), 96, 60);
    let out = dir.path().join("out.png");
    let run = optimize(
        dir.path(),
        &photo,
        &painting,
        &[
            "--init",
            "noise",
            "--steps",
            "25",
            "--preview-every",
            "10",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let (first, last) = first_and_last_total(&stderr);
    assert!(
        last < 0.3 * first,
        "loss {first:.4e} -> {last:.4e}: {stderr}"
    );
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (64, 40));
    // The result is neither the noise it started from nor flat.
    let rgb = img.to_rgb8();
    let lo = rgb.pixels().map(|p| p[0]).min().unwrap();
    let hi = rgb.pixels().map(|p| p[0]).max().unwrap();
    assert!(hi - lo > 30, "a flat picture: red {lo}..{hi}");
    assert_eq!(
        files_in(&dir.path().join("out.previews")),
        ["step-00010.png", "step-00020.png"]
    );
}

#[test]
fn adam_from_the_photo_paints_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, painting) = tiny_dataset(dir.path());
    let photo = write_image(&dir.path().join("photo.png"), 48, 48);
    let run = optimize(
        dir.path(),
        &photo,
        &painting,
        &["--optimizer", "adam", "--steps", "40"],
    );
    assert_ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let (first, last) = first_and_last_total(&stderr);
    assert!(last < 0.7 * first, "loss {first:.4e} -> {last:.4e}");
    // Default name: the photo's, with the painting's added.
    let out = image::open(dir.path().join("photo-painting.png")).unwrap();
    assert_eq!((out.width(), out.height()), (48, 48));
    let changed = out
        .to_rgb8()
        .pixels()
        .zip(test_image(48, 48).pixels())
        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(&x, y)| x.abs_diff(y) > 8))
        .count();
    assert!(changed > 48 * 48 / 4, "only {changed} pixels changed");
}

#[test]
fn bad_inputs_fail_with_one_clear_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, painting) = tiny_dataset(dir.path());
    let photo = write_image(&dir.path().join("photo.png"), 32, 32);
    let before = files_in(dir.path());
    let steps = ["--steps", "2"];

    let run = optimize(dir.path(), &dir.path().join("nope.png"), &painting, &steps);
    assert_clean_failure(&run, "nope.png");

    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not a picture").unwrap();
    let run = optimize(dir.path(), &photo, &text, &steps);
    assert_clean_failure(&run, "notes.png");
    std::fs::remove_file(&text).unwrap();

    let run = optimize(
        dir.path(),
        &photo,
        &painting,
        &[&steps[..], &["-o", "out.xyz"]].concat(),
    );
    assert_clean_failure(&run, "out.xyz");

    let run = optimize(
        dir.path(),
        &photo,
        &painting,
        &[&steps[..], &["--vgg", "/nonexistent/vgg19.h5"]].concat(),
    );
    assert_clean_failure(&run, "/nonexistent/vgg19.h5");

    let run = optimize(
        dir.path(),
        &photo,
        &painting,
        &[&steps[..], &["-o", "photo.png"]].concat(),
    );
    assert_clean_failure(&run, "photo.png");

    let run = optimize(
        dir.path(),
        &photo,
        &painting,
        &[&steps[..], &["--style-layers", "block9_conv1"]].concat(),
    );
    assert_clean_failure(&run, "block9_conv1");
    assert_eq!(
        files_in(dir.path()),
        before,
        "a failed run left files behind"
    );

    // An existing output is kept without --overwrite, replaced with it.
    let out = dir.path().join("kept.png");
    std::fs::write(&out, "precious").unwrap();
    let run = optimize(
        dir.path(),
        &photo,
        &painting,
        &[&steps[..], &["-o", "kept.png"]].concat(),
    );
    assert_clean_failure(&run, "kept.png");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let run = optimize(
        dir.path(),
        &photo,
        &painting,
        &[&steps[..], &["-o", "kept.png", "-y"]].concat(),
    );
    assert_ok(&run);
    assert_eq!(image::open(&out).unwrap().width(), 32);
}

#[test]
fn coarse_scales_come_first_and_the_result_has_the_photos_size() {
    let dir = tempfile::tempdir().unwrap();
    let (_, painting) = tiny_dataset(dir.path());
    let photo = write_image(&dir.path().join("photo.png"), 128, 80);
    let run = faststyle()
        .arg("optimize")
        .arg(&photo)
        .arg("--style-image")
        .arg(&painting)
        .args(["--steps", "6,4", "--device", "cpu", "-o", "out.png"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let coarse = stderr.find("64x40, 6 steps  last:").expect(&stderr);
    let fine = stderr.find("128x80, 4 steps  first:").expect(&stderr);
    assert!(coarse < fine, "{stderr}");
    assert!(stderr.contains("after 10 steps"), "{stderr}");
    let img = image::open(dir.path().join("out.png")).unwrap();
    assert_eq!((img.width(), img.height()), (128, 80));
}

#[test]
fn ctrl_c_stops_the_run_and_writes_no_result() {
    let dir = tempfile::tempdir().unwrap();
    let (_, painting) = tiny_dataset(dir.path());
    let photo = write_image(&dir.path().join("photo.png"), 64, 64);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("faststyle"))
        .current_dir(dir.path())
        .arg("optimize")
        .arg(&photo)
        .arg("--style-image")
        .arg(&painting)
        .args([
            "--steps",
            "100000",
            "--preview-every",
            "1",
            "--device",
            "cpu",
        ])
        .args(["-o", "out.png"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let previews = dir.path().join("out.previews");
    let started = std::time::Instant::now();
    while !previews.join("step-00002.png").exists() {
        assert!(started.elapsed().as_secs() < 60, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (out, stderr) = signal_and_wait(child, "-INT");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("no output was written") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(!dir.path().join("out.png").exists());
    // Only the result and the previews were ever to be written here.
    let left: Vec<String> = files_in(dir.path())
        .into_iter()
        .filter(|f| f.starts_with('.') || f.contains("tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
