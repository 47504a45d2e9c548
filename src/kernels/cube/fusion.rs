//! [`Kernels`] for burn's fusion wrapper (what `burn::backend::Cuda` is): the norm's kernels
//! are registered as custom operations on the fusion stream, which runs them on the
//! wrapped backend in order with the fused ones around them.

use std::fmt;
use std::marker::PhantomData;

use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{DType, Element, FloatDType, Shape};
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{Fusion, FusionBackend, FusionRuntime};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, TensorIr};

use crate::kernels::{Kernels, composed_instance_norm};
use crate::yuv::{YuvGeometry, YuvModel};

/// Which of the backend's norm methods a custom operation runs.
#[derive(Clone, Copy, Debug)]
enum NormCall {
    Inference { relu: bool, eps: f64 },
    Train { relu: bool, eps: f64 },
    Backward { relu: bool },
}

struct NormOp<B> {
    desc: CustomOpIr,
    call: NormCall,
    backend: PhantomData<B>,
}

impl<B> fmt::Debug for NormOp<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NormOp({:?})", self.call)
    }
}

impl<B: FusionBackend + Kernels> Operation<B::FusionRuntime> for NormOp<B> {
    fn execute(
        &self,
        handles: &mut HandleContainer<<B::FusionRuntime as FusionRuntime>::FusionHandle>,
    ) {
        let mut get = |ir: &TensorIr| handles.get_float_tensor::<B>(ir);
        let (outputs, results): (&[TensorIr], Vec<FloatTensor<B>>) = match self.call {
            NormCall::Inference { relu, eps } => {
                let ([x, gamma, beta], outputs) = self.desc.as_fixed::<3, 1>();
                let y = B::instance_norm(get(x), get(gamma), get(beta), relu, eps);
                (outputs, vec![y])
            }
            NormCall::Train { relu, eps } => {
                let ([x, gamma, beta], outputs) = self.desc.as_fixed::<3, 2>();
                let (y, stats) = B::instance_norm_train(get(x), get(gamma), get(beta), relu, eps);
                (outputs, vec![y, stats])
            }
            NormCall::Backward { relu } => {
                let ([x, stats, gamma, beta, dy], outputs) = self.desc.as_fixed::<5, 3>();
                let grads = B::instance_norm_backward(
                    get(x),
                    get(stats),
                    get(gamma),
                    get(beta),
                    get(dy),
                    relu,
                );
                (outputs, grads.into())
            }
        };
        for (ir, tensor) in outputs.iter().zip(results) {
            handles.register_float_tensor::<B>(&ir.id, tensor);
        }
    }
}

/// Registers the call on `inputs` with outputs of these shapes and dtypes.
fn register<B: FusionBackend + Kernels>(
    call: NormCall,
    inputs: Vec<FloatTensor<Fusion<B>>>,
    outputs: &[(Shape, DType)],
) -> Vec<FloatTensor<Fusion<B>>> {
    let client = inputs[0].client.clone();
    let streams = OperationStreams::with_inputs(&inputs);
    let outputs: Vec<TensorIr> = outputs
        .iter()
        .map(|(shape, dtype)| TensorIr::uninit(client.create_empty_handle(), shape.clone(), *dtype))
        .collect();
    let inputs: Vec<TensorIr> = inputs.into_iter().map(|t| t.into_ir()).collect();
    let desc = CustomOpIr::new("faststyle_instance_norm", &inputs, &outputs);
    let op = NormOp::<B> {
        desc: desc.clone(),
        call,
        backend: PhantomData,
    };
    client.register(streams, OperationIr::Custom(desc), op)
}

/// Which frame conversion a custom operation runs.
#[derive(Clone, Copy, Debug)]
enum FrameCall {
    ToRgb {
        frames: usize,
        geometry: YuvGeometry,
        model: YuvModel,
        dtype: FloatDType,
    },
    ToYuv {
        model: YuvModel,
    },
}

struct FrameOp<B> {
    desc: CustomOpIr,
    call: FrameCall,
    backend: PhantomData<B>,
}

impl<B> fmt::Debug for FrameOp<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameOp({:?})", self.call)
    }
}

impl<B: FusionBackend + Kernels> Operation<B::FusionRuntime> for FrameOp<B> {
    fn execute(
        &self,
        handles: &mut HandleContainer<<B::FusionRuntime as FusionRuntime>::FusionHandle>,
    ) {
        let ([input], [output]) = self.desc.as_fixed::<1, 1>();
        match self.call {
            FrameCall::ToRgb {
                frames,
                geometry,
                model,
                dtype,
            } => {
                let words = handles.get_int_tensor::<B>(input);
                let rgb = B::rgb_from_yuv420(words, frames, geometry, model, dtype);
                handles.register_float_tensor::<B>(&output.id, rgb);
            }
            FrameCall::ToYuv { model } => {
                let x = handles.get_float_tensor::<B>(input);
                handles.register_int_tensor::<B>(&output.id, B::yuv420_from_rgb(x, model));
            }
        }
    }
}

/// Registers a frame conversion of `input` into one output of this shape and dtype.
fn register_frame<B: FusionBackend + Kernels>(
    call: FrameCall,
    input: burn_fusion::FusionTensor<B::FusionRuntime>,
    output: (Shape, DType),
) -> burn_fusion::FusionTensor<B::FusionRuntime> {
    let client = input.client.clone();
    let streams = OperationStreams::with_inputs(std::slice::from_ref(&input));
    let output = TensorIr::uninit(client.create_empty_handle(), output.0, output.1);
    let desc = CustomOpIr::new("faststyle_frames", &[input.into_ir()], &[output]);
    let op = FrameOp::<B> {
        desc: desc.clone(),
        call,
        backend: PhantomData,
    };
    let [out] = outputs(client.register(streams, OperationIr::Custom(desc), op));
    out
}

impl<B: FusionBackend + Kernels> Kernels for Fusion<B> {
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
        if !B::device_kernels() {
            return composed_instance_norm::<Self>(x, gamma, beta, relu, eps);
        }
        let out = (x.shape.clone(), x.dtype);
        let call = NormCall::Inference { relu, eps };
        let [y] = outputs(register::<B>(call, vec![x, gamma, beta], &[out]));
        y
    }

    fn instance_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        relu: bool,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let dims = &x.shape;
        let stats = (Shape::new([dims[0] * dims[1], 2]), DType::F32);
        let out = (x.shape.clone(), x.dtype);
        let call = NormCall::Train { relu, eps };
        let [y, stats] = outputs(register::<B>(call, vec![x, gamma, beta], &[out, stats]));
        (y, stats)
    }

    fn instance_norm_backward(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        relu: bool,
    ) -> [FloatTensor<Self>; 3] {
        let dx = (x.shape.clone(), x.dtype);
        let param = (gamma.shape.clone(), gamma.dtype);
        let call = NormCall::Backward { relu };
        outputs(register::<B>(
            call,
            vec![x, stats, gamma, beta, dy],
            &[dx, param.clone(), param],
        ))
    }

    fn rgb_from_yuv420(
        words: IntTensor<Self>,
        frames: usize,
        geometry: YuvGeometry,
        model: YuvModel,
        dtype: FloatDType,
    ) -> FloatTensor<Self> {
        let shape = Shape::new([frames, 3, geometry.height, geometry.width]);
        let call = FrameCall::ToRgb {
            frames,
            geometry,
            model,
            dtype,
        };
        register_frame::<B>(call, words, (shape, dtype.into()))
    }

    fn yuv420_from_rgb(x: FloatTensor<Self>, model: YuvModel) -> IntTensor<Self> {
        let dims = &x.shape;
        let geometry = YuvGeometry {
            width: dims[3],
            height: dims[2],
        };
        let shape = Shape::new([dims[0] * geometry.words()]);
        let int = <B as burn::tensor::backend::BackendTypes>::IntElem::dtype();
        register_frame::<B>(FrameCall::ToYuv { model }, x, (shape, int))
    }
}

fn outputs<T, const N: usize>(tensors: Vec<T>) -> [T; N] {
    tensors
        .try_into()
        .unwrap_or_else(|v: Vec<T>| panic!("custom op returned {} outputs, not {N}", v.len()))
}
