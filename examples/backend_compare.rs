//! Times the transformer's forward pass on the two pure-Rust CPU backends, flex (the one
//! faststyle uses) and ndarray (the reference), in the same run, and prints the ratio.
//!
//! With `--train`, also one training step of the transformer alone (batch 1, 256x256:
//! forward, an MSE loss, backward).
//!
//!     cargo run --release --example backend_compare [-- --reps N] [--train]

use std::time::Instant;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use faststyle::device::Cpu;
use faststyle::model::{StyleFile, StyleMeta, Transformer, TransformerConfig};

fn time_forward<B: Backend>(model: &Transformer<B>, x: &TensorData, reps: usize) -> f64 {
    let device = Default::default();
    let run = || {
        let t = Tensor::<B, 4>::from_data(x.clone(), &device);
        let _ = model.forward(t).into_data();
    };
    run(); // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let start = Instant::now();
        run();
        best = best.min(start.elapsed().as_secs_f64());
    }
    best
}

fn time_train_step<B: AutodiffBackend>(model: &Transformer<B>, x: &TensorData) -> f64 {
    let device = Default::default();
    let start = Instant::now();
    let input = Tensor::<B, 4>::from_data(x.clone(), &device);
    let target = input.clone().detach();
    let loss = (model.forward(input) - target).square().mean();
    let grads = loss.backward();
    drop(grads);
    start.elapsed().as_secs_f64()
}

fn main() {
    let reps: usize = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let config = TransformerConfig::default();
    let flex = Transformer::<Cpu>::new(&config, &Default::default());
    let file = StyleFile::from_model(&flex, config.clone(), StyleMeta::default());
    let nd = file
        .to_model::<NdArray>(&Default::default(), std::path::Path::new("memory"))
        .expect("same architecture");

    println!("forward pass, width 1.0, best of {reps} after a warm-up");
    println!(
        "{:<16} {:>10} {:>10} {:>8} {:>12}",
        "size x batch", "flex s", "ndarray s", "ratio", "flex GFLOP/s"
    );
    for (w, h, n) in [(256, 256, 1), (256, 256, 4), (640, 360, 1), (640, 360, 4)] {
        let values: Vec<f32> = (0..n * 3 * h * w)
            .map(|i| ((i * 7919) % 256) as f32)
            .collect();
        let x = TensorData::new(values, [n, 3, h, w]);
        let tf = time_forward(&flex, &x, reps);
        let tn = time_forward(&nd, &x, reps);
        let gflop = 2.0 * config.macs_per_pixel() * (w * h * n) as f64 / 1e9;
        println!(
            "{:<16} {:>10.3} {:>10.3} {:>8.2} {:>12.1}",
            format!("{w}x{h} x{n}"),
            tf,
            tn,
            tn / tf,
            gflop / tf
        );
    }

    if std::env::args().any(|a| a == "--train") {
        let device = Default::default();
        let values: Vec<f32> = (0..3 * 256 * 256)
            .map(|i| ((i * 7919) % 256) as f32)
            .collect();
        let x = TensorData::new(values, [1, 3, 256, 256]);
        let flex = file
            .to_model::<Autodiff<Cpu>>(&device, std::path::Path::new("memory"))
            .unwrap();
        let nd = file
            .to_model::<Autodiff<NdArray>>(&Default::default(), std::path::Path::new("memory"))
            .unwrap();
        let tf = time_train_step(&flex, &x);
        let tn = time_train_step(&nd, &x);
        println!(
            "train step 256x256 x1: flex {tf:.2} s, ndarray {tn:.2} s, ratio {:.2}",
            tn / tf
        );
    }
}
