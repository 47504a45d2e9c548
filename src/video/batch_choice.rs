//! The batch a GPU runs best at, found by timing it: what pays depends on the card, the
//! frame size and the number format, so `faststyle video` measures rather than guesses
//! when `--batch` is not given.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::kernels::Kernels;
use crate::picture::Planar;
use crate::stylize::Stylizer;
use crate::yuv::{Yuv420, YuvModel};

/// The batches tried, in order. Beyond 8 frames a GPU is long saturated at video sizes,
/// and the memory grows with the batch.
const CANDIDATES: [usize; 4] = [1, 2, 4, 8];

/// Each candidate runs at least this long (after an untimed run that pays for autotuning).
const MIN_TIME: Duration = Duration::from_millis(400);

/// Frames a second at each batch tried, and the choice: the smallest batch within 3% of
/// the best (latency and memory for nothing otherwise). Stops early once a batch gains
/// under 5% on the one before, or fails (out of memory).
pub fn measure<B: Kernels>(
    stylizer: &Stylizer<B>,
    width: usize,
    height: usize,
    yuv: bool,
) -> (usize, Vec<(usize, f64)>) {
    let pattern = Planar::test_pattern(width, height);
    let model = YuvModel::new(YuvModel::BT709, false);
    let planes = Yuv420::from_planar(&pattern, model);
    let run = |batch: usize| {
        if yuv {
            stylizer.run_yuv(&vec![&planes; batch], model).len()
        } else {
            stylizer.run(&vec![pattern.clone(); batch]).len()
        }
    };
    let mut timings: Vec<(usize, f64)> = Vec::new();
    for batch in CANDIDATES {
        let timed = catch_unwind(AssertUnwindSafe(|| {
            run(batch);
            let start = Instant::now();
            let mut frames = 0;
            while frames < 2 * batch || start.elapsed() < MIN_TIME {
                frames += run(batch);
            }
            frames as f64 / start.elapsed().as_secs_f64()
        }));
        let Ok(fps) = timed else { break };
        let gain = timings.last().map(|(_, last)| fps / last);
        timings.push((batch, fps));
        if gain.is_some_and(|g| g < 1.05) {
            break;
        }
    }
    (choose(&timings), timings)
}

fn choose(timings: &[(usize, f64)]) -> usize {
    let best = timings.iter().map(|(_, fps)| *fps).fold(0.0, f64::max);
    timings
        .iter()
        .find(|(_, fps)| *fps >= 0.97 * best)
        .map_or(1, |(batch, _)| *batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_smallest_batch_near_the_best() {
        assert_eq!(choose(&[(1, 10.0), (2, 18.0), (4, 30.0), (8, 30.5)]), 4);
        assert_eq!(choose(&[(1, 10.0), (2, 9.0)]), 1);
        assert_eq!(choose(&[(1, 10.0), (2, 20.0), (4, 40.0), (8, 80.0)]), 8);
        assert_eq!(choose(&[]), 1);
    }

    #[test]
    fn measures_every_batch_it_tries_on_the_cpu() {
        use crate::model::Transformer;
        use crate::stylize::StyleOptions;
        use burn::backend::Flex;
        let device = Default::default();
        let model =
            Transformer::<Flex>::new(&crate::model::TransformerConfig::new(0.25, 1), &device);
        let stylizer = Stylizer::new(model, device, StyleOptions::default(), false);
        let (batch, timings) = measure(&stylizer, 24, 16, true);
        assert!(!timings.is_empty() && timings.iter().all(|(_, fps)| *fps > 0.0));
        assert!(
            timings.iter().any(|(b, _)| *b == batch),
            "{batch} not among {timings:?}"
        );
    }
}
