//! A tiny generated training set and the `faststyle train` command line the training
//! tests share.

use std::path::{Path, PathBuf};

use super::faststyle;

/// A tiny dataset of generated photos (varied colours and shapes, two in a subfolder),
/// and a striped "painting".
pub fn tiny_dataset(dir: &Path) -> (PathBuf, PathBuf) {
    let photos = dir.join("photos");
    std::fs::create_dir_all(photos.join("nested")).unwrap();
    for i in 0..6u32 {
        let img = image::RgbImage::from_fn(80 + 8 * i, 72, |x, y| {
            let v = ((x * (3 + i) + y * (5 + 2 * i)) % 256) as u8;
            image::Rgb([v, 255 - v, ((x + y + 40 * i) % 256) as u8])
        });
        let sub = if i % 2 == 0 {
            photos.clone()
        } else {
            photos.join("nested")
        };
        img.save(sub.join(format!("p{i}.png"))).unwrap();
    }
    let painting = dir.join("painting.png");
    image::RgbImage::from_fn(96, 96, |x, y| {
        let stripe = ((x + y) / 6) % 2 == 0;
        if stripe {
            image::Rgb([230, 200, 40])
        } else {
            image::Rgb([20, 40, 160])
        }
    })
    .save(&painting)
    .unwrap();
    (photos, painting)
}

pub fn train_cmd(
    dir: &Path,
    photos: &Path,
    painting: &Path,
    out: &str,
    steps: u32,
    extra: &[&str],
) -> std::process::Output {
    faststyle()
        .current_dir(dir)
        .args(["train", "--style-image"])
        .arg(painting)
        .arg("--dataset")
        .arg(photos)
        .args(["--out", out, "--steps", &steps.to_string()])
        .args([
            "--batch",
            "2",
            "--image-size",
            "64",
            "--style-size",
            "96",
            "--width",
            "0.25",
        ])
        .args([
            "--style-layers",
            "block1_conv1,block2_conv1,block3_conv1",
            "--content-layer",
            "block3_conv1",
        ])
        .args([
            "--checkpoint-every",
            "10",
            "--preview-every",
            "0",
            "--seed",
            "7",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// Column `i` of a losses.csv's rows, below its header.
pub fn column(csv: &str, i: usize) -> Vec<f64> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').nth(i).unwrap().parse().unwrap())
        .collect()
}

pub fn losses(csv: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[5].parse().unwrap())
        })
        .collect()
}
