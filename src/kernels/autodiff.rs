//! Training through the host kernels: a custom backward step for the padded convolution.

use std::fmt;
use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, TensorMetadata};

use super::conv::{self, ConvGeom, Frame};
use super::norm::{self, Normalized};
use super::{
    Kernels, PaddedConv, composed_conv2d_padded, composed_instance_norm, from_host, geometry,
    tensor, to_host,
};

/// What the backward step keeps from the forward pass: the padded input and the kernel,
/// already on the host.
#[derive(Clone)]
struct Saved<D> {
    padded: Arc<Vec<f32>>,
    weight: Arc<Vec<f32>>,
    geom: ConvGeom,
    frame: Frame,
    device: D,
}

impl<D> fmt::Debug for Saved<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Saved({:?}, {:?})", self.geom, self.frame)
    }
}

#[derive(Debug)]
struct PaddedConvBackward;

impl<B: Backend> Backward<B, 3> for PaddedConvBackward {
    type State = Saved<B::Device>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let dy = to_host(tensor::<B, 4>(grads.consume::<B>(&ops.node)));
        let s = ops.state;
        let (g, f) = (s.geom, s.frame);
        if let Some(node) = node_x {
            let dx = conv::input_grad(&dy, &g, f, &s.weight, super::bf16_gemm());
            let shape = [f.batch, g.c_in, f.height, f.width];
            grads.register::<B>(node.id, from_host::<B, 4>(dx, shape, &s.device));
        }
        if node_weight.is_some() || node_bias.is_some() {
            let (dw, db) = conv::weight_grad(&s.padded, &dy, &g, f, super::bf16_gemm());
            if let Some(node) = node_weight {
                let shape = [g.c_out, g.c_in, g.kernel, g.kernel];
                grads.register::<B>(node.id, from_host::<B, 4>(dw, shape, &s.device));
            }
            if let Some(node) = node_bias {
                grads.register::<B>(node.id, from_host::<B, 1>(db, [g.c_out], &s.device));
            }
        }
    }
}

/// What the norm's backward step keeps: normalized input, 1/σ, and the affine parameters.
#[derive(Clone)]
struct SavedNorm<D> {
    normalized: Arc<Normalized>,
    gamma: Arc<Vec<f32>>,
    beta: Arc<Vec<f32>>,
    dims: [usize; 4],
    relu: bool,
    device: D,
}

impl<D> fmt::Debug for SavedNorm<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SavedNorm({:?}, relu {})", self.dims, self.relu)
    }
}

#[derive(Debug)]
struct InstanceNormBackward;

impl<B: Backend> Backward<B, 3> for InstanceNormBackward {
    type State = SavedNorm<B::Device>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = to_host(tensor::<B, 4>(grads.consume::<B>(&ops.node)));
        let s = ops.state;
        let plane = s.dims[2] * s.dims[3];
        let (dx, dgamma, dbeta) =
            norm::backward(&dy, &s.normalized, plane, &s.gamma, &s.beta, s.relu);
        let channels = [s.dims[1]];
        if let Some(node) = node_x {
            grads.register::<B>(node.id, from_host::<B, 4>(dx, s.dims, &s.device));
        }
        if let Some(node) = node_gamma {
            grads.register::<B>(node.id, from_host::<B, 1>(dgamma, channels, &s.device));
        }
        if let Some(node) = node_beta {
            grads.register::<B>(node.id, from_host::<B, 1>(dbeta, channels, &s.device));
        }
    }
}

/// What the backward step of a device kernel's norm keeps: the input and the per-plane
/// statistics, on the device.
#[derive(Clone)]
struct DeviceSavedNorm<B: Backend> {
    x: FloatTensor<B>,
    stats: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    relu: bool,
}

impl<B: Backend> fmt::Debug for DeviceSavedNorm<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceSavedNorm(relu {})", self.relu)
    }
}

#[derive(Debug)]
struct DeviceNormBackward;

impl<B: Kernels> Backward<B, 3> for DeviceNormBackward {
    type State = DeviceSavedNorm<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let s = ops.state;
        let [dx, dgamma, dbeta] =
            B::instance_norm_backward(s.x, s.stats, s.gamma, s.beta, dy, s.relu);
        for (node, grad) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Kernels, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn device_kernels() -> bool {
        B::device_kernels()
    }

    fn instance_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        eps: f64,
    ) -> FloatTensor<Self> {
        if B::device_kernels() {
            let prep = DeviceNormBackward
                .prepare::<C>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
                .compute_bound()
                .stateful();
            return match prep {
                OpsKind::Tracked(prep) => {
                    let (y, stats) = B::instance_norm_train(
                        x.primitive.clone(),
                        gamma.primitive.clone(),
                        beta.primitive.clone(),
                        relu,
                        eps,
                    );
                    let saved = DeviceSavedNorm {
                        x: x.primitive,
                        stats,
                        gamma: gamma.primitive,
                        beta: beta.primitive,
                        relu,
                    };
                    prep.finish(saved, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::instance_norm(
                    x.primitive,
                    gamma.primitive,
                    beta.primitive,
                    relu,
                    eps,
                )),
            };
        }
        if !B::host_kernels() || x.primitive.dtype() != DType::F32 {
            return composed_instance_norm::<Self>(x, gamma, beta, relu, eps);
        }
        let prep = InstanceNormBackward
            .prepare::<C>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let x = tensor::<B, 4>(x.primitive);
                let (device, dims) = (x.device(), x.dims());
                let gamma = to_host(tensor::<B, 1>(gamma.primitive));
                let beta = to_host(tensor::<B, 1>(beta.primitive));
                let plane = dims[2] * dims[3];
                let (y, normalized) = norm::forward(&to_host(x), plane, &gamma, &beta, relu, eps);
                let saved = SavedNorm {
                    normalized: Arc::new(normalized),
                    gamma: Arc::new(gamma),
                    beta: Arc::new(beta),
                    dims,
                    relu,
                    device: device.clone(),
                };
                prep.finish(saved, from_host::<B, 4>(y, dims, &device))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::instance_norm(
                x.primitive,
                gamma.primitive,
                beta.primitive,
                relu,
                eps,
            )),
        }
    }

    fn conv2d_padded(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: PaddedConv,
    ) -> FloatTensor<Self> {
        if !B::host_kernels() || x.primitive.dtype() != DType::F32 {
            return composed_conv2d_padded::<Self>(x, weight, bias, spec);
        }
        let prep = PaddedConvBackward
            .prepare::<C>([x.node.clone(), weight.node.clone(), bias.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => {
                let x = tensor::<B, 4>(x.primitive);
                let weight = tensor::<B, 4>(weight.primitive);
                let device = x.device();
                let (geom, frame) = geometry(&x.dims(), &weight.dims(), spec);
                let weight = to_host(weight);
                let bias = to_host(tensor::<B, 1>(bias.primitive));
                let (y, padded) = conv::forward(
                    &to_host(x),
                    &geom,
                    frame,
                    &weight,
                    Some(&bias),
                    super::bf16_gemm(),
                );
                let (ho, wo) = geom.output(frame);
                let y = from_host::<B, 4>(y, [frame.batch, geom.c_out, ho, wo], &device);
                let saved = Saved {
                    padded: Arc::new(padded),
                    weight: Arc::new(weight),
                    geom,
                    frame,
                    device,
                };
                prep.finish(saved, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_padded(
                x.primitive,
                weight.primitive,
                bias.primitive,
                spec,
            )),
        }
    }
}
