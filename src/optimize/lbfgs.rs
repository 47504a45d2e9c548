//! L-BFGS and Adam over a flat vector of parameters (the pixels of one picture).
//!
//! The objective here gives the loss and its gradient from one VGG19 pass, forward and
//! backward; Rust's optimization crates (argmin) ask for the cost and the gradient through
//! separate calls, which would run that pass twice. L-BFGS is as in torch.optim.LBFGS,
//! which jcjohnson/neural-style uses: the two-loop recursion over the last `history`
//! steps, unit step length after the first. One change: a step that raises the loss is
//! halved until it does not (backtracking), so the loss never rises.

use std::collections::VecDeque;

/// A loss and its gradient at one point.
pub struct Evaluation {
    pub loss: f64,
    pub gradient: Vec<f32>,
}

/// Where an iteration left the parameters and how many evaluations it used.
pub struct StepReport {
    pub loss: f64,
    pub evaluations: usize,
    /// False when no step lowering the loss was found: the optimum, to float precision.
    pub moved: bool,
}

/// How many halvings of a step are tried before the step is given up.
const MAX_BACKTRACKS: usize = 12;

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// `y += alpha * x`.
fn axpy(alpha: f64, x: &[f32], y: &mut [f32]) {
    let a = alpha as f32;
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// The L-BFGS state: the parameters, the loss and gradient there, and the curvature pairs.
pub struct Lbfgs {
    history: usize,
    x: Vec<f32>,
    current: Evaluation,
    /// Steps sᵢ = xᵢ₊₁ - xᵢ, gradient changes yᵢ = gᵢ₊₁ - gᵢ, and 1 / (yᵢ·sᵢ), newest last.
    pairs: VecDeque<(Vec<f32>, Vec<f32>, f64)>,
    /// The step length tried first: 1 once curvature is known.
    first_step: bool,
}

impl Lbfgs {
    /// Starts at `x`, evaluating it once with `f`.
    pub fn new(x: Vec<f32>, history: usize, f: &mut impl FnMut(&[f32]) -> Evaluation) -> Self {
        let current = f(&x);
        Self {
            history: history.max(1),
            x,
            current,
            pairs: VecDeque::new(),
            first_step: true,
        }
    }

    pub fn x(&self) -> &[f32] {
        &self.x
    }

    pub fn loss(&self) -> f64 {
        self.current.loss
    }

    /// The quasi-Newton direction -H·g (the two-loop recursion).
    fn direction(&self) -> Vec<f32> {
        let g = &self.current.gradient;
        let mut q: Vec<f32> = g.iter().map(|v| -v).collect();
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for (s, y, rho) in self.pairs.iter().rev() {
            let a = rho * dot(s, &q);
            axpy(-a, y, &mut q);
            alphas.push(a);
        }
        if let Some((s, y, _)) = self.pairs.back() {
            // H₀ = (s·y / y·y)·I: the scale of the newest curvature.
            let gamma = (dot(s, y) / dot(y, y)) as f32;
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in self.pairs.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            axpy(a - b, s, &mut q);
        }
        q
    }

    /// One iteration: a direction, a step along it that lowers the loss, the new pair.
    pub fn step(&mut self, f: &mut impl FnMut(&[f32]) -> Evaluation) -> StepReport {
        let mut d = self.direction();
        let mut slope = dot(&self.current.gradient, &d);
        if slope >= 0.0 {
            // Not a descent direction (stale curvature): restart from the gradient.
            self.pairs.clear();
            self.first_step = true;
            d = self.current.gradient.iter().map(|v| -v).collect();
            slope = dot(&self.current.gradient, &d);
        }
        let mut t = if self.first_step {
            // As torch: a first step of at most unit length in the L1 norm of the gradient.
            let l1: f64 = self.current.gradient.iter().map(|v| v.abs() as f64).sum();
            (1.0 / l1.max(f64::MIN_POSITIVE)).min(1.0)
        } else {
            1.0
        };
        let mut evaluations = 0;
        for _ in 0..=MAX_BACKTRACKS {
            let mut candidate = self.x.clone();
            axpy(t, &d, &mut candidate);
            let e = f(&candidate);
            evaluations += 1;
            // Armijo's sufficient decrease with a small constant, as line searches use.
            if e.loss.is_finite() && e.loss <= self.current.loss + 1e-4 * t * slope {
                let s: Vec<f32> = candidate.iter().zip(&self.x).map(|(a, b)| a - b).collect();
                let y: Vec<f32> = e
                    .gradient
                    .iter()
                    .zip(&self.current.gradient)
                    .map(|(a, b)| a - b)
                    .collect();
                let ys = dot(&y, &s);
                // Only pairs of positive curvature keep H positive definite.
                if ys > 1e-10 {
                    if self.pairs.len() == self.history {
                        self.pairs.pop_front();
                    }
                    self.pairs.push_back((s, y, 1.0 / ys));
                    self.first_step = false;
                }
                self.x = candidate;
                self.current = e;
                return StepReport {
                    loss: self.current.loss,
                    evaluations,
                    moved: true,
                };
            }
            t *= 0.5;
        }
        StepReport {
            loss: self.current.loss,
            evaluations,
            moved: false,
        }
    }
}

/// Adam (Kingma and Ba) on the same flat parameters, for `--optimizer adam`.
pub struct Adam {
    lr: f64,
    x: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
    loss: f64,
}

impl Adam {
    pub fn new(x: Vec<f32>, lr: f64) -> Self {
        let n = x.len();
        Self {
            lr,
            x,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
            loss: f64::NAN,
        }
    }

    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// One evaluation at the current point and one update; reports the loss evaluated.
    pub fn step(&mut self, f: &mut impl FnMut(&[f32]) -> Evaluation) -> StepReport {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        let e = f(&self.x);
        self.loss = e.loss;
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        let step = (self.lr / c1) as f32;
        for (((x, m), v), &g) in self
            .x
            .iter_mut()
            .zip(&mut self.m)
            .zip(&mut self.v)
            .zip(&e.gradient)
        {
            *m = (B1 as f32) * *m + (1.0 - B1 as f32) * g;
            *v = (B2 as f32) * *v + (1.0 - B2 as f32) * g * g;
            *x -= step * *m / ((*v / c2 as f32).sqrt() + 1e-8);
        }
        StepReport {
            loss: self.loss,
            evaluations: 1,
            moved: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock's function in `n` dimensions (minimum 0 at all ones), in f64 inside.
    fn rosenbrock(x: &[f32]) -> Evaluation {
        let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut loss = 0.0;
        let mut g = vec![0.0f64; x.len()];
        for i in 0..x.len() - 1 {
            let a = x[i + 1] - x[i] * x[i];
            let b = 1.0 - x[i];
            loss += 100.0 * a * a + b * b;
            g[i] += -400.0 * x[i] * a - 2.0 * b;
            g[i + 1] += 200.0 * a;
        }
        Evaluation {
            loss,
            gradient: g.into_iter().map(|v| v as f32).collect(),
        }
    }

    #[test]
    fn lbfgs_finds_rosenbrocks_minimum_and_never_raises_the_loss() {
        let mut f = rosenbrock;
        let mut opt = Lbfgs::new(vec![-1.2, 1.0, -1.2, 1.0], 10, &mut f);
        let mut last = opt.loss();
        for _ in 0..200 {
            let r = opt.step(&mut f);
            assert!(r.loss <= last, "the loss rose from {last} to {}", r.loss);
            last = r.loss;
            if !r.moved {
                break;
            }
        }
        assert!(last < 1e-6, "loss {last}");
        for &v in opt.x() {
            assert!((v - 1.0).abs() < 1e-2, "{:?}", opt.x());
        }
    }

    #[test]
    fn lbfgs_solves_an_ill_conditioned_quadratic_in_few_steps() {
        // f = Σ kᵢ xᵢ² / 2 with curvatures 1..1000.
        let n = 50;
        let k: Vec<f64> = (0..n)
            .map(|i| 1000f64.powf(i as f64 / (n - 1) as f64))
            .collect();
        let mut f = |x: &[f32]| Evaluation {
            loss: x
                .iter()
                .zip(&k)
                .map(|(&v, k)| 0.5 * k * (v as f64).powi(2))
                .sum(),
            gradient: x
                .iter()
                .zip(&k)
                .map(|(&v, k)| (k * v as f64) as f32)
                .collect(),
        };
        let mut opt = Lbfgs::new(vec![1.0; n], 20, &mut f);
        let start = opt.loss();
        let mut evaluations = 1;
        for _ in 0..60 {
            evaluations += opt.step(&mut f).evaluations;
        }
        // Gradient descent at its best fixed step (1/1000) would still hold 89% of the
        // flattest direction's share after 120 evaluations.
        assert!(opt.loss() < start * 1e-4, "{} -> {}", start, opt.loss());
        assert!(evaluations < 120, "{evaluations} evaluations");
    }

    #[test]
    fn adam_descends_a_quadratic() {
        let mut f = |x: &[f32]| Evaluation {
            loss: x.iter().map(|&v| (v as f64 - 3.0).powi(2)).sum(),
            gradient: x.iter().map(|&v| 2.0 * (v - 3.0)).collect(),
        };
        let mut opt = Adam::new(vec![0.0; 3], 0.1);
        for _ in 0..500 {
            opt.step(&mut f);
        }
        for &v in opt.x() {
            assert!((v - 3.0).abs() < 1e-2, "{:?}", opt.x());
        }
    }
}
