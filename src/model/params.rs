//! Named access to a module's float parameters: export them as `(path, data)` pairs and
//! load them back by path, checking every shape. Paths follow the module tree, e.g.
//! `res.0.a.conv.weight`.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// All float parameters of `module`, in visiting order, with their dotted paths.
pub fn export<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, TensorData)> {
    let mut collector = Collector {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut collector);
    collector.out
}

/// Names and shapes of all float parameters, without materializing lazy ones.
pub fn shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    let mut collector = ShapeCollector {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut collector);
    collector.out
}

/// Why a set of named tensors does not fit a module.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadMismatch {
    Missing(String),
    Unexpected(String),
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
}

impl std::fmt::Display for LoadMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(name) => write!(f, "tensor '{name}' is missing"),
            Self::Unexpected(name) => write!(f, "tensor '{name}' is not part of the network"),
            Self::Shape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor '{name}' has shape {found:?} where the network needs {expected:?}"
            ),
        }
    }
}

/// Replaces every float parameter of `module` by the tensor of the same path in `tensors`
/// (keeping parameter ids, so optimizer state still matches). All names and shapes are
/// checked before anything is loaded.
pub fn load<B: Backend, M: Module<B>>(
    module: M,
    mut tensors: BTreeMap<String, TensorData>,
) -> Result<M, LoadMismatch> {
    for (name, expected) in shapes::<B, M>(&module) {
        match tensors.get(&name) {
            None => return Err(LoadMismatch::Missing(name)),
            Some(data) if data.shape.as_slice() != expected.as_slice() => {
                return Err(LoadMismatch::Shape {
                    name,
                    expected,
                    found: data.shape.to_vec(),
                });
            }
            Some(_) => {}
        }
    }
    let expected: Vec<String> = shapes::<B, M>(&module)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    if let Some(extra) = tensors.keys().find(|k| !expected.contains(k)) {
        return Err(LoadMismatch::Unexpected(extra.clone()));
    }
    let mut loader = Loader {
        path: Vec::new(),
        tensors: &mut tensors,
    };
    Ok(module.map(&mut loader))
}

fn join(path: &[String], leaf: Option<&str>) -> String {
    let mut parts: Vec<&str> = path.iter().map(String::as_str).collect();
    parts.extend(leaf);
    parts.join(".")
}

struct Collector {
    path: Vec<String>,
    out: Vec<(String, TensorData)>,
}

impl<B: Backend> ModuleVisitor<B> for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.out
            .push((join(&self.path, None), param.val().into_data()));
    }
}

struct ShapeCollector {
    path: Vec<String>,
    out: Vec<(String, Vec<usize>)>,
}

impl<B: Backend> ModuleVisitor<B> for ShapeCollector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.out
            .push((join(&self.path, None), param.lazy_shape().to_vec()));
    }
}

struct Loader<'a> {
    path: Vec<String>,
    tensors: &'a mut BTreeMap<String, TensorData>,
}

impl<B: Backend> ModuleMapper<B> for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let name = join(&self.path, None);
        let device = param.lazy_device();
        let (id, old, mapper) = param.consume();
        // Names and shapes were checked up front; a miss here would be a bug in `shapes`.
        let data = self
            .tensors
            .remove(&name)
            .unwrap_or_else(|| unreachable!("tensor {name} vanished after validation"));
        let mut tensor = Tensor::<B, D>::from_data(data.convert::<f32>(), &device);
        if old.is_require_grad() {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}
