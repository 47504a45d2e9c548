//! One training step on the CPU backend: the transformer and the VGG19 loss (to
//! block5_conv1), forward, backward and Adam, batch 4 at 256x256, for width 1.0 and 0.5.
//! Needs the VGG19 weights (README set-up); skipped with a message without them.
//! `cargo bench --bench train_step`

use burn::backend::Autodiff;
use burn::optim::AdamConfig;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use faststyle::device::Cpu;
use faststyle::model::{Transformer, TransformerConfig, vgg};
use faststyle::picture::{self, Planar};
use faststyle::train::{Objective, train_step};

type B = Autodiff<Cpu>;

fn train(c: &mut Criterion) {
    // As the binary runs (see the function).
    faststyle::allocator::keep_freed_buffers();
    let device = Default::default();
    let objective = match Objective::<B>::for_benchmarks(Some(&vgg::weights_path(None)), &device) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("train_step bench skipped: {e}");
            return;
        }
    };
    let photos = vec![Planar::test_pattern(256, 256); 4];
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10);
    for width in [1.0f32, 0.5] {
        let mut model = Some(Transformer::<B>::new(
            &TransformerConfig::new(width, 5),
            &device,
        ));
        let mut optim = AdamConfig::new().init::<B, Transformer<B>>();
        group.bench_function(
            BenchmarkId::new(format!("width{width}"), "256x256x4"),
            |b| {
                b.iter(|| {
                    let x = picture::to_tensor::<B>(&photos, &device);
                    let (next, terms) = train_step(
                        model.take().unwrap(),
                        &mut optim,
                        &objective,
                        x,
                        1e-3,
                        None,
                        faststyle::train::objective::defaults::PEAK_WEIGHT,
                    );
                    model = Some(next);
                    terms
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, train);
criterion_main!(benches);
