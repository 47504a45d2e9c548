//! Times the CPU backend with faststyle's host kernels against the same network composed
//! from burn's own ops (the reference path), in one run, and prints the ratio: the forward
//! pass at a few sizes and, with `--train`, one full training step (transformer + VGG19
//! loss to block5_conv1, batch 4, 256x256, Adam), which needs the VGG19 weights.
//!
//!     cargo run --release --example kernels_compare [-- --reps N] [--train]

use std::time::Instant;

use burn::backend::Autodiff;
use burn::optim::AdamConfig;
use faststyle::device::Cpu;
use faststyle::kernels::use_reference_kernels;
use faststyle::model::{Transformer, TransformerConfig, vgg};
use faststyle::picture::{self, Planar};
use faststyle::train::{Objective, train_step};

/// Best of `reps` runs after a warm-up, for the host kernels and for the reference.
fn best_of(reps: usize, mut run: impl FnMut()) -> [f64; 2] {
    [false, true].map(|reference| {
        use_reference_kernels(reference);
        run();
        (0..reps)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    })
}

fn main() {
    let reps: usize = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let device = Default::default();
    let config = TransformerConfig::default();
    let model = Transformer::<Cpu>::new(&config, &device);

    println!("forward pass, width 1.0, best of {reps} after a warm-up");
    println!(
        "{:<14} {:>8} {:>12} {:>8} {:>9}",
        "size x batch", "host s", "reference s", "speed-up", "GFLOP/s"
    );
    for (w, h, n) in [(256, 256, 1), (256, 256, 4), (640, 360, 1)] {
        let frames = vec![Planar::test_pattern(w, h); n];
        let [host, reference] = best_of(reps, || {
            let x = picture::to_tensor::<Cpu>(&frames, &device);
            let _ = model.forward(x).into_data();
        });
        let gflop = 2.0 * config.macs_per_pixel() * (w * h * n) as f64 / 1e9;
        println!(
            "{:<14} {host:>8.3} {reference:>12.3} {:>8.2} {:>9.1}",
            format!("{w}x{h} x{n}"),
            reference / host,
            gflop / host
        );
    }

    if std::env::args().any(|a| a == "--train") {
        type B = Autodiff<Cpu>;
        let objective =
            match Objective::<B>::for_benchmarks(Some(&vgg::weights_path(None)), &device) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("training step skipped: {e}");
                    return;
                }
            };
        let photos = vec![Planar::test_pattern(256, 256); 4];
        let mut model = Some(Transformer::<B>::new(&config, &device));
        let mut optim = AdamConfig::new().init::<B, Transformer<B>>();
        let [host, reference] = best_of(1, || {
            let x = picture::to_tensor::<B>(&photos, &device);
            let (next, _) = train_step(
                model.take().unwrap(),
                &mut optim,
                &objective,
                x,
                1e-3,
                None,
                faststyle::train::objective::defaults::PEAK_WEIGHT,
            );
            model = Some(next);
        });
        println!(
            "training step, batch 4 256x256, width 1.0: host {host:.2} s, reference {reference:.2} s, speed-up {:.2}",
            reference / host
        );
    }
}
