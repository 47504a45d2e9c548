//! Test support for the kernels: an operation's output and gradients through autodiff, and
//! their comparison with a reference's.

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData, Tolerance};

type Ad<B, const D: usize> = Tensor<Autodiff<B>, D>;

/// The output of `op` on (x, p, b) and the gradients of x, p and b for `loss` of that
/// output (a loss whose upstream gradient depends on the output, so the backward pass is
/// tested with more than ones).
pub fn output_and_grads<B: Backend, const D: usize>(
    (x, p, b): (&Tensor<B, 4>, &Tensor<B, D>, &Tensor<B, 1>),
    op: impl FnOnce(Ad<B, 4>, Ad<B, D>, Ad<B, 1>) -> Ad<B, 4>,
    loss: impl FnOnce(Ad<B, 4>) -> Ad<B, 1>,
) -> [TensorData; 4] {
    let x = Ad::<B, 4>::from_inner(x.clone()).require_grad();
    let p = Ad::<B, D>::from_inner(p.clone()).require_grad();
    let b = Ad::<B, 1>::from_inner(b.clone()).require_grad();
    let y = op(x.clone(), p.clone(), b.clone());
    let grads = loss(y.clone()).backward();
    [
        y.inner().into_data(),
        x.grad(&grads).unwrap().into_data(),
        p.grad(&grads).unwrap().into_data(),
        b.grad(&grads).unwrap().into_data(),
    ]
}

/// Asserts that each of `ours` has the shape of its twin in `reference` and equals it
/// within `tolerance`; `names` and `case` say which one failed.
pub fn assert_all_close(
    names: [&str; 4],
    ours: &[TensorData; 4],
    reference: &[TensorData; 4],
    tolerance: Tolerance<f32>,
    case: &str,
) {
    for (name, (o, r)) in names.iter().zip(ours.iter().zip(reference)) {
        assert_eq!(o.shape, r.shape, "{name} of {case}");
        o.assert_approx_eq::<f32>(r, tolerance);
    }
}
