//! The style model file: one self-contained safetensors file per style. The tensors are the
//! network's weights (f16 or f32); the header's metadata holds the format version, the
//! architecture settings, the style's metadata and a CRC-32 of the tensor data, so a
//! truncated, corrupt or foreign file is refused with a clear reason instead of a panic.

use crate::kernels::Kernels;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::tensor::TensorData;
use half::f16;
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::config::TransformerConfig;
use super::params;
use super::transformer::Transformer;
use crate::error::StyleFileError;
use crate::fsutil;

/// The file format version this build writes and the newest one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Extension of style files in a styles directory.
pub const EXTENSION: &str = "safetensors";

const KEY_FORMAT: &str = "faststyle.format";
const KEY_VERSION: &str = "faststyle.version";
const KEY_CONFIG: &str = "faststyle.config";
const KEY_META: &str = "faststyle.meta";
const KEY_CHECKSUM: &str = "faststyle.crc32";
const FORMAT_NAME: &str = "style-transformer";

/// How weights are stored on disk. f16 halves the file; inference quality is unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightStorage {
    #[default]
    F16,
    F32,
}

/// What a style is and how it was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StyleMeta {
    /// The name the style is called by, e.g. "starry-night".
    pub name: String,
    /// Title of the painting the style was learned from.
    #[serde(default)]
    pub painting_title: String,
    /// Its author.
    #[serde(default)]
    pub painting_author: String,
    /// Optimizer steps the network was trained for (0 for an untrained network).
    #[serde(default)]
    pub steps: u64,
    /// Training settings (loss weights, layers, sizes, learning rate, ...).
    #[serde(default)]
    pub training: BTreeMap<String, serde_json::Value>,
    /// Loss terms at the end of training.
    #[serde(default)]
    pub final_losses: BTreeMap<String, f64>,
    /// The faststyle version that wrote the file.
    #[serde(default)]
    pub created_by: String,
}

/// A style model file in memory: architecture, metadata and named weights (f32).
#[derive(Debug, Clone, PartialEq)]
pub struct StyleFile {
    pub config: TransformerConfig,
    pub meta: StyleMeta,
    pub weights: BTreeMap<String, TensorData>,
}

impl StyleFile {
    /// Captures a network's weights.
    pub fn from_model<B: Kernels>(
        model: &Transformer<B>,
        config: TransformerConfig,
        meta: StyleMeta,
    ) -> Self {
        let weights = params::export(model)
            .into_iter()
            .map(|(name, data)| (name, data.convert::<f32>()))
            .collect();
        Self {
            config,
            meta,
            weights,
        }
    }

    /// Builds the network on `device`, checking that every tensor fits the architecture.
    pub fn to_model<B: Kernels>(
        &self,
        device: &B::Device,
        path: &Path,
    ) -> Result<Transformer<B>, StyleFileError> {
        let model = Transformer::new(&self.config, device);
        params::load(model, self.weights.clone()).map_err(|m| StyleFileError::Corrupt {
            path: path.to_path_buf(),
            detail: m.to_string(),
        })
    }

    /// A CRC-32 of the architecture and the weights (names and f32 values), the same for
    /// the same network whatever the file's metadata: what tells two styles apart.
    pub fn fingerprint(&self) -> u32 {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(
            serde_json::to_string(&self.config)
                .unwrap_or_default()
                .as_bytes(),
        );
        for (name, data) in &self.weights {
            hasher.update(name.as_bytes());
            hasher.update(&data.bytes);
        }
        hasher.finalize()
    }

    /// Serializes to the bytes of a style file.
    pub fn to_bytes(&self, storage: WeightStorage) -> Result<Vec<u8>, String> {
        let mut encoded: BTreeMap<&str, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
        for (name, data) in &self.weights {
            let values: Vec<f32> = data
                .clone()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| format!("tensor {name}: {e:?}"))?;
            let bytes = match storage {
                WeightStorage::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                WeightStorage::F16 => f16_bytes(&values),
            };
            encoded.insert(name, (data.shape.to_vec(), bytes));
        }
        let dtype = match storage {
            WeightStorage::F32 => Dtype::F32,
            WeightStorage::F16 => Dtype::F16,
        };
        let mut checksum = crc32fast::Hasher::new();
        let mut views = Vec::new();
        for (name, (shape, bytes)) in &encoded {
            checksum.update(name.as_bytes());
            checksum.update(bytes);
            let view =
                TensorView::new(dtype, shape.clone(), bytes).map_err(|e| format!("{name}: {e}"))?;
            views.push((*name, view));
        }
        let mut info = HashMap::new();
        info.insert(KEY_FORMAT.to_string(), FORMAT_NAME.to_string());
        info.insert(KEY_VERSION.to_string(), FORMAT_VERSION.to_string());
        info.insert(
            KEY_CONFIG.to_string(),
            serde_json::to_string(&self.config).map_err(|e| e.to_string())?,
        );
        info.insert(
            KEY_META.to_string(),
            serde_json::to_string(&self.meta).map_err(|e| e.to_string())?,
        );
        info.insert(
            KEY_CHECKSUM.to_string(),
            format!("{:08x}", checksum.finalize()),
        );
        safetensors::serialize(views, Some(info)).map_err(|e| e.to_string())
    }

    /// Writes the file atomically (temporary file beside it, then rename). An existing file
    /// is replaced only with `overwrite`.
    pub fn save(
        &self,
        path: &Path,
        storage: WeightStorage,
        overwrite: bool,
    ) -> Result<(), StyleFileError> {
        let bytes = self
            .to_bytes(storage)
            .map_err(|detail| StyleFileError::Corrupt {
                path: path.to_path_buf(),
                detail,
            })?;
        fsutil::write_atomically(path, overwrite, |file| {
            use std::io::Write;
            file.write_all(&bytes)
        })
        .map_err(|source| StyleFileError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads and validates a style file.
    pub fn load(path: &Path) -> Result<Self, StyleFileError> {
        let bytes = std::fs::read(path).map_err(|source| StyleFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Reads only the header: architecture and metadata, for listings.
    pub fn peek(path: &Path) -> Result<(TransformerConfig, StyleMeta), StyleFileError> {
        let file = Self::load(path)?;
        Ok((file.config, file.meta))
    }

    /// Parses the bytes of a style file; `path` only names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, StyleFileError> {
        let corrupt = |detail: String| StyleFileError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        if bytes.is_empty() {
            return Err(StyleFileError::Empty {
                path: path.to_path_buf(),
            });
        }
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| header_error(e, bytes, path))?;
        let info = header.metadata().clone().unwrap_or_default();
        if info.get(KEY_FORMAT).map(String::as_str) != Some(FORMAT_NAME) {
            return Err(StyleFileError::NotAStyleFile {
                path: path.to_path_buf(),
                detail: "it has no faststyle metadata".to_string(),
            });
        }
        let version: u32 = info
            .get(KEY_VERSION)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt("its format version is missing".to_string()))?;
        if version != FORMAT_VERSION {
            return Err(StyleFileError::Version {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let config: TransformerConfig = info
            .get(KEY_CONFIG)
            .ok_or_else(|| corrupt("its architecture settings are missing".to_string()))
            .and_then(|s| {
                serde_json::from_str(s)
                    .map_err(|e| corrupt(format!("its architecture settings are invalid: {e}")))
            })?;
        config
            .validate()
            .map_err(|e| corrupt(format!("its architecture is invalid: {e}")))?;
        let meta: StyleMeta = info
            .get(KEY_META)
            .ok_or_else(|| corrupt("its style metadata is missing".to_string()))
            .and_then(|s| {
                serde_json::from_str(s)
                    .map_err(|e| corrupt(format!("its style metadata is invalid: {e}")))
            })?;
        let expected_checksum = info
            .get(KEY_CHECKSUM)
            .ok_or_else(|| corrupt("its checksum is missing".to_string()))?;

        // A file cut short fails here: the header promises more data than there is.
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| StyleFileError::Truncated {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let mut names: Vec<String> = tensors.names().into_iter().map(str::to_string).collect();
        names.sort();
        let mut checksum = crc32fast::Hasher::new();
        let mut weights = BTreeMap::new();
        for name in names {
            let view = tensors.tensor(&name).map_err(|e| corrupt(e.to_string()))?;
            checksum.update(name.as_bytes());
            checksum.update(view.data());
            let values = float_values(&view).ok_or_else(|| {
                corrupt(format!(
                    "tensor '{name}' has type {:?}; only F16 and F32 are supported",
                    view.dtype()
                ))
            })?;
            weights.insert(name, TensorData::new(values, view.shape().to_vec()));
        }
        let actual = format!("{:08x}", checksum.finalize());
        if &actual != expected_checksum {
            return Err(corrupt(format!(
                "its weights fail the checksum (stored {expected_checksum}, computed {actual})"
            )));
        }
        Ok(Self {
            config,
            meta,
            weights,
        })
    }
}

/// Tells a style file cut short (its header starts as JSON but the bytes run out) from
/// something that never was one.
fn header_error(e: SafeTensorError, bytes: &[u8], path: &Path) -> StyleFileError {
    let starts_like_ours = bytes.len() > 8 && bytes[8] == b'{';
    match e {
        SafeTensorError::MetadataIncompleteBuffer => StyleFileError::Truncated {
            path: path.to_path_buf(),
            detail: "its size does not match its header".to_string(),
        },
        SafeTensorError::InvalidHeaderLength | SafeTensorError::InvalidHeaderDeserialization(_)
            if starts_like_ours =>
        {
            StyleFileError::Truncated {
                path: path.to_path_buf(),
                detail: "its header is cut short or garbled".to_string(),
            }
        }
        other => StyleFileError::NotAStyleFile {
            path: path.to_path_buf(),
            detail: format!("its header is unreadable ({other})"),
        },
    }
}

/// `values` as little-endian f16, as safetensors stores them.
pub(crate) fn f16_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| f16::from_f32(*v).to_le_bytes())
        .collect()
}

/// The values of an f32 or f16 safetensors tensor; None for any other type.
pub(crate) fn float_values(view: &TensorView) -> Option<Vec<f32>> {
    match view.dtype() {
        Dtype::F32 => Some(
            view.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(
            view.data()
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StyleFileError as E;

    type B = crate::device::Cpu;

    fn sample(config: TransformerConfig) -> StyleFile {
        let model = Transformer::<B>::new(&config, &Default::default());
        let meta = StyleMeta {
            name: "test".into(),
            painting_title: "The Starry Night".into(),
            painting_author: "Vincent van Gogh".into(),
            steps: 1234,
            training: [("lr".to_string(), serde_json::json!(0.001))].into(),
            final_losses: [("style".to_string(), 1.5)].into(),
            created_by: "faststyle test".into(),
        };
        StyleFile::from_model(&model, config, meta)
    }

    fn path() -> &'static Path {
        Path::new("test.safetensors")
    }

    #[test]
    fn f32_round_trip_is_exact() {
        let file = sample(TransformerConfig::new(0.25, 2));
        let bytes = file.to_bytes(WeightStorage::F32).unwrap();
        let back = StyleFile::from_bytes(&bytes, path()).unwrap();
        assert_eq!(back, file);
        // and the network rebuilt from it computes the same thing
        let device = Default::default();
        let a = file.to_model::<B>(&device, path()).unwrap();
        let b = back.to_model::<B>(&device, path()).unwrap();
        assert_eq!(params::export(&a), params::export(&b));
    }

    #[test]
    fn f16_round_trip_is_stable_and_close() {
        let file = sample(TransformerConfig::new(0.25, 1));
        let bytes = file.to_bytes(WeightStorage::F16).unwrap();
        let back = StyleFile::from_bytes(&bytes, path()).unwrap();
        let again = back.to_bytes(WeightStorage::F16).unwrap();
        assert!(
            StyleFile::from_bytes(&again, path()).unwrap() == back,
            "f16 values changed"
        );
        for (name, data) in &file.weights {
            let a: Vec<f32> = data.to_vec().unwrap();
            let b: Vec<f32> = back.weights[name].to_vec().unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= 1e-3 * x.abs().max(1e-2),
                    "{name}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn save_and_load_through_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.safetensors");
        let file = sample(TransformerConfig::new(0.25, 1));
        file.save(&p, WeightStorage::F32, false).unwrap();
        assert_eq!(StyleFile::load(&p).unwrap(), file);
        // no overwrite without asking
        assert!(matches!(
            file.save(&p, WeightStorage::F32, false),
            Err(E::Write { .. })
        ));
        file.save(&p, WeightStorage::F16, true).unwrap();
        // nothing but the file itself is left in the folder
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn empty_file_is_refused() {
        assert!(matches!(
            StyleFile::from_bytes(&[], path()),
            Err(E::Empty { .. })
        ));
    }

    #[test]
    fn truncated_file_is_refused() {
        let bytes = sample(TransformerConfig::new(0.25, 1))
            .to_bytes(WeightStorage::F16)
            .unwrap();
        let err = StyleFile::from_bytes(&bytes[..bytes.len() - 100], path()).unwrap_err();
        assert!(matches!(err, E::Truncated { .. }), "{err}");
        let err = StyleFile::from_bytes(&bytes[..20], path()).unwrap_err();
        assert!(matches!(err, E::Truncated { .. }), "{err}");
        let err = StyleFile::from_bytes(&bytes[..5], path()).unwrap_err();
        assert!(matches!(err, E::NotAStyleFile { .. }), "{err}");
    }

    #[test]
    fn corrupt_weights_fail_the_checksum() {
        let mut bytes = sample(TransformerConfig::new(0.25, 1))
            .to_bytes(WeightStorage::F16)
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let err = StyleFile::from_bytes(&bytes, path()).unwrap_err();
        assert!(
            matches!(err, E::Corrupt { .. }) && err.to_string().contains("checksum"),
            "{err}"
        );
    }

    #[test]
    fn random_bytes_are_not_a_style_file() {
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let err = StyleFile::from_bytes(&bytes, path()).unwrap_err();
        assert!(matches!(err, E::NotAStyleFile { .. }), "{err}");
        assert!(err.to_string().contains("test.safetensors"));
    }

    #[test]
    fn newer_format_version_is_refused_with_advice() {
        let bytes = sample(TransformerConfig::new(0.25, 1))
            .to_bytes(WeightStorage::F16)
            .unwrap();
        let key = format!("\"{KEY_VERSION}\":\"{FORMAT_VERSION}\"");
        let at = bytes
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .expect("version key in header");
        let mut edited = bytes.clone();
        let digit = at + key.len() - 2;
        edited[digit] = b'9';
        let err = StyleFile::from_bytes(&edited, path()).unwrap_err();
        assert!(matches!(err, E::Version { found: 9, .. }), "{err}");
        assert!(err.to_string().contains("upgrade"), "{err}");
    }

    #[test]
    fn weights_that_do_not_fit_the_architecture_are_refused() {
        let mut file = sample(TransformerConfig::new(0.25, 1));
        file.config = TransformerConfig::new(0.5, 1);
        let bytes = file.to_bytes(WeightStorage::F16).unwrap();
        let back = StyleFile::from_bytes(&bytes, path()).unwrap();
        let err = back.to_model::<B>(&Default::default(), path()).unwrap_err();
        assert!(err.to_string().contains("shape"), "{err}");
    }

    #[test]
    fn parameter_names_follow_the_module_tree() {
        let file = sample(TransformerConfig::new(0.25, 2));
        let names: Vec<&str> = file.weights.keys().map(String::as_str).collect();
        assert!(names.contains(&"conv1.conv.weight"), "{names:?}");
        assert!(names.contains(&"res.1.b.norm.gamma"), "{names:?}");
        assert!(names.contains(&"out.bias"), "{names:?}");
        assert_eq!(names.len(), 3 * 4 + 2 * 2 * 4 + 2 * 4 + 2);
    }
}
