//! Choosing the torch device a run trains on, and the precision it trains in there.

use crate::flags::{DeviceSpec, Precision};
use crate::hardware::{cuda_devices, Cpu};
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

/// The precision a run trains in on `device`: `fp32`/`bf16` as given; `auto` is bf16 where
/// the device computes it natively (see [`native_bf16`]), else fp32. With the reason.
pub fn precision(spec: Precision, device: Device) -> (Precision, String) {
    match spec {
        Precision::Auto => {
            let (native, why) = native_bf16(device);
            let p = if native {
                Precision::Bf16
            } else {
                Precision::Fp32
            };
            (
                p,
                format!("precision=auto -> {p} on {}: {why}", name(device)),
            )
        }
        given => (given, format!("precision={given}")),
    }
}

/// Whether `device` computes bf16 natively, and why: a CUDA GPU of compute capability 8.0 or
/// later; a CPU with AVX512-BF16 or AMX-BF16 that oneDNN may use (`ONEDNN_MAX_CPU_ISA`).
pub fn native_bf16(device: Device) -> (bool, String) {
    match device {
        Device::Cuda(i) => match cuda_devices().into_iter().find(|d| d.index == i) {
            Some(d) => (
                d.native_bf16(),
                format!(
                    "{} has compute capability {}.{} ({} 8.0)",
                    d.name,
                    d.capability.0,
                    d.capability.1,
                    if d.native_bf16() { ">=" } else { "<" }
                ),
            ),
            None => (false, "the GPU's compute capability is unknown".into()),
        },
        _ => {
            let cpu = Cpu::detect();
            (cpu.native_bf16(), cpu.bf16_reason())
        }
    }
}
