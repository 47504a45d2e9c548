//! Training: the VGG19 loader against independently computed values (h5py + numpy, see
//! tests/reference/vgg19_reference.py), a short real training run, resume, and bad input.
//! Needs the VGG19 weights that scripts/setup.sh installs.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use common::training::*;
use common::*;
use faststyle::device::Cpu;
use faststyle::model::vgg::{self, Vgg19};

fn vgg_file() -> PathBuf {
    let p = vgg::weights_path(None);
    assert!(
        p.is_file(),
        "VGG19 weights missing at {}: run scripts/setup.sh (or scripts/fetch-vgg19.sh)",
        p.display()
    );
    p
}

#[test]
fn vgg19_kernel_and_bias_values_match_h5py() {
    let w = vgg::read_weights(&vgg_file(), "block1_conv1").unwrap();
    let kernel: Vec<f32> = w[0].kernel.to_vec().unwrap();
    let bias: Vec<f32> = w[0].bias.to_vec().unwrap();
    // h5py indices are (kh, kw, in, out); ours are (out, in, kh, kw).
    // Compared as f64: h5py printed the stored f32 values widened to f64, exactly.
    let at =
        |kh: usize, kw: usize, i: usize, o: usize| kernel[((o * 3 + i) * 3 + kh) * 3 + kw] as f64;
    assert_eq!(at(0, 0, 0, 0), 0.3411952257156372);
    assert_eq!(at(1, 2, 0, 5), 0.2146802544593811);
    assert_eq!(at(2, 1, 2, 63), 0.07766484469175339);
    assert_eq!(at(0, 2, 1, 17), -0.006327687297016382);
    assert_eq!(bias[0] as f64, 0.7301775813102722);
    assert_eq!(bias[7] as f64, 0.3478994369506836);
    assert_eq!(bias[63] as f64, 0.40721219778060913);
}

#[test]
fn vgg19_features_match_an_independent_reference() {
    let device = Default::default();
    let net = Vgg19::<Cpu>::load(&vgg_file(), "block2_conv1", &device).unwrap();
    let (h, w) = (16usize, 16usize);
    let mut data = vec![0f32; 3 * h * w];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                data[(c * h + y) * w + x] = ((x * 7 + y * 13 + c * 29) % 256) as f32;
            }
        }
    }
    let img = Tensor::<Cpu, 4>::from_data(TensorData::new(data, [1, 3, h, w]), &device);
    let feats = net.features(img, &["block1_conv1", "block2_conv1"]);
    let reference: [(&str, usize, usize, usize, f64); 12] = [
        ("block1_conv1", 0, 0, 0, 202.6240361084478),
        ("block1_conv1", 3, 3, 0, 37.42371066328792),
        ("block1_conv1", 28, 6, 1, 20.470266433826946),
        ("block1_conv1", 22, 9, 5, 114.12806262099336),
        ("block1_conv1", 51, 12, 11, 224.31497850778285),
        ("block1_conv1", 61, 15, 15, 51.74319314723566),
        ("block2_conv1", 2, 0, 0, 118.02038800049587),
        ("block2_conv1", 76, 1, 4, 216.2813438328321),
        ("block2_conv1", 116, 3, 0, 266.4971650680299),
        ("block2_conv1", 65, 4, 5, 377.7651696111725),
        ("block2_conv1", 103, 6, 2, 717.7113731181753),
        ("block2_conv1", 126, 7, 7, 65.38953294171478),
    ];
    let sums = [
        ("block1_conv1", 512575.31043074443),
        ("block2_conv1", 1645648.1743120865),
    ];
    for (i, (layer, total)) in sums.iter().enumerate() {
        let f = feats[i].clone();
        let [_, c, fh, fw] = f.dims();
        let values: Vec<f32> = f.clone().into_data().to_vec().unwrap();
        let sum: f64 = values.iter().map(|v| *v as f64).sum();
        assert!(
            ((sum - total) / total).abs() < 1e-3,
            "{layer} sum {sum} vs {total}"
        );
        for &(l, ch, y, x, expected) in reference.iter().filter(|r| r.0 == *layer) {
            let got = values[(ch * fh + y) * fw + x] as f64;
            assert!(
                ((got - expected) / expected).abs() < 1e-3,
                "{l}[{ch},{y},{x}] = {got}, expected {expected}"
            );
            assert!(ch < c);
        }
    }
}

#[test]
fn short_training_lowers_the_loss_and_resume_matches_a_straight_run() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());

    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "straight.safetensors",
        40,
        &[],
    );
    assert_ok(&out);
    let straight = losses(&dir.path().join("straight.train/losses.csv"));
    assert_eq!(straight.len(), 40);
    let early: f64 = straight[..5].iter().map(|l| l.1).sum::<f64>() / 5.0;
    let late: f64 = straight[35..].iter().map(|l| l.1).sum::<f64>() / 5.0;
    assert!(
        late < 0.7 * early,
        "loss did not fall: {early:.4e} -> {late:.4e}"
    );
    assert!(
        dir.path()
            .join("straight.train/preview-000040.png")
            .is_file()
    );

    // The style file it wrote is complete and usable.
    let style =
        faststyle::model::StyleFile::load(&dir.path().join("straight.safetensors")).unwrap();
    assert_eq!(style.meta.steps, 40);
    assert_eq!(style.meta.painting_title, "painting");
    assert!(style.meta.final_losses.contains_key("style"));
    assert_eq!(style.meta.training["seed"], 7);
    assert_eq!(
        style.meta.training["style_image"],
        painting.to_str().unwrap()
    );

    // eval scores it with the painting it recorded: the unstylized baseline has no content
    // loss, and 40 steps already bring the photos' Grams closer to the painting's.
    let out = faststyle()
        .args(["eval", "--json", "--style"])
        .arg(dir.path().join("straight.safetensors"))
        .arg("--images")
        .arg(&photos)
        .output()
        .unwrap();
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["photos"], 6);
    assert_eq!(report["content_layer"], "block3_conv1");
    assert_eq!(report["unstylized"]["content"], 0.0);
    let stylized_content = report["stylized"]["content"].as_f64().unwrap();
    assert!(stylized_content > 0.0 && stylized_content.is_finite());
    let ratio = report["style_ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "style ratio {ratio}");
    // One style figure for each style layer the style was trained with, summing to the total.
    let layers = report["style_layers"].as_array().unwrap().len();
    for side in ["unstylized", "stylized"] {
        let by_layer: Vec<f64> = report[side]["style_by_layer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(by_layer.len(), layers, "{side}");
        let total = report[side]["style"].as_f64().unwrap();
        let sum: f64 = by_layer.iter().sum();
        assert!(
            (sum - total).abs() <= 1e-4 * total,
            "{side}: {sum} vs {total}"
        );
    }

    // Half, then resume to the end: the same losses as the straight run.
    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "halves.safetensors",
        20,
        &[],
    );
    assert_ok(&out);
    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "halves.safetensors",
        40,
        &["--resume"],
    );
    assert_ok(&out);
    let resumed = losses(&dir.path().join("halves.train/losses.csv"));
    assert_eq!(resumed.len(), 40);
    // The log's clock continues across the resume instead of restarting.
    let csv = std::fs::read_to_string(dir.path().join("halves.train/losses.csv")).unwrap();
    let seconds = column(&csv, 1);
    assert!(
        seconds.windows(2).all(|w| w[1] >= w[0]),
        "seconds go back: {seconds:?}"
    );
    let (a, b) = (straight[39].1, resumed[39].1);
    assert!(
        ((a - b) / a).abs() < 1e-3,
        "step 40: straight {a:.6e}, resumed {b:.6e}"
    );
}

#[test]
fn eval_bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let style = write_style(&dir.path().join("untrained.safetensors"), 0.25);
    let eval = |extra: &[&std::ffi::OsStr]| {
        faststyle()
            .args(["eval", "--style"])
            .arg(&style)
            .args(extra)
            .output()
            .unwrap()
    };
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = eval(&[
        "--images".as_ref(),
        empty.as_os_str(),
        "--style-image".as_ref(),
        painting.as_os_str(),
    ]);
    assert_clean_failure(&out, "contains no photos");
    // An untrained style records no painting.
    let out = eval(&["--images".as_ref(), photos.as_os_str()]);
    assert_clean_failure(&out, "--style-image");
    let out = eval(&[
        "--images".as_ref(),
        photos.as_os_str(),
        "--style-image".as_ref(),
        "/nonexistent/p.jpg".as_ref(),
    ]);
    assert_clean_failure(&out, "/nonexistent/p.jpg");
}

/// Copies every photo of `photos` (nested ones too) into `to` as PNG at the same relative
/// path, transformed by `f`: a stand-in for another tool's stylized outputs.
fn copy_as_png(photos: &Path, to: &Path, f: &dyn Fn(image::RgbImage) -> image::RgbImage) {
    for entry in walk(photos) {
        let rel = entry.strip_prefix(photos).unwrap().with_extension("png");
        std::fs::create_dir_all(to.join(&rel).parent().unwrap()).unwrap();
        f(image::open(&entry).unwrap().to_rgb8())
            .save(to.join(rel))
            .unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn eval_scores_another_tools_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let eval = |stylized: &Path| {
        faststyle()
            .args([
                "eval",
                "--json",
                "--per-photo",
                "--style-size",
                "96",
                "--images",
            ])
            .arg(&photos)
            .arg("--stylized")
            .arg(stylized)
            .arg("--style-image")
            .arg(&painting)
            .output()
            .unwrap()
    };
    // Pictures identical to the photos score as the unstylized baseline, photo by photo.
    let same = dir.path().join("same");
    copy_as_png(&photos, &same, &|img| img);
    let out = eval(&same);
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["photos"], 6);
    assert_eq!(report["style"], "same");
    assert_eq!(report["stylized"]["content"], 0.0);
    assert!((report["style_ratio"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    let per_photo = report["per_photo"].as_array().unwrap();
    assert_eq!(per_photo.len(), 6);
    assert!(per_photo.iter().all(|p| p["unstylized"] == p["stylized"]));

    // Pictures painted in the painting's colours score closer to it than the photos.
    let painted = dir.path().join("painted");
    copy_as_png(&photos, &painted, &|mut img| {
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = if ((x + y) / 6) % 2 == 0 {
                image::Rgb([230, 200, 40])
            } else {
                image::Rgb([20, 40, 160])
            };
        }
        img
    });
    let out = eval(&painted);
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["stylized"]["content"].as_f64().unwrap() > 0.0);
    let ratio = report["style_ratio"].as_f64().unwrap();
    assert!(ratio < 0.5, "style ratio {ratio}");

    // A missing picture and one of the wrong size are named.
    std::fs::remove_file(painted.join("nested/p1.png")).unwrap();
    assert_clean_failure(&eval(&painted), "p1");
    image::RgbImage::new(10, 10)
        .save(painted.join("nested/p1.png"))
        .unwrap();
    assert_clean_failure(&eval(&painted), "is 10x10 but its photo is");
    assert_clean_failure(&eval(&dir.path().join("nowhere")), "nowhere");
    // Without the painting there is nothing to compare with.
    let out = faststyle()
        .args(["eval", "--images"])
        .arg(&photos)
        .arg("--stylized")
        .arg(&same)
        .output()
        .unwrap();
    assert_clean_failure(&out, "--style-image");
}

#[test]
fn bad_training_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let missing = dir.path().join("nope.jpg");
    let out = train_cmd(dir.path(), &photos, &missing, "a.safetensors", 2, &[]);
    assert_clean_failure(&out, "nope.jpg");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = train_cmd(dir.path(), &empty, &painting, "b.safetensors", 2, &[]);
    assert_clean_failure(&out, "empty");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no photos"));

    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "c.safetensors",
        2,
        &["--vgg", "/nonexistent/vgg.h5"],
    );
    assert_clean_failure(&out, "/nonexistent/vgg.h5");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fetch-vgg19.sh"));

    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "missing-dir/d.safetensors",
        2,
        &[],
    );
    assert_clean_failure(&out, "d.safetensors");

    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "e.safetensors",
        2,
        &["--resume"],
    );
    assert_clean_failure(&out, "checkpoint");
}

#[test]
fn ctrl_c_writes_a_checkpoint_that_resume_continues() {
    signal_writes_a_checkpoint_that_resume_continues("-INT");
}

/// What batch systems send before they kill a job.
#[test]
fn sigterm_writes_a_checkpoint_that_resume_continues() {
    signal_writes_a_checkpoint_that_resume_continues("-TERM");
}

fn signal_writes_a_checkpoint_that_resume_continues(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("faststyle"))
        .current_dir(dir.path())
        .args(tiny_run(&photos, &painting, 100_000))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let csv = dir.path().join("run.train/losses.csv");
    let started = std::time::Instant::now();
    while losses_if_any(&csv) < 3 {
        assert!(started.elapsed().as_secs() < 60, "training never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (out, stderr) = signal_and_wait(child, signal);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("checkpoint written") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("run.safetensors").exists(),
        "no style file before the end"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run.train/checkpoint/state.json")).unwrap(),
    )
    .unwrap();
    let step = state["step"].as_u64().unwrap();
    assert!(step >= 3, "checkpoint at step {step}");

    // Resume and finish a few steps later.
    let out = faststyle()
        .current_dir(dir.path())
        .args(tiny_run(&photos, &painting, step + 2))
        .arg("--resume")
        .output()
        .unwrap();
    assert_ok(&out);
    let style = faststyle::model::StyleFile::load(&dir.path().join("run.safetensors")).unwrap();
    assert_eq!(style.meta.steps, step + 2);
}

fn losses_if_any(csv: &Path) -> usize {
    std::fs::read_to_string(csv)
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// Arguments of a minimal run (32 px, batch 1, two VGG layers) writing run.safetensors.
fn tiny_run(photos: &Path, painting: &Path, steps: u64) -> Vec<String> {
    let mut args: Vec<String> = vec!["train".into(), "--style-image".into()];
    args.push(painting.to_string_lossy().into_owned());
    args.push("--dataset".into());
    args.push(photos.to_string_lossy().into_owned());
    for a in [
        "--out",
        "run.safetensors",
        "--batch",
        "1",
        "--image-size",
        "32",
        "--width",
        "0.25",
        "--style-layers",
        "block1_conv1",
        "--content-layer",
        "block2_conv1",
        "--checkpoint-every",
        "100000",
        "--preview-every",
        "0",
        "--steps",
    ] {
        args.push(a.into());
    }
    args.push(steps.to_string());
    args
}

#[test]
fn stability_loss_is_logged_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let stable = ["--stability-weight", "5"];
    let out = train_cmd(dir.path(), &photos, &painting, "a.safetensors", 12, &stable);
    assert_ok(&out);
    let csv = std::fs::read_to_string(dir.path().join("a.train/losses.csv")).unwrap();
    assert!(
        csv.starts_with("step,seconds,content,style,tv,total,stability,peaks\n"),
        "{csv}"
    );
    let stability = column(&csv, 6);
    assert_eq!(stability.len(), 12);
    assert!(
        stability.iter().all(|s| s.is_finite() && *s > 0.0),
        "{stability:?}"
    );
    let style = faststyle::model::StyleFile::load(&dir.path().join("a.safetensors")).unwrap();
    assert!(style.meta.final_losses.contains_key("stability"));
    assert_eq!(style.meta.training["stability_weight"], 5.0);

    // Noise and shifts come from (seed, step): a resumed run matches a straight one.
    let out = train_cmd(dir.path(), &photos, &painting, "b.safetensors", 6, &stable);
    assert_ok(&out);
    let resume = ["--stability-weight", "5", "--resume"];
    let out = train_cmd(dir.path(), &photos, &painting, "b.safetensors", 12, &resume);
    assert_ok(&out);
    let (a, b) = (
        losses(&dir.path().join("a.train/losses.csv")),
        losses(&dir.path().join("b.train/losses.csv")),
    );
    assert!(
        ((a[11].1 - b[11].1) / a[11].1).abs() < 1e-3,
        "{} vs {}",
        a[11].1,
        b[11].1
    );
}

#[test]
fn the_blob_terms_are_logged_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    // On by default.
    let out = train_cmd(dir.path(), &photos, &painting, "a.safetensors", 4, &[]);
    assert_ok(&out);
    let csv = std::fs::read_to_string(dir.path().join("a.train/losses.csv")).unwrap();
    assert!(
        csv.starts_with("step,seconds,content,style,tv,total,stability,peaks\n"),
        "{csv}"
    );
    let peaks = column(&csv, 7);
    assert_eq!(peaks.len(), 4);
    assert!(
        peaks.iter().all(|p| p.is_finite() && *p >= 0.0),
        "{peaks:?}"
    );
    let style = faststyle::model::StyleFile::load(&dir.path().join("a.safetensors")).unwrap();
    assert_eq!(style.meta.training["peak_weight"], 1e4);
    assert_eq!(style.meta.training["style_tiles"], 2);
    assert!(style.meta.final_losses.contains_key("peaks"));
    // The head is lengstrom's by default.
    assert_eq!(style.config.output_scale, 150.0);

    // Off, no peaks column; the first styles' head on request: the first styles' recipe.
    let legacy = [
        "--peak-weight",
        "0",
        "--style-tiles",
        "1",
        "--output-scale",
        "127.5",
    ];
    let out = train_cmd(dir.path(), &photos, &painting, "b.safetensors", 2, &legacy);
    assert_ok(&out);
    let csv = std::fs::read_to_string(dir.path().join("b.train/losses.csv")).unwrap();
    assert!(
        csv.starts_with("step,seconds,content,style,tv,total\n"),
        "{csv}"
    );
    let style = faststyle::model::StyleFile::load(&dir.path().join("b.safetensors")).unwrap();
    assert_eq!(style.config.output_scale, 127.5);
    assert_eq!(style.meta.training["style_tiles"], 1);
    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "c.safetensors",
        2,
        &["--output-scale", "100"],
    );
    assert_clean_failure(&out, "outside 127.5..1000");
}

#[test]
fn init_starts_from_a_trained_style_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let out = train_cmd(dir.path(), &photos, &painting, "a.safetensors", 30, &[]);
    assert_ok(&out);
    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "b.safetensors",
        5,
        &["--init", "a.safetensors"],
    );
    assert_ok(&out);

    // b starts where a ended, not from random weights.
    let a = losses(&dir.path().join("a.train/losses.csv"));
    let b = losses(&dir.path().join("b.train/losses.csv"));
    let mean = |l: &[(u64, f64)]| l.iter().map(|x| x.1).sum::<f64>() / l.len() as f64;
    assert!(
        mean(&b[..3]) < 0.8 * mean(&a[..3]),
        "b began at {:.4e}, a at {:.4e}",
        mean(&b[..3]),
        mean(&a[..3])
    );
    let style = faststyle::model::StyleFile::load(&dir.path().join("b.safetensors")).unwrap();
    assert_eq!(style.meta.steps, 35, "a's 30 steps and b's 5");
    assert_eq!(style.meta.training["init"]["name"], "a");
    assert_eq!(style.meta.training["init"]["steps"], 30);

    // Another width than the init style's is refused.
    let out = faststyle()
        .current_dir(dir.path())
        .args(["train", "--style-image"])
        .arg(&painting)
        .arg("--dataset")
        .arg(&photos)
        .args([
            "--out",
            "c.safetensors",
            "--init",
            "a.safetensors",
            "--width",
            "0.5",
        ])
        .output()
        .unwrap();
    assert_clean_failure(&out, "--width 0.5 differs");
    assert!(!dir.path().join("c.safetensors").exists());
}

/// `--teacher`: a narrower network learns a trained style's pictures (pixel MSE, logged in
/// the content column), starts far from them and gets closer; the style file records the
/// teacher, the painting's title and the loss; clashing flags are refused.
#[test]
fn teacher_trains_a_narrower_student_towards_its_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let out = train_cmd(
        dir.path(),
        &photos,
        &painting,
        "t.safetensors",
        10,
        &["--painting-title", "Tiny"],
    );
    assert_ok(&out);
    let student = |extra: &[&str]| {
        faststyle()
            .current_dir(dir.path())
            .args(["train", "--teacher", "t.safetensors", "--dataset"])
            .arg(&photos)
            .args(["--batch", "2", "--image-size", "64", "--preview-every", "0"])
            .args(["--checkpoint-every", "10", "--seed", "7"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = student(&[
        "--out",
        "s.safetensors",
        "--steps",
        "40",
        "--width",
        "0.125",
    ]);
    assert_ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("learning from style t (10 steps)"), "{err}");
    assert!(err.contains("teacher MSE"), "{err}");
    let csv = std::fs::read_to_string(dir.path().join("s.train/losses.csv")).unwrap();
    let (mse, total) = (column(&csv, 2), column(&csv, 5));
    assert_eq!(mse.len(), 40);
    assert!(mse.iter().all(|v| *v > 0.0));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&total[35..]) < 0.5 * mean(&total[..5]),
        "loss {:.4e} at the start, {:.4e} at the end",
        mean(&total[..5]),
        mean(&total[35..])
    );
    let style = faststyle::model::StyleFile::load(&dir.path().join("s.safetensors")).unwrap();
    assert_eq!(style.config.width, 0.125);
    assert_eq!(style.meta.training["teacher"]["name"], "t");
    assert_eq!(style.meta.training["teacher"]["steps"], 10);
    assert_eq!(style.meta.painting_title, "Tiny");
    assert!(style.meta.final_losses.contains_key("teacher_mse"));
    assert!(!style.meta.final_losses.contains_key("style"));
    // The texture term is on by default (the style column) and off at weight 0.
    assert!(style.meta.final_losses["texture"] > 0.0);
    let out = student(&[
        "--out",
        "p.safetensors",
        "--steps",
        "2",
        "--texture-weight",
        "0",
    ]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no VGG19"));
    let style = faststyle::model::StyleFile::load(&dir.path().join("p.safetensors")).unwrap();
    assert_eq!(style.meta.final_losses["texture"], 0.0);

    let out = faststyle()
        .current_dir(dir.path())
        .args(["train", "--teacher", "t.safetensors", "--style-image"])
        .arg(&painting)
        .arg("--dataset")
        .arg(&photos)
        .args(["--out", "x.safetensors"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    let out = student(&["--out", "x.safetensors", "--stability-weight", "10"]);
    assert_clean_failure(&out, "not with --teacher");
    assert!(!dir.path().join("x.safetensors").exists());
}

/// Stylizes a generated 70x50 picture (written to `dir` as still.png) with `style` through
/// `faststyle image`, into `dir/out`, and returns the result.
fn stylize_still(dir: &Path, style: &str, out: &str) -> image::RgbImage {
    image::RgbImage::from_fn(70, 50, |x, y| {
        image::Rgb([(3 * x) as u8, (5 * y) as u8, 90])
    })
    .save(dir.join("still.png"))
    .unwrap();
    let run = faststyle()
        .current_dir(dir)
        .args(["image", "still.png", "--style", style, "-o", out])
        .output()
        .unwrap();
    assert_ok(&run);
    image::open(dir.join(out)).unwrap().to_rgb8()
}

#[test]
fn the_output_norm_is_trained_saved_loaded_and_kept_by_init() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let norm = ["--output-norm"];
    let out = train_cmd(dir.path(), &photos, &painting, "a.safetensors", 3, &norm);
    assert_ok(&out);
    let a = faststyle::model::StyleFile::load(&dir.path().join("a.safetensors")).unwrap();
    assert!(a.config.output_norm);
    assert_eq!(a.meta.training["output_norm"], true);
    for name in ["out_norm.gamma", "out_norm.beta"] {
        assert_eq!(a.weights[name].shape.as_slice(), &[3], "{name}");
    }
    assert_eq!(
        a.weights.values().map(|t| t.num_elements()).sum::<usize>(),
        a.config.parameter_count()
    );

    // The style stylizes like any other.
    let stylized = stylize_still(dir.path(), "a.safetensors", "s.png");
    assert_eq!(stylized.dimensions(), (70, 50));

    // --init keeps it without the flag; a style without one cannot take one on.
    let init = ["--init", "a.safetensors"];
    let out = train_cmd(dir.path(), &photos, &painting, "b.safetensors", 2, &init);
    assert_ok(&out);
    let b = faststyle::model::StyleFile::load(&dir.path().join("b.safetensors")).unwrap();
    assert!(b.config.output_norm);
    let out = train_cmd(dir.path(), &photos, &painting, "c.safetensors", 2, &[]);
    assert_ok(&out);
    let c = faststyle::model::StyleFile::load(&dir.path().join("c.safetensors")).unwrap();
    assert!(!c.config.output_norm);
    assert!(!c.weights.contains_key("out_norm.gamma"));
    let add = ["--init", "c.safetensors", "--output-norm"];
    let out = train_cmd(dir.path(), &photos, &painting, "d.safetensors", 2, &add);
    assert_clean_failure(&out, "has no output norm; a run from it cannot add one");
    assert!(!dir.path().join("d.safetensors").exists());
}

#[test]
fn the_norm_epsilon_is_trained_with_saved_and_kept_by_init() {
    let dir = tempfile::tempdir().unwrap();
    let (photos, painting) = tiny_dataset(dir.path());
    let eps = ["--norm-eps", "0.5"];
    let out = train_cmd(dir.path(), &photos, &painting, "a.safetensors", 2, &eps);
    assert_ok(&out);
    let a = faststyle::model::StyleFile::load(&dir.path().join("a.safetensors")).unwrap();
    assert_eq!(a.config.norm_eps, 0.5);
    assert_eq!(a.meta.training["norm_eps"], 0.5);

    // The same weights under another epsilon paint another picture: the file's is used.
    let with_file_eps = stylize_still(dir.path(), "a.safetensors", "a.png");
    let mut other = a.clone();
    other.config.norm_eps = faststyle::model::config::LEGACY_NORM_EPS;
    other
        .save(
            &dir.path().join("tiny-eps.safetensors"),
            faststyle::model::WeightStorage::F16,
            true,
        )
        .unwrap();
    let with_tiny_eps = stylize_still(dir.path(), "tiny-eps.safetensors", "b.png");
    assert_ne!(with_file_eps.as_raw(), with_tiny_eps.as_raw());

    // --init keeps it without the flag and refuses another.
    let init = ["--init", "a.safetensors"];
    let out = train_cmd(dir.path(), &photos, &painting, "b.safetensors", 2, &init);
    assert_ok(&out);
    let b = faststyle::model::StyleFile::load(&dir.path().join("b.safetensors")).unwrap();
    assert_eq!(b.config.norm_eps, 0.5);
    let other = ["--init", "a.safetensors", "--norm-eps", "1"];
    let out = train_cmd(dir.path(), &photos, &painting, "c.safetensors", 2, &other);
    assert_clean_failure(&out, "--norm-eps 1 differs from the epsilon 0.5 of --init");
    assert!(!dir.path().join("c.safetensors").exists());

    // Out of range: refused before anything is written.
    let bad = ["--norm-eps", "0"];
    let out = train_cmd(dir.path(), &photos, &painting, "d.safetensors", 2, &bad);
    assert_clean_failure(&out, "is outside");
    assert!(!dir.path().join("d.safetensors").exists());
}
