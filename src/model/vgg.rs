//! The VGG19 loss network (ImageNet weights, Keras "notop" HDF5 file): frozen
//! convolutions whose feature maps define the content and style losses. Only the layers up
//! to the deepest one a loss uses are evaluated.

use crate::kernels::{Kernels, PaddedConv, Padding, conv2d_padded};
use std::path::{Path, PathBuf};

use burn::tensor::module::max_pool2d;
use burn::tensor::{FloatDType, Tensor, TensorData};

/// File name of the weights, and its md5 (DESIGN.md).
pub const VGG19_FILE: &str = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5";
pub const VGG19_MD5: &str = "253f8cb515780f3b799900260a226db6";
/// Environment variable naming the weights file.
pub const VGG19_ENV: &str = "FASTSTYLE_VGG19";

/// Caffe-style preprocessing means, in B, G, R order.
pub const BGR_MEAN: [f32; 3] = [103.939, 116.779, 123.68];

/// (layer name, input channels, output channels) in network order; a 2x2 max pool follows
/// the last conv of each block.
pub const LAYERS: [(&str, usize, usize); 16] = [
    ("block1_conv1", 3, 64),
    ("block1_conv2", 64, 64),
    ("block2_conv1", 64, 128),
    ("block2_conv2", 128, 128),
    ("block3_conv1", 128, 256),
    ("block3_conv2", 256, 256),
    ("block3_conv3", 256, 256),
    ("block3_conv4", 256, 256),
    ("block4_conv1", 256, 512),
    ("block4_conv2", 512, 512),
    ("block4_conv3", 512, 512),
    ("block4_conv4", 512, 512),
    ("block5_conv1", 512, 512),
    ("block5_conv2", 512, 512),
    ("block5_conv3", 512, 512),
    ("block5_conv4", 512, 512),
];

/// The layers up to and including `deepest`, or None if VGG19 has no such layer.
fn layers_to(deepest: &str) -> Option<&'static [(&'static str, usize, usize)]> {
    let count = LAYERS.iter().position(|(n, _, _)| *n == deepest)? + 1;
    Some(&LAYERS[..count])
}

fn ends_block(name: &str) -> bool {
    matches!(
        name,
        "block1_conv2" | "block2_conv2" | "block3_conv4" | "block4_conv4" | "block5_conv4"
    )
}

/// Why the weights could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VggError {
    #[error(
        "the VGG19 weights file {} does not exist; run scripts/fetch-vgg19.sh to download it (80 MB), or pass --vgg PATH / set $FASTSTYLE_VGG19",
        .0.display()
    )]
    Missing(PathBuf),
    #[error("the VGG19 weights file {} {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },
}

/// Where the weights are: `--vgg`, else `$FASTSTYLE_VGG19`, else the cache folder that
/// scripts/fetch-vgg19.sh fills.
pub fn weights_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os(VGG19_ENV) {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("faststyle").join(VGG19_FILE)
}

/// One layer's weights in burn's layout: kernel [out, in, 3, 3] and bias [out].
#[derive(Debug, Clone)]
pub struct ConvWeights {
    pub name: &'static str,
    pub kernel: TensorData,
    pub bias: TensorData,
}

/// VGG19's layers up to and including `deepest` with random weights (He-scaled, so that
/// activations keep their size layer after layer): the same work as the real ones, for
/// benchmarks on machines without the weights file.
pub fn random_weights(deepest: &str) -> Option<Vec<ConvWeights>> {
    use rand::{Rng, SeedableRng};
    let layers = layers_to(deepest)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(19);
    Some(
        layers
            .iter()
            .map(|&(name, c_in, c_out)| {
                let bound = (6.0 / (9 * c_in) as f32).sqrt();
                let kernel = (0..c_out * c_in * 9)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect();
                ConvWeights {
                    name,
                    kernel: TensorData::new(kernel, [c_out, c_in, 3, 3]),
                    bias: TensorData::new(vec![0f32; c_out], [c_out]),
                }
            })
            .collect(),
    )
}

/// Reads the layers up to and including `deepest` from the Keras file, checking names and
/// shapes (the md5 is not recomputed on every load: the shapes catch a wrong file, the
/// fetch script checked the bytes).
///
/// A `.safetensors` file written by [`write_safetensors`] is read instead where the path
/// has that extension.
pub fn read_weights(path: &Path, deepest: &str) -> Result<Vec<ConvWeights>, VggError> {
    if !path.is_file() {
        return Err(VggError::Missing(path.to_path_buf()));
    }
    if path.extension().is_some_and(|e| e == "safetensors") {
        return read_safetensors(path, deepest);
    }
    let invalid = |detail: String| VggError::Invalid {
        path: path.to_path_buf(),
        detail,
    };
    let file = hdf5_reader::Hdf5File::open(path)
        .map_err(|e| invalid(format!("is not a readable HDF5 file ({e})")))?;
    let layers = layers_to(deepest).ok_or_else(|| invalid(format!("has no layer {deepest}")))?;
    let mut out = Vec::with_capacity(layers.len());
    for &(name, c_in, c_out) in layers {
        let read = |suffix: &str, expected: &[u64]| -> Result<Vec<f32>, VggError> {
            let key = format!("{name}/{name}_{suffix}_1:0");
            let ds = file
                .dataset(&key)
                .map_err(|e| invalid(format!("lacks {key} ({e}); is it the Keras notop file?")))?;
            if ds.shape() != expected {
                return Err(invalid(format!(
                    "has {key} with shape {:?} where VGG19 has {expected:?}",
                    ds.shape()
                )));
            }
            let mut v = vec![0f32; expected.iter().product::<u64>() as usize];
            ds.read_into(&mut v)
                .map_err(|e| invalid(format!("cannot read {key} ({e})")))?;
            Ok(v)
        };
        let hwio = read("W", &[3, 3, c_in as u64, c_out as u64])?;
        let bias = read("b", &[c_out as u64])?;
        // Keras stores (kh, kw, in, out); burn convolves with (out, in, kh, kw).
        let mut oihw = vec![0f32; hwio.len()];
        for kh in 0..3 {
            for kw in 0..3 {
                for i in 0..c_in {
                    for o in 0..c_out {
                        oihw[((o * c_in + i) * 3 + kh) * 3 + kw] =
                            hwio[((kh * 3 + kw) * c_in + i) * c_out + o];
                    }
                }
            }
        }
        out.push(ConvWeights {
            name,
            kernel: TensorData::new(oihw, [c_out, c_in, 3, 3]),
            bias: TensorData::new(bias, [c_out]),
        });
    }
    Ok(out)
}

/// How [`write_safetensors`] stores the kernels (biases are always f16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelStorage {
    /// 11 significant bits a weight, far below what changes a loss: 26 MB to block5_conv1.
    F16,
    /// 8 bits a weight and one f32 scale per output channel (`{layer}.kernel_scale`):
    /// 13 MB, for a machine that can be sent even less. Feature maps move by about a
    /// percent; training against them learns the same style, but score with the real ones.
    Int8,
}

/// Writes `weights` as a safetensors file, `{layer}.kernel` [out, in, 3, 3] and
/// `{layer}.bias`: the layers up to block5_conv1 take 26 MB (f16) or 13 MB (int8) instead
/// of the Keras file's 80, for a machine that can be sent only so much (a rented GPU).
pub fn write_safetensors(
    weights: &[ConvWeights],
    path: &Path,
    storage: KernelStorage,
) -> Result<(), String> {
    use super::file::f16_bytes;
    use safetensors::tensor::{Dtype, TensorView};
    let mut encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for w in weights {
        let values = |d: &TensorData| {
            d.as_slice::<f32>()
                .map(<[f32]>::to_vec)
                .map_err(|e| format!("{}: {e:?}", w.name))
        };
        let (kernel, bias) = (values(&w.kernel)?, values(&w.bias)?);
        let shape = w.kernel.shape.to_vec();
        let name = |what: &str| format!("{}.{what}", w.name);
        match storage {
            KernelStorage::F16 => {
                encoded.push((name("kernel"), Dtype::F16, shape, f16_bytes(&kernel)));
            }
            KernelStorage::Int8 => {
                let per_out = kernel.len() / shape[0];
                let mut scales: Vec<u8> = Vec::with_capacity(4 * shape[0]);
                let mut q = Vec::with_capacity(kernel.len());
                for channel in kernel.chunks(per_out) {
                    let max = channel.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                    scales.extend(scale.to_le_bytes());
                    q.extend(channel.iter().map(|v| (v / scale).round() as i8 as u8));
                }
                let out = shape[0];
                encoded.push((name("kernel"), Dtype::I8, shape, q));
                encoded.push((name("kernel_scale"), Dtype::F32, vec![out], scales));
            }
        }
        encoded.push((name("bias"), Dtype::F16, vec![bias.len()], f16_bytes(&bias)));
    }
    let views = encoded
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(|e| format!("{name}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    safetensors::serialize_to_file(views, None, path).map_err(|e| e.to_string())
}

fn read_safetensors(path: &Path, deepest: &str) -> Result<Vec<ConvWeights>, VggError> {
    use super::file::float_values;
    use safetensors::SafeTensors;
    use safetensors::tensor::Dtype;
    let invalid = |detail: String| VggError::Invalid {
        path: path.to_path_buf(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|e| invalid(format!("cannot be read ({e})")))?;
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| invalid(format!("is not a readable safetensors file ({e})")))?;
    let layers = layers_to(deepest).ok_or_else(|| invalid(format!("has no layer {deepest}")))?;
    let read = |key: String, expected: Vec<usize>| -> Result<TensorData, VggError> {
        let view = tensors.tensor(&key).map_err(|_| {
            invalid(format!(
                "lacks {key}; it holds only the layers it was written with"
            ))
        })?;
        if view.shape() != expected.as_slice() {
            return Err(invalid(format!(
                "has {key} with shape {:?} where VGG19 has {expected:?}",
                view.shape()
            )));
        }
        let values: Vec<f32> = match view.dtype() {
            Dtype::I8 => {
                let scales = tensors
                    .tensor(&format!("{key}_scale"))
                    .ok()
                    .filter(|s| s.dtype() == Dtype::F32 && s.shape() == [expected[0]])
                    .and_then(|s| float_values(&s))
                    .ok_or_else(|| invalid(format!("has {key} in int8 but no f32 {key}_scale")))?;
                let per_out = view.data().len() / expected[0];
                view.data()
                    .iter()
                    .enumerate()
                    .map(|(i, b)| *b as i8 as f32 * scales[i / per_out])
                    .collect()
            }
            other => float_values(&view)
                .ok_or_else(|| invalid(format!("has {key} as {other:?}, not f16, f32 or int8")))?,
        };
        Ok(TensorData::new(values, expected))
    };
    layers
        .iter()
        .map(|&(name, c_in, c_out)| {
            Ok(ConvWeights {
                name,
                kernel: read(format!("{name}.kernel"), vec![c_out, c_in, 3, 3])?,
                bias: read(format!("{name}.bias"), vec![c_out])?,
            })
        })
        .collect()
}

/// The frozen network on a device. Its tensors are constants: no gradient is kept for
/// them, while gradients flow through them to the input.
#[derive(Clone)]
pub struct Vgg19<B: Kernels> {
    layers: Vec<(&'static str, Tensor<B, 4>, Tensor<B, 1>)>,
}

impl<B: Kernels> Vgg19<B> {
    pub fn new(weights: &[ConvWeights], device: &B::Device) -> Self {
        let layers = weights
            .iter()
            .map(|w| {
                (
                    w.name,
                    Tensor::from_data(w.kernel.clone(), device),
                    Tensor::from_data(w.bias.clone(), device),
                )
            })
            .collect();
        Self { layers }
    }

    pub fn load(path: &Path, deepest: &str, device: &B::Device) -> Result<Self, VggError> {
        Ok(Self::new(&read_weights(path, deepest)?, device))
    }

    pub fn device(&self) -> B::Device {
        self.layers[0].1.device()
    }

    /// Caffe preprocessing: RGB 0..255 → BGR minus the ImageNet means.
    pub fn preprocess(rgb: Tensor<B, 4>) -> Tensor<B, 4> {
        let device = rgb.device();
        let bgr = rgb.flip([1]);
        let mean = Tensor::<B, 1>::from_floats(BGR_MEAN, &device)
            .reshape([1, 3, 1, 1])
            .cast(FloatDType::from(bgr.dtype()));
        bgr - mean
    }

    /// Feature maps (after ReLU) at each of `wanted`, in the order asked, for RGB 0..255
    /// input. Stops after the deepest wanted layer.
    pub fn features(&self, rgb: Tensor<B, 4>, wanted: &[&str]) -> Vec<Tensor<B, 4>> {
        let mut x = Self::preprocess(rgb);
        let mut found: Vec<Option<Tensor<B, 4>>> = vec![None; wanted.len()];
        let mut remaining = wanted.len();
        for (name, kernel, bias) in &self.layers {
            let spec = PaddedConv {
                stride: 1,
                pad: 1,
                padding: Padding::Zero,
                upsample: false,
            };
            x = conv2d_padded(x, kernel.clone(), bias.clone(), spec);
            x = burn::tensor::activation::relu(x);
            for (slot, w) in found.iter_mut().zip(wanted) {
                if w == name && slot.is_none() {
                    *slot = Some(x.clone());
                    remaining -= 1;
                }
            }
            if remaining == 0 {
                break;
            }
            if ends_block(name) {
                x = max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], false);
            }
        }
        found
            .into_iter()
            .zip(wanted)
            .map(|(f, w)| {
                f.unwrap_or_else(|| panic!("layer {w} is beyond the loaded VGG19 layers"))
            })
            .collect()
    }
}

/// Multiply-adds per input pixel of running VGG19 up to and including `deepest` (each
/// block's max pool leaves a quarter of the pixels to the blocks after it).
pub fn macs_per_pixel(deepest: &str) -> f64 {
    let mut macs = 0.0;
    let mut share = 1.0;
    for &(name, c_in, c_out) in &LAYERS {
        macs += (9 * c_in * c_out) as f64 * share;
        if name == deepest {
            break;
        }
        if ends_block(name) {
            share /= 4.0;
        }
    }
    macs
}

/// Checks that every layer name is a VGG19 conv layer; returns the deepest.
pub fn deepest_layer<'a>(names: &[&'a str]) -> Result<&'a str, String> {
    let mut deepest = (0, None);
    for n in names {
        let pos = LAYERS.iter().position(|(l, _, _)| l == n).ok_or_else(|| {
            format!("'{n}' is not a VGG19 conv layer (block1_conv1 … block5_conv4)")
        })?;
        if deepest.1.is_none() || pos > deepest.0 {
            deepest = (pos, Some(*n));
        }
    }
    deepest.1.ok_or_else(|| "no layers given".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_multiply_adds_per_input_pixel() {
        assert_eq!(macs_per_pixel("block1_conv1"), 1728.0);
        // 1728 + 36864 at full size, block 2 at 1/4, blocks 3 and 4 at 1/16 and 1/64,
        // block5_conv1 at 1/256 of the pixels.
        let to_block5 = 1728.0
            + 36864.0
            + (73728.0 + 147456.0) / 4.0
            + (294912.0 + 3.0 * 589824.0) / 16.0
            + (1179648.0 + 3.0 * 2359296.0) / 64.0
            + 2359296.0 / 256.0;
        assert_eq!(macs_per_pixel("block5_conv1"), to_block5);
    }

    #[test]
    fn safetensors_copies_hold_the_keras_weights_in_f16_or_int8() {
        let keras = weights_path(None);
        if !keras.is_file() {
            eprintln!(
                "SKIPPED: no VGG19 weights at {} (scripts/setup.sh)",
                keras.display()
            );
            return;
        }
        let original = read_weights(&keras, "block2_conv1").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("vgg19.safetensors");
        write_safetensors(&original, &copy, KernelStorage::F16).unwrap();
        let read = read_weights(&copy, "block2_conv1").unwrap();
        assert_eq!(read.len(), 3);
        for (a, b) in original.iter().zip(&read) {
            assert_eq!((a.name, &a.kernel.shape), (b.name, &b.kernel.shape));
            for (x, y) in [(&a.kernel, &b.kernel), (&a.bias, &b.bias)] {
                for (x, y) in x
                    .as_slice::<f32>()
                    .unwrap()
                    .iter()
                    .zip(y.as_slice::<f32>().unwrap())
                {
                    // f16: 11 significant bits; below 2^-14 its step is 2^-24.
                    assert!(
                        (x - y).abs() <= x.abs() / 2048.0 + 1e-7,
                        "{}: {x} vs {y}",
                        a.name
                    );
                }
            }
        }
        // Shallower is fine; deeper than what was written says what is missing.
        assert_eq!(read_weights(&copy, "block1_conv2").unwrap().len(), 2);
        let err = read_weights(&copy, "block3_conv1").unwrap_err().to_string();
        assert!(err.contains("lacks block2_conv2.kernel"), "{err}");

        // int8: each kernel value within half a step of its channel's scale.
        let small = dir.path().join("vgg19-int8.safetensors");
        write_safetensors(&original, &small, KernelStorage::Int8).unwrap();
        assert!(
            std::fs::metadata(&small).unwrap().len()
                < std::fs::metadata(&copy).unwrap().len() * 6 / 10
        );
        let read = read_weights(&small, "block2_conv1").unwrap();
        for (a, b) in original.iter().zip(&read) {
            let (x, y) = (
                a.kernel.as_slice::<f32>().unwrap(),
                b.kernel.as_slice::<f32>().unwrap(),
            );
            let per_out = x.len() / a.kernel.shape[0];
            for (xc, yc) in x.chunks(per_out).zip(y.chunks(per_out)) {
                let step = xc.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                for (x, y) in xc.iter().zip(yc) {
                    assert!(
                        (x - y).abs() <= step * 0.5001 + 1e-12,
                        "{}: {x} vs {y}",
                        a.name
                    );
                }
            }
        }
    }
}
