//! Every style shipped in styles/ loads, says what it is and how it was made, and stylizes
//! a picture; the default style is among them, so `faststyle video` works out of the box.
// Built without the `video` feature, the video tests and their helpers drop out.
#![cfg_attr(not(feature = "video"), allow(unused))]

mod common;

use std::path::PathBuf;

use common::media::{frame_count, h264_clip};
use common::{assert_ok, faststyle, write_image};
use faststyle::catalog::DEFAULT_STYLE;
use faststyle::model::StyleFile;

fn shipped() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("styles");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_default_style_is_shipped() {
    let names: Vec<String> = shipped()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n == DEFAULT_STYLE),
        "styles/ lacks the default style {DEFAULT_STYLE}: {names:?}"
    );
}

#[test]
fn every_shipped_style_is_complete_and_stylizes() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_image(&dir.path().join("in.png"), 70, 46);
    for path in shipped() {
        let style = StyleFile::load(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let m = &style.meta;
        assert_eq!(m.name, stem, "{}", path.display());
        assert!(!m.painting_title.is_empty(), "{stem}: no painting title");
        assert!(!m.painting_author.is_empty(), "{stem}: no painting author");
        assert!(m.steps > 0, "{stem}: not trained");
        for key in [
            "batch",
            "image_size",
            "style_size",
            "content_weight",
            "style_weight",
            "tv_weight",
            "lr",
            "seed",
        ] {
            assert!(
                m.training.contains_key(key),
                "{stem}: training settings lack {key}"
            );
        }
        // A distilled style (--teacher) records its own loss terms.
        let losses: &[&str] = if m.training.contains_key("teacher") {
            &["teacher_mse", "texture", "total"]
        } else {
            &["content", "style", "tv", "total"]
        };
        for &key in losses {
            assert!(
                m.final_losses.get(key).is_some_and(|v| v.is_finite()),
                "{stem}: final losses lack {key}"
            );
        }
        assert!(
            m.created_by.starts_with("faststyle"),
            "{stem}: {}",
            m.created_by
        );

        // By name, as a user would call it.
        let out = dir.path().join(format!("{stem}.png"));
        let output = faststyle()
            .args(["image", input.to_str().unwrap(), "--style", &stem, "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert_ok(&output);
        let img = image::open(&out).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (70, 46), "{stem}");
        let pixels = img.as_raw();
        let mean = pixels.iter().map(|v| *v as f64).sum::<f64>() / pixels.len() as f64;
        let spread =
            pixels.iter().map(|v| (*v as f64 - mean).abs()).sum::<f64>() / pixels.len() as f64;
        assert!(
            spread > 2.0,
            "{stem}: a flat picture (mean {mean:.1}, spread {spread:.2})"
        );
    }
}

#[cfg(feature = "video")]
/// The main job with no flags at all: the default style, on the CPU.
#[test]
fn video_works_out_of_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let clip = h264_clip(dir.path(), "in.mp4", "160x120", 1.0, true);
    let out = dir.path().join("out.mp4");
    let output = faststyle()
        .current_dir(dir.path())
        .args(["video", "in.mp4", "-o", "out.mp4"])
        .output()
        .unwrap();
    assert_ok(&output);
    assert_eq!(frame_count(&out), frame_count(&clip));
}
