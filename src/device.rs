//! Backend and device selection. The CPU backend is burn's `flex` (pure Rust, SIMD,
//! multi-threaded), chosen by measurement over `ndarray`; the CUDA backend is compiled in
//! with the `cuda` feature and picked by default when a GPU answers.

use crate::cli::Precision;
use crate::kernels::Kernels;
use burn::tensor::FloatDType;
use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The CPU backend.
pub type Cpu = burn::backend::Flex;
/// The CUDA backend.
#[cfg(feature = "cuda")]
pub type Gpu = burn::backend::Cuda;

/// Where to run the network, as given by `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:") {
                Some(index) => index
                    .parse()
                    .map(Self::Cuda)
                    .map_err(|_| format!("'{s}' is not a device; use cpu, cuda or cuda:N")),
                None => Err(format!("'{s}' is not a device; use cpu, cuda or cuda:N")),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// The device to use when `--device` is not given: the first GPU when this build has CUDA
/// and a GPU answers, else the CPU.
pub fn default_device() -> DeviceSpec {
    #[cfg(feature = "cuda")]
    if cuda_available(0) {
        return DeviceSpec::Cuda(0);
    }
    DeviceSpec::Cpu
}

/// Whether CUDA device `index` can run a kernel. The driver is loaded at run time and
/// panics when absent, so the probe runs behind `catch_unwind` with a silent panic hook.
#[cfg(feature = "cuda")]
pub fn cuda_available(index: usize) -> bool {
    use burn::tensor::Tensor;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let ok = std::panic::catch_unwind(|| {
        let device = burn::backend::cuda::CudaDevice::new(index);
        let t = Tensor::<Gpu, 1>::ones([4], &device);
        t.sum().into_scalar() == 4.0
    })
    .unwrap_or(false);
    std::panic::set_hook(hook);
    ok
}

/// Checks that the requested device exists in this build and on this machine.
pub fn check_device(spec: DeviceSpec) -> Result<(), Error> {
    match spec {
        DeviceSpec::Cpu => Ok(()),
        #[cfg(feature = "cuda")]
        DeviceSpec::Cuda(i) => {
            if cuda_available(i) {
                Ok(())
            } else {
                Err(Error::Device(format!(
                    "CUDA device {i} is not available (no NVIDIA driver, or no such GPU); use --device cpu"
                )))
            }
        }
        #[cfg(not(feature = "cuda"))]
        DeviceSpec::Cuda(_) => Err(Error::Device(
            "this faststyle was built without CUDA support; rebuild with `cargo build --release --features cuda` or use --device cpu".to_string(),
        )),
    }
}

/// The number format the network runs in for `precision` on `spec`. CUDA: f16 unless asked
/// otherwise (the instance norms keep f32 statistics, so a 1080p plane's sums cannot
/// overflow); the CPU kernels are f32.
pub fn inference_dtype(precision: Precision, spec: DeviceSpec) -> Result<FloatDType, Error> {
    match (spec, precision) {
        (DeviceSpec::Cpu, Precision::Auto | Precision::F32) => Ok(FloatDType::F32),
        (DeviceSpec::Cpu, other) => Err(Error::Usage(format!(
            "--precision {} runs on a GPU; the CPU stylizes in f32 (use --precision f32 or auto)",
            precision_name(other)
        ))),
        (DeviceSpec::Cuda(_), Precision::Auto | Precision::F16) => Ok(FloatDType::F16),
        (DeviceSpec::Cuda(_), Precision::Bf16) => Ok(FloatDType::BF16),
        (DeviceSpec::Cuda(_), Precision::F32) => Ok(FloatDType::F32),
    }
}

/// `f32`, `f16` or `bf16`, as the flag spells them.
pub fn dtype_name(dtype: FloatDType) -> &'static str {
    match dtype {
        FloatDType::F16 => "f16",
        FloatDType::BF16 => "bf16",
        FloatDType::F64 => "f64",
        _ => "f32",
    }
}

fn precision_name(precision: Precision) -> &'static str {
    match precision {
        Precision::Auto => "auto",
        Precision::F32 => "f32",
        Precision::F16 => "f16",
        Precision::Bf16 => "bf16",
    }
}

/// How a training run computes: the log line's words, and the number format its networks
/// run in (f32 master weights whatever it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainPrecision {
    pub label: &'static str,
    pub compute: FloatDType,
}

impl TrainPrecision {
    const F32: Self = Self {
        label: "f32",
        compute: FloatDType::F32,
    };
}

/// Sets the training precision for `spec`. On the CPU, bf16 rounds the GEMM operands (AMX
/// tiles or AVX512-BF16; sums stay f32) where `auto` finds either. On a GPU `auto` is bf16
/// mixed precision: the networks run in bf16 from f32 master weights, the norms'
/// statistics and the losses in f32; f16 works the same way but has no loss scaling, so its
/// gradients can overflow where bf16's (f32's range) cannot.
pub fn set_train_precision(
    precision: Precision,
    spec: DeviceSpec,
) -> Result<TrainPrecision, Error> {
    use Precision::*;
    if spec != DeviceSpec::Cpu {
        return Ok(match precision {
            F32 => TrainPrecision::F32,
            F16 => TrainPrecision {
                label: "f16 mixed precision: f32 master weights, f32 norm statistics and losses",
                compute: FloatDType::F16,
            },
            Auto | Bf16 => TrainPrecision {
                label: "bf16 mixed precision: f32 master weights, f32 norm statistics and losses",
                compute: FloatDType::BF16,
            },
        });
    }
    let label = match precision {
        F16 => {
            return Err(Error::Usage(
                "--precision f16 training runs on a GPU; the CPU trains in bf16 (on CPUs with AVX512-BF16 or AMX) or f32".into(),
            ));
        }
        Bf16 if !crate::kernels::bf16_gemm_available() => {
            return Err(Error::Usage(
                "--precision bf16 needs a CPU with AVX512-BF16 or AMX-BF16 (Intel Sapphire Rapids, AMD Zen 4 or later), and this one has neither; use --precision f32".into(),
            ));
        }
        Bf16 | Auto if crate::kernels::use_bf16_gemm(true) => {
            if crate::kernels::bf16_gemm_on_tiles() {
                "bf16 GEMM operands on AMX, f32 sums"
            } else {
                "bf16 GEMM operands on AVX512-BF16, f32 sums"
            }
        }
        _ => {
            crate::kernels::use_bf16_gemm(false);
            "f32"
        }
    };
    Ok(TrainPrecision {
        label,
        compute: FloatDType::F32,
    })
}

/// Several devices of one kind, as `--device cpu,cpu`, `cuda:0,cuda:1` or `cuda:all` give
/// them: one stylize worker each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceList {
    Listed(Vec<DeviceSpec>),
    AllCuda,
}

impl FromStr for DeviceList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("cuda:all") {
            return Ok(Self::AllCuda);
        }
        let specs = s
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<DeviceSpec>, _>>()?;
        let cpus = specs.iter().filter(|d| **d == DeviceSpec::Cpu).count();
        if cpus != 0 && cpus != specs.len() {
            return Err(format!(
                "'{s}' mixes the CPU and GPUs; give devices of one kind (cpu,cpu or cuda:0,cuda:1)"
            ));
        }
        let mut seen = specs.clone();
        seen.sort_by_key(|d| d.to_string());
        seen.dedup();
        if cpus == 0 && seen.len() != specs.len() {
            return Err(format!("'{s}' names a GPU twice"));
        }
        Ok(Self::Listed(specs))
    }
}

impl DeviceList {
    /// The devices, checked to exist (`cuda:all`: every GPU that answers).
    pub fn resolve(list: Option<&Self>) -> Result<Vec<DeviceSpec>, Error> {
        let specs = match list {
            None => vec![default_device()],
            Some(Self::Listed(specs)) => specs.clone(),
            Some(Self::AllCuda) => all_cuda()?,
        };
        for spec in &specs {
            check_device(*spec)?;
        }
        Ok(specs)
    }
}

fn all_cuda() -> Result<Vec<DeviceSpec>, Error> {
    #[cfg(feature = "cuda")]
    {
        let found: Vec<DeviceSpec> = (0..64)
            .take_while(|i| cuda_available(*i))
            .map(DeviceSpec::Cuda)
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    check_device(DeviceSpec::Cuda(0)).map(|_| vec![DeviceSpec::Cuda(0)])
}

/// Work that can run on any backend. `dispatch` picks the backend for a device at run time.
pub trait BackendTask {
    type Output;
    fn run<B: Kernels>(self, device: B::Device) -> Self::Output;
}

/// Runs `task` on the backend and device named by `spec` (which `check_device` accepted).
pub fn dispatch<T: BackendTask>(spec: DeviceSpec, task: T) -> T::Output {
    match spec {
        DeviceSpec::Cpu => task.run::<Cpu>(Default::default()),
        #[cfg(feature = "cuda")]
        DeviceSpec::Cuda(i) => task.run::<Gpu>(burn::backend::cuda::CudaDevice::new(i)),
        #[cfg(not(feature = "cuda"))]
        DeviceSpec::Cuda(_) => task.run::<Cpu>(Default::default()),
    }
}

/// Work that runs on several devices of one backend.
pub trait MultiDeviceTask {
    type Output;
    fn run<B: Kernels>(self, devices: Vec<B::Device>) -> Self::Output;
}

/// Runs `task` on the devices named by `specs` (all of one kind, checked to exist).
pub fn dispatch_many<T: MultiDeviceTask>(specs: &[DeviceSpec], task: T) -> T::Output {
    match specs.first() {
        #[cfg(feature = "cuda")]
        Some(DeviceSpec::Cuda(_)) => task.run::<Gpu>(
            specs
                .iter()
                .map(|s| match s {
                    DeviceSpec::Cuda(i) => burn::backend::cuda::CudaDevice::new(*i),
                    DeviceSpec::Cpu => unreachable!("device lists are of one kind"),
                })
                .collect(),
        ),
        _ => task.run::<Cpu>(specs.iter().map(|_| Default::default()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<DeviceSpec>(), Ok(DeviceSpec::Cpu));
        assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
        assert_eq!("CUDA:2".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(2)));
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
        assert!("tpu".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn parses_device_lists() {
        assert_eq!(
            "cpu,cpu".parse::<DeviceList>(),
            Ok(DeviceList::Listed(vec![DeviceSpec::Cpu, DeviceSpec::Cpu]))
        );
        assert_eq!(
            "cuda:0,cuda:1".parse::<DeviceList>(),
            Ok(DeviceList::Listed(vec![
                DeviceSpec::Cuda(0),
                DeviceSpec::Cuda(1)
            ]))
        );
        assert_eq!("CUDA:all".parse::<DeviceList>(), Ok(DeviceList::AllCuda));
        assert!(
            "cpu,cuda:0"
                .parse::<DeviceList>()
                .unwrap_err()
                .contains("one kind")
        );
        assert!(
            "cuda:1,cuda:1"
                .parse::<DeviceList>()
                .unwrap_err()
                .contains("twice")
        );
        assert!("cpu,".parse::<DeviceList>().is_err());
    }

    #[test]
    fn precision_is_f16_on_gpus_and_f32_on_the_cpu() {
        use Precision::*;
        let cuda = DeviceSpec::Cuda(0);
        assert_eq!(inference_dtype(Auto, cuda).unwrap(), FloatDType::F16);
        assert_eq!(inference_dtype(F16, cuda).unwrap(), FloatDType::F16);
        assert_eq!(inference_dtype(Bf16, cuda).unwrap(), FloatDType::BF16);
        assert_eq!(inference_dtype(F32, cuda).unwrap(), FloatDType::F32);
        assert_eq!(
            inference_dtype(Auto, DeviceSpec::Cpu).unwrap(),
            FloatDType::F32
        );
        assert_eq!(
            inference_dtype(F32, DeviceSpec::Cpu).unwrap(),
            FloatDType::F32
        );
        for p in [F16, Bf16] {
            let err = inference_dtype(p, DeviceSpec::Cpu).unwrap_err().to_string();
            assert!(err.contains("runs on a GPU"), "{err}");
        }
        let gpu = |p| set_train_precision(p, cuda).unwrap().compute;
        assert_eq!(gpu(Auto), FloatDType::BF16);
        assert_eq!(gpu(Bf16), FloatDType::BF16);
        assert_eq!(gpu(F16), FloatDType::F16);
        assert_eq!(gpu(F32), FloatDType::F32);
        let err = set_train_precision(F16, DeviceSpec::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("runs on a GPU"), "{err}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = check_device(DeviceSpec::Cuda(0)).unwrap_err().to_string();
        assert!(err.contains("without CUDA support"), "{err}");
    }
}
