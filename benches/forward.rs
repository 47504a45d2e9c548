//! Forward pass of the style network on the CPU backend, per size, batch and width.
//! `cargo bench --bench forward`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faststyle::device::Cpu;
use faststyle::model::{Transformer, TransformerConfig};
use faststyle::picture::{self, Planar};

fn forward(c: &mut Criterion) {
    // As the binary runs (see the function).
    faststyle::allocator::keep_freed_buffers();
    let device = Default::default();
    let mut group = c.benchmark_group("forward");
    group.sample_size(10);
    for width in [1.0f32, 0.5] {
        let model = Transformer::<Cpu>::new(&TransformerConfig::new(width, 5), &device);
        for (w, h, n) in [(256usize, 256usize, 1usize), (256, 256, 4), (640, 360, 1)] {
            let frames = vec![Planar::test_pattern(w, h); n];
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("width{width}"), format!("{w}x{h}x{n}")),
                &frames,
                |b, frames| {
                    b.iter(|| {
                        let t = picture::to_tensor::<Cpu>(frames, &device);
                        model.forward(t).into_data()
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
