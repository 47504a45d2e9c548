//! Helpers shared by the end-to-end tests: generated images, videos and style files.

#![allow(dead_code)]

pub mod media;
pub mod training;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use faststyle::device::Cpu;
use faststyle::model::{StyleFile, StyleMeta, Transformer, TransformerConfig, WeightStorage};
use image::RgbImage;

/// The real binary, with no styles directory from the environment.
pub fn faststyle() -> Command {
    let mut cmd = Command::cargo_bin("faststyle").expect("binary built");
    cmd.env_remove("FASTSTYLE_STYLES");
    cmd
}

/// A randomly initialized (untrained) style file; training is not needed to test plumbing.
pub fn write_style(path: &Path, width: f32) -> PathBuf {
    let config = TransformerConfig::new(width, 2);
    let model = Transformer::<Cpu>::new(&config, &Default::default());
    let meta = StyleMeta {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        painting_title: "Test Pattern".into(),
        painting_author: "faststyle tests".into(),
        ..Default::default()
    };
    StyleFile::from_model(&model, config, meta)
        .save(path, WeightStorage::F16, true)
        .unwrap();
    path.to_path_buf()
}

/// A colourful synthetic picture: gradients, a disc and stripes, so that every channel and
/// many hues appear.
pub fn test_image(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let dx = fx - 0.5;
        let dy = fy - 0.5;
        let disc = dx * dx + dy * dy < 0.06;
        let stripe = (x / 6) % 2 == 0;
        let r = 40.0 + 170.0 * fx;
        let g = if disc { 200.0 } else { 60.0 + 120.0 * fy };
        let b = if stripe { 170.0 } else { 70.0 };
        image::Rgb([r as u8, g as u8, b as u8])
    })
}

pub fn write_image(path: &Path, width: u32, height: u32) -> PathBuf {
    test_image(width, height).save(path).unwrap();
    path.to_path_buf()
}

/// Names of the files in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts that a failed run said something useful and did not panic.
pub fn assert_clean_failure(output: &std::process::Output, must_mention: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "panic reached the user: {stderr}"
    );
    assert!(
        stderr.contains(must_mention),
        "stderr should mention {must_mention:?}: {stderr}"
    );
    assert!(
        stderr.starts_with("error: ") || stderr.contains("\nerror: "),
        "{stderr}"
    );
}

/// Sends `signal` (e.g. "-INT") to a running child, then waits for it: its output, and its
/// stderr as text.
pub fn signal_and_wait(child: std::process::Child, signal: &str) -> (std::process::Output, String) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} failed");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

/// Asserts that a run succeeded, showing its stderr when it did not.
pub fn assert_ok(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "faststyle failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
