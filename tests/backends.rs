//! The CPU backend (flex) computes what the reference backend (ndarray) computes.

use burn::backend::NdArray;
use burn::tensor::{Tensor, TensorData, Tolerance};
use faststyle::device::Cpu;
use faststyle::model::{StyleFile, StyleMeta, Transformer, TransformerConfig};
use std::path::Path;

fn input(n: usize, h: usize, w: usize) -> TensorData {
    let values: Vec<f32> = (0..n * 3 * h * w)
        .map(|i| ((i * 7919) % 256) as f32)
        .collect();
    TensorData::new(values, [n, 3, h, w])
}

#[test]
fn flex_matches_ndarray() {
    let config = TransformerConfig::default();
    let flex_model = Transformer::<Cpu>::new(&config, &Default::default());
    let file = StyleFile::from_model(&flex_model, config, StyleMeta::default());
    let nd_model = file
        .to_model::<NdArray>(&Default::default(), Path::new("in-memory"))
        .unwrap();
    // an odd size (padding path) in a batch of two
    let x = input(2, 45, 62);
    let a = flex_model.forward(Tensor::<Cpu, 4>::from_data(x.clone(), &Default::default()));
    let b = nd_model.forward(Tensor::<NdArray, 4>::from_data(x, &Default::default()));
    a.into_data()
        .assert_approx_eq::<f32>(&b.into_data(), Tolerance::absolute(0.05).set_relative(1e-4));
}
