//! Writes an untrained (randomly initialized) style file, for trying the plumbing before
//! trained styles exist: `cargo run --release --example random_style -- OUT [WIDTH]`.

use faststyle::device::Cpu;
use faststyle::model::{StyleFile, StyleMeta, Transformer, TransformerConfig, WeightStorage};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("usage: random_style OUT [WIDTH]");
    let width: f32 = args
        .next()
        .map(|w| w.parse().expect("width"))
        .unwrap_or(1.0);
    let config = TransformerConfig::new(width, 5);
    let model = Transformer::<Cpu>::new(&config, &Default::default());
    let meta = StyleMeta {
        name: "random".into(),
        painting_title: "untrained".into(),
        ..Default::default()
    };
    StyleFile::from_model(&model, config, meta)
        .save(std::path::Path::new(&out), WeightStorage::F16, true)
        .expect("write style");
}
