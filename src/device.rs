//! Backend and device selection. The CPU backend is burn's `flex` (pure Rust, SIMD,
//! multi-threaded), chosen by measurement over `ndarray`; the CUDA backend is compiled in
//! with the `cuda` feature and picked by default when a GPU answers.

use crate::kernels::Kernels;
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

/// Sets the training GEMMs' precision for `spec` and says what it is, for the log line.
/// bf16 on the CPU needs AMX tiles or AVX512-BF16; CUDA trains in f32 (its mixed precision
/// is not built).
pub fn set_train_precision(
    precision: crate::cli::TrainPrecision,
    spec: DeviceSpec,
) -> Result<&'static str, Error> {
    use crate::cli::TrainPrecision::*;
    let on_cpu = spec == DeviceSpec::Cpu;
    match precision {
        Bf16 if !on_cpu => Err(Error::Usage(
            "--precision bf16 is built for CPUs only so far; CUDA trains in f32".into(),
        )),
        Bf16 if !crate::kernels::bf16_gemm_available() => Err(Error::Usage(
            "--precision bf16 needs a CPU with AVX512-BF16 or AMX-BF16 (Intel Sapphire Rapids, AMD Zen 4 or later), and this one has neither; use --precision f32".into(),
        )),
        Bf16 | Auto if on_cpu && crate::kernels::use_bf16_gemm(true) => {
            Ok(if crate::kernels::bf16_gemm_on_tiles() {
                "bf16 GEMM operands on AMX, f32 sums"
            } else {
                "bf16 GEMM operands on AVX512-BF16, f32 sums"
            })
        }
        _ => {
            crate::kernels::use_bf16_gemm(false);
            Ok("f32")
        }
    }
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

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = check_device(DeviceSpec::Cuda(0)).unwrap_err().to_string();
        assert!(err.contains("without CUDA support"), "{err}");
    }
}
