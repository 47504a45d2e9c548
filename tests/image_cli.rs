//! End-to-end tests of `faststyle image`, driving the real binary.

mod common;

use common::*;
use faststyle::picture::chroma;
use image::GenericImageView;

/// `faststyle image INPUT --style STYLE`, to which each test adds its flags.
fn image_cmd(input: &std::path::Path, style: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = faststyle();
    cmd.arg("image").arg(input).arg("--style").arg(style);
    cmd
}

#[test]
fn stylizes_an_odd_sized_png_keeping_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 1.0);
    let input = write_image(&dir.path().join("in.png"), 97, 61);
    let out = dir.path().join("out.png");
    faststyle()
        .args([
            "image",
            input.to_str().unwrap(),
            "--style",
            style.to_str().unwrap(),
            "-o",
        ])
        .arg(&out)
        .assert()
        .success();
    let result = image::open(&out).unwrap().to_rgb8();
    assert_eq!(result.dimensions(), (97, 61));
    assert_ne!(
        result,
        image::open(&input).unwrap().to_rgb8(),
        "output equals input"
    );
    assert_eq!(files_in(dir.path()), ["in.png", "out.png", "s.safetensors"]);
}

#[test]
fn strength_zero_returns_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 40, 30);
    let out = dir.path().join("out.png");
    image_cmd(&input, &style)
        .args(["--strength", "0", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(
        image::open(&out).unwrap().to_rgb8(),
        image::open(&input).unwrap().to_rgb8()
    );
}

#[test]
fn half_strength_lies_between_input_and_full_style() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 40, 30);
    let run = |strength: &str, name: &str| {
        let out = dir.path().join(name);
        image_cmd(&input, &style)
            .args(["--strength", strength, "-o"])
            .arg(&out)
            .assert()
            .success();
        image::open(out).unwrap().to_rgb8()
    };
    let full = run("1", "full.png");
    let half = run("0.5", "half.png");
    let original = image::open(&input).unwrap().to_rgb8();
    for ((f, h), o) in full.pixels().zip(half.pixels()).zip(original.pixels()) {
        for c in 0..3 {
            let expected = (f[c] as f32 + o[c] as f32) / 2.0;
            assert!((h[c] as f32 - expected).abs() <= 1.0, "{f:?} {h:?} {o:?}");
        }
    }
}

#[test]
fn preserve_color_keeps_the_input_chroma() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 64, 48);
    let out = dir.path().join("out.png");
    image_cmd(&input, &style)
        .arg("--preserve-color")
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let result = image::open(&out).unwrap().to_rgb8();
    let original = image::open(&input).unwrap().to_rgb8();
    let mut compared = 0;
    for (r, o) in result.pixels().zip(original.pixels()) {
        // Where a channel hit 0 or 255 the clamp changed the colour; skip those pixels.
        if r.0.iter().any(|&v| v == 0 || v == 255) {
            continue;
        }
        let (rb, rr) = chroma(*r);
        let (ob, or) = chroma(*o);
        assert!(
            (rb - ob).abs() <= 1.0 && (rr - or).abs() <= 1.0,
            "{r:?} vs {o:?}"
        );
        compared += 1;
    }
    assert!(
        compared > result.pixels().len() * 3 / 4,
        "only {compared} pixels unclamped"
    );
    assert_ne!(result, original, "the luminance should have changed");
}

#[test]
fn folder_input_with_out_dir_keeps_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    write_image(&photos.join("a.png"), 20, 16);
    write_image(&photos.join("b.jpg"), 17, 23);
    std::fs::write(photos.join("notes.txt"), "not an image").unwrap();
    let out = dir.path().join("out");
    faststyle()
        .arg("image")
        .arg(&photos)
        .arg("--style")
        .arg(&style)
        .arg("--out-dir")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(files_in(&out), ["a.png", "b.jpg"]);
    assert_eq!(
        image::open(out.join("b.jpg"))
            .unwrap()
            .to_rgb8()
            .dimensions(),
        (17, 23)
    );
}

#[test]
fn default_output_name_is_beside_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("mono.safetensors"), 0.25);
    let input = write_image(&dir.path().join("cat.png"), 20, 16);
    image_cmd(&input, &style).assert().success();
    assert!(dir.path().join("cat-mono.png").is_file());
}

#[test]
fn max_size_scales_down() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 120, 60);
    let out = dir.path().join("out.webp");
    image_cmd(&input, &style)
        .args(["--max-size", "40", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(image::open(&out).unwrap().dimensions(), (40, 20));
}

#[test]
fn style_by_name_from_the_styles_directory() {
    let dir = tempfile::tempdir().unwrap();
    let styles = dir.path().join("styles");
    std::fs::create_dir(&styles).unwrap();
    write_style(&styles.join("checker.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 20, 16);
    let out = dir.path().join("out.png");
    faststyle()
        .env("FASTSTYLE_STYLES", &styles)
        .arg("image")
        .arg(&input)
        .args(["--style", "checker", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert!(out.is_file());
}

#[test]
fn missing_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let output = faststyle()
        .arg("image")
        .arg(dir.path().join("nope.png"))
        .arg("--style")
        .arg(&style)
        .output()
        .unwrap();
    assert_clean_failure(&output, "nope.png");
    assert_eq!(files_in(dir.path()), ["s.safetensors"]);
}

#[test]
fn unknown_style_lists_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let styles = dir.path().join("styles");
    std::fs::create_dir(&styles).unwrap();
    write_style(&styles.join("alpha.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 20, 16);
    let output = faststyle()
        .env("FASTSTYLE_STYLES", &styles)
        .arg("image")
        .arg(&input)
        .args(["--style", "no-such-style"])
        .output()
        .unwrap();
    assert_clean_failure(&output, "no-such-style");
    assert!(String::from_utf8_lossy(&output.stderr).contains("alpha"));
    assert_eq!(files_in(dir.path()), ["in.png", "styles"]);
}

#[test]
fn existing_output_is_not_overwritten_without_permission() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 20, 16);
    let out = dir.path().join("out.png");
    std::fs::write(&out, b"precious").unwrap();
    let output = image_cmd(&input, &style)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_clean_failure(&output, "out.png");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--overwrite"));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert_eq!(files_in(dir.path()), ["in.png", "out.png", "s.safetensors"]);

    image_cmd(&input, &style)
        .arg("-y")
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(image::open(&out).unwrap().dimensions(), (20, 16));
}

#[test]
fn unwritable_output_location_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 20, 16);
    // Tests may run as root, who can write anywhere: use places nobody can write to.
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    for target in [
        not_a_dir.join("out.png"),
        dir.path().join("missing/out.png"),
    ] {
        let output = image_cmd(&input, &style)
            .arg("-o")
            .arg(&target)
            .output()
            .unwrap();
        assert_clean_failure(&output, "out.png");
    }
    assert_eq!(files_in(dir.path()), ["file", "in.png", "s.safetensors"]);
}

#[test]
fn input_that_is_not_an_image_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = dir.path().join("fake.png");
    std::fs::write(&input, b"this is text, not a PNG").unwrap();
    let output = image_cmd(&input, &style)
        .arg("-o")
        .arg(dir.path().join("out.png"))
        .output()
        .unwrap();
    assert_clean_failure(&output, "fake.png");
    assert_eq!(files_in(dir.path()), ["fake.png", "s.safetensors"]);
}

#[test]
fn corrupt_style_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let bytes = std::fs::read(&style).unwrap();
    std::fs::write(&style, &bytes[..bytes.len() / 2]).unwrap();
    let input = write_image(&dir.path().join("in.png"), 20, 16);
    let output = image_cmd(&input, &style).output().unwrap();
    assert_clean_failure(&output, "s.safetensors");
    assert!(String::from_utf8_lossy(&output.stderr).contains("truncated"));
}

#[test]
fn input_equal_to_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 20, 16);
    let before = std::fs::read(&input).unwrap();
    let output = image_cmd(&input, &style)
        .arg("-y")
        .arg("-o")
        .arg(&input)
        .output()
        .unwrap();
    assert_clean_failure(&output, "in.png");
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn cuda_device_without_cuda_build_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        eprintln!("built with CUDA: this case does not apply");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let input = write_image(&dir.path().join("in.png"), 20, 16);
    let output = image_cmd(&input, &style)
        .args(["--device", "cuda"])
        .output()
        .unwrap();
    assert_clean_failure(&output, "CUDA");
}

#[test]
fn stroke_scale_paints_the_picture_scaled_down_and_back_up() {
    // A picture made of 2x2 blocks is, scaled down by 2, the picture of one pixel a block:
    // at --stroke-scale 2 the big picture's result must be that small picture's result
    // enlarged (up to the resampling filters), and keep the big picture's size.
    let dir = tempfile::tempdir().unwrap();
    let style = write_style(&dir.path().join("s.safetensors"), 0.25);
    let small = test_image(48, 36);
    let big = image::imageops::resize(&small, 96, 72, image::imageops::FilterType::Nearest);
    let (small_path, big_path) = (dir.path().join("small.png"), dir.path().join("big.png"));
    small.save(&small_path).unwrap();
    big.save(&big_path).unwrap();
    let run = |input: &std::path::Path, flags: &[&str], name: &str| {
        let out = dir.path().join(name);
        image_cmd(input, &style)
            .args(flags)
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
        image::open(out).unwrap().to_rgb8()
    };
    let small_out = run(&small_path, &[], "small-out.png");
    let scaled = run(&big_path, &["--stroke-scale", "2"], "scaled.png");
    let plain = run(&big_path, &[], "plain.png");
    assert_eq!(scaled.dimensions(), (96, 72));
    let enlarged =
        image::imageops::resize(&small_out, 96, 72, image::imageops::FilterType::CatmullRom);
    let mean_diff = |a: &image::RgbImage, b: &image::RgbImage| {
        let sum: f64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .sum();
        sum / a.as_raw().len() as f64
    };
    let to_enlarged = mean_diff(&scaled, &enlarged);
    let plain_to_enlarged = mean_diff(&plain, &enlarged);
    assert!(
        to_enlarged < 4.0 && to_enlarged < plain_to_enlarged / 2.0,
        "stroke scale 2 is {to_enlarged} levels from the small picture's result enlarged \
         (scale 1: {plain_to_enlarged})"
    );

    // Outside 1..8 the flag is refused before anything is written.
    let out = dir.path().join("refused.png");
    let output = image_cmd(&big_path, &style)
        .args(["--stroke-scale", "0.5", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--stroke-scale"));
    assert!(!out.exists());
}
