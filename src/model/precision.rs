//! Mixed precision and memory format. Mixed precision: the training forward pass under bfloat16 autocast (`precision=bf16`),
//! through a small C++ shim (`csrc/autocast.cpp`) since tch sets CUDA autocast to fp16 only.
//! Weights, optimizer state, losses, validation and sampling stay in fp32.

use tch::Device;

extern "C" {
    fn ddim_autocast_bf16(device: i32, enabled: i32) -> i32;
}

/// Autocast to bfloat16 on `device` while alive.
struct Bf16Guard(i32);

impl Drop for Bf16Guard {
    fn drop(&mut self) {
        // SAFETY: plain calls into libtorch's autocast state, paired with `new`.
        unsafe {
            ddim_autocast_bf16(self.0, 0);
        }
    }
}

/// Runs `f` under bfloat16 autocast on `device` (CPU or CUDA).
pub fn bf16<T>(device: Device, f: impl FnOnce() -> T) -> T {
    let d = if matches!(device, Device::Cuda(_)) {
        1
    } else {
        0
    };
    // SAFETY: see Bf16Guard.
    unsafe {
        ddim_autocast_bf16(d, 1);
    }
    let _guard = Bf16Guard(d);
    f()
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    #[test]
    fn matmul_runs_in_bf16_inside_only() {
        let a = Tensor::ones([4, 4], (Kind::Float, Device::Cpu));
        let inside = super::bf16(Device::Cpu, || a.matmul(&a));
        assert_eq!(inside.kind(), Kind::BFloat16);
        assert_eq!(a.matmul(&a).kind(), Kind::Float, "autocast is off again");
        assert_eq!(inside.to_kind(Kind::Float).double_value(&[0, 0]), 4.0);
    }
}

extern "C" {
    fn ddim_channels_last(t: *const std::ffi::c_void) -> *mut std::ffi::c_void;
}

/// `t` in channels-last memory format (same values and shape; NHWC strides), for 4-d tensors.
pub fn channels_last(t: &tch::Tensor) -> tch::Tensor {
    if t.dim() != 4 {
        return t.shallow_clone();
    }
    // SAFETY: the shim returns a new heap-allocated at::Tensor, which tch's Tensor owns and
    // frees, exactly like the tensors of tch's own C wrappers.
    unsafe {
        tch::Tensor::from_ptr(ddim_channels_last(t.as_ptr() as *const std::ffi::c_void) as *mut _)
    }
}

#[cfg(test)]
mod layout_tests {
    use tch::{Device, Kind, Tensor};

    #[test]
    fn channels_last_keeps_values() {
        let a = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).reshape([2, 3, 4, 5]);
        let b = super::channels_last(&a);
        assert_eq!(b.size(), a.size());
        assert_eq!(b.stride(), vec![60, 1, 15, 3], "NHWC strides");
        assert!(a.equal(&b));
    }
}
