// Multi-tensor optimizer steps for ddim-sweep: tch 0.24 has no bindings for libtorch's fused
// AdamW or its _foreach_ ops, which update all parameters in a few kernels instead of about a
// dozen per parameter (what matters on a GPU, where each kernel launch costs host time).
// Errors come back as a malloc'd message (free it with ddim_free_error), never as exceptions.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace {
char* error_text(const std::exception& e) { return strdup(e.what()); }

// Same sizes and the same memory order: strides equal wherever a size is not 1 (a size-1
// dimension's stride does not matter; channels-last 1x1 kernels and their gradients differ
// there), as libtorch's own check for its multi-tensor kernels.
bool same_layout(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes()) return false;
  for (int64_t d = 0; d < a.dim(); d++) {
    if (a.size(d) != 1 && a.stride(d) != b.stride(d)) return false;
  }
  return true;
}
}

extern "C" {

void ddim_free_error(char* e) { free(e); }

// One AdamW step (PyTorch's arithmetic: decoupled decay, bias-corrected moments) over the n
// parameters that have a gradient; `step` is a float scalar tensor on their device holding the
// step number, already counted. weight_decay 0 is plain Adam.
char* ddim_fused_adamw(at::Tensor* const* params, at::Tensor* const* m, at::Tensor* const* v, int n,
                       const at::Tensor* step, double lr, double beta1, double beta2,
                       double weight_decay, double eps) {
  try {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> ps, gs, ms, vs, steps;
    for (int i = 0; i < n; i++) {
      const at::Tensor& g = params[i]->grad();
      if (!g.defined()) continue;
      ps.push_back(*params[i]);
      gs.push_back(g);
      ms.push_back(*m[i]);
      vs.push_back(*v[i]);
      steps.push_back(*step);
    }
    if (ps.empty()) return nullptr;
    // What the fused kernels need, checked before anything is updated (so that a caller can
    // take the step another way): one floating dtype and device, and alike strides.
    for (size_t i = 0; i < ps.size(); i++) {
      const at::Tensor& p = ps[i];
      bool alike = p.is_floating_point() && p.scalar_type() == ps[0].scalar_type() &&
                   p.device() == ps[0].device() && gs[i].scalar_type() == p.scalar_type() &&
                   gs[i].device() == p.device() && same_layout(gs[i], p) &&
                   same_layout(ms[i], p) && same_layout(vs[i], p) &&
                   ms[i].scalar_type() == p.scalar_type() && vs[i].scalar_type() == p.scalar_type() &&
                   p.is_non_overlapping_and_dense();
      if (!alike) {
        std::ostringstream msg;
        msg << "parameter " << i << " of sizes " << p.sizes() << ": parameter, gradient and moments "
            << "differ in dtype, device or layout (strides " << p.strides() << ", "
            << gs[i].strides() << ", " << ms[i].strides() << ", " << vs[i].strides() << ")";
        throw std::runtime_error(msg.str());
      }
    }
    at::_fused_adamw_(ps, gs, ms, vs, {}, steps, lr, beta1, beta2, weight_decay, eps,
                      /*amsgrad=*/false, /*maximize=*/false);
    return nullptr;
  } catch (const std::exception& e) {
    return error_text(e);
  }
}

// Zeroes the gradients the n parameters have.
char* ddim_zero_grads(at::Tensor* const* params, int n) {
  try {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> gs;
    for (int i = 0; i < n; i++) {
      at::Tensor& g = params[i]->mutable_grad();
      if (g.defined()) gs.push_back(g.detach());
    }
    if (!gs.empty()) at::_foreach_zero_(gs);
    return nullptr;
  } catch (const std::exception& e) {
    return error_text(e);
  }
}

// dst[i] += weight * (src[i] - dst[i]) for n pairs of floating-point tensors.
char* ddim_lerp(at::Tensor* const* dst, const at::Tensor* const* src, int n, double weight) {
  try {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> ds, ss;
    for (int i = 0; i < n; i++) {
      ds.push_back(*dst[i]);
      ss.push_back(*src[i]);
    }
    if (!ds.empty()) at::_foreach_lerp_(ds, ss, at::Scalar(weight));
    return nullptr;
  } catch (const std::exception& e) {
    return error_text(e);
  }
}

}
