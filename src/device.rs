//! Choosing the torch device a run trains on.

use crate::flags::DeviceSpec;
use tch::Device;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device `{asked}` was asked for, but CUDA is not available to libtorch here (no GPU, no driver, or a CPU-only libtorch); use device=cpu or device=auto")]
    NoCuda { asked: String },
    #[error("device `cuda:{index}` was asked for, but only {count} CUDA device(s) are visible (cuda:0 .. cuda:{})", count.saturating_sub(1))]
    NoSuchGpu { index: usize, count: usize },
}

/// `auto` is the first GPU when CUDA is available, else the CPU.
pub fn resolve(spec: DeviceSpec) -> Result<Device, DeviceError> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Auto => Ok(if tch::Cuda::is_available() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        DeviceSpec::Cuda(index) => {
            let index = index.unwrap_or(0);
            if !tch::Cuda::is_available() {
                return Err(DeviceError::NoCuda {
                    asked: format!("cuda:{index}"),
                });
            }
            let count = tch::Cuda::device_count() as usize;
            if index >= count {
                return Err(DeviceError::NoSuchGpu { index, count });
            }
            Ok(Device::Cuda(index))
        }
    }
}

pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
