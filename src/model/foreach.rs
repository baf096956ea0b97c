//! Multi-tensor updates through the C++ shim `csrc/optim.cpp`: libtorch's fused AdamW and its
//! `_foreach_` ops, which tch 0.24 does not bind. One call updates every parameter in a few
//! kernels instead of about a dozen kernels per parameter, which is what costs time on a GPU
//! (each launch is host work); on the CPU they also skip the temporaries.

use std::ffi::{c_char, c_int, c_void, CStr};
use tch::Tensor;

extern "C" {
    fn ddim_free_error(e: *mut c_char);
    fn ddim_fused_adamw(
        params: *const *mut c_void,
        m: *const *mut c_void,
        v: *const *mut c_void,
        n: c_int,
        step: *const c_void,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
    ) -> *mut c_char;
    fn ddim_zero_grads(params: *const *mut c_void, n: c_int) -> *mut c_char;
    fn ddim_lerp(
        dst: *const *mut c_void,
        src: *const *const c_void,
        n: c_int,
        w: f64,
    ) -> *mut c_char;
}

/// The error a shim call returned, if any (and frees it).
fn check(e: *mut c_char) -> Result<(), String> {
    if e.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null result is a NUL-terminated string from strdup, freed once here.
    let text = unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned();
    unsafe { ddim_free_error(e) };
    Err(text)
}

fn ptrs<'a>(ts: impl IntoIterator<Item = &'a Tensor>) -> Vec<*mut c_void> {
    ts.into_iter().map(|t| t.as_ptr() as *mut c_void).collect()
}

/// Adam hyper-parameters for [`fused_adamw`].
#[derive(Debug, Clone, Copy)]
pub struct AdamParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub eps: f64,
}

/// One AdamW step (PyTorch's arithmetic) over the parameters that have a gradient, with their
/// first and second moments `m`, `v`; `step` is a float scalar tensor on their device holding
/// the step number (already counted). Needs floating-point parameters on one device.
pub fn fused_adamw(
    params: &[Tensor],
    m: &[Tensor],
    v: &[Tensor],
    step: &Tensor,
    h: AdamParams,
) -> Result<(), String> {
    assert!(params.len() == m.len() && m.len() == v.len());
    let (p, m, v) = (ptrs(params), ptrs(m), ptrs(v));
    // SAFETY: the pointers are live tch tensors (at::Tensor*) borrowed for the call; the shim
    // catches every C++ exception.
    check(unsafe {
        ddim_fused_adamw(
            p.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            p.len() as c_int,
            step.as_ptr() as *const c_void,
            h.lr,
            h.beta1,
            h.beta2,
            h.weight_decay,
            h.eps,
        )
    })
}

/// Zeroes the gradients that `params` have, in one multi-tensor call.
pub fn zero_grads(params: &[Tensor]) -> Result<(), String> {
    let p = ptrs(params);
    // SAFETY: as in `fused_adamw`.
    check(unsafe { ddim_zero_grads(p.as_ptr(), p.len() as c_int) })
}

/// `dst[i] += weight * (src[i] - dst[i])` for floating-point tensor pairs, in one call.
pub fn lerp(dst: &[Tensor], src: &[Tensor], weight: f64) -> Result<(), String> {
    assert_eq!(dst.len(), src.len());
    let d = ptrs(dst);
    let s: Vec<*const c_void> = src.iter().map(|t| t.as_ptr() as *const c_void).collect();
    // SAFETY: as in `fused_adamw`.
    check(unsafe { ddim_lerp(d.as_ptr(), s.as_ptr(), d.len() as c_int, weight) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn lerp_and_zero_grads() {
        let a = Tensor::zeros([3], (Kind::Float, Device::Cpu));
        let b = Tensor::from_slice(&[1.0f32, 2.0, 4.0]);
        lerp(&[a.shallow_clone()], &[b], 0.25).unwrap();
        assert_eq!(Vec::<f32>::try_from(&a).unwrap(), vec![0.25, 0.5, 1.0]);
        let p = Tensor::ones([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let q = Tensor::ones([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        (&p * 3.0).sum(Kind::Float).backward();
        zero_grads(&[p.shallow_clone(), q.shallow_clone()]).unwrap();
        assert_eq!(Vec::<f32>::try_from(&p.grad()).unwrap(), vec![0.0, 0.0]);
        assert!(
            !q.grad().defined(),
            "a parameter without a gradient is left alone"
        );
    }

    #[test]
    fn errors_come_back_as_text() {
        let a = Tensor::zeros([3], (Kind::Float, Device::Cpu));
        let b = Tensor::zeros([4], (Kind::Float, Device::Cpu));
        let e = lerp(&[a], &[b], 0.5).unwrap_err();
        assert!(!e.is_empty(), "{e}");
    }
}
