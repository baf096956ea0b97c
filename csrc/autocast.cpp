// Mixed precision for ddim-sweep: tch 0.24 only turns CUDA autocast on with its default
// dtype (fp16); this shim sets the device and the dtype (bfloat16), on CPU or CUDA.
#include <ATen/autocast_mode.h>

extern "C" {

// device: 0 = CPU, 1 = CUDA. Returns the previous enabled state.
int ddim_autocast_bf16(int device, int enabled) {
  auto dev = device == 1 ? at::kCUDA : at::kCPU;
  bool prev = at::autocast::is_autocast_enabled(dev);
  if (enabled) {
    at::autocast::set_autocast_dtype(dev, at::kBFloat16);
    at::autocast::increment_nesting();
  } else if (at::autocast::decrement_nesting() == 0) {
    at::autocast::clear_cache();
  }
  at::autocast::set_autocast_enabled(dev, enabled != 0);
  return prev ? 1 : 0;
}

}

// Channels-last memory format (tch 0.24 has no memory formats): a new tensor handle, as tch's
// own C wrappers make them (a heap-allocated at::Tensor).
#include <ATen/Tensor.h>
extern "C" at::Tensor* ddim_channels_last(const at::Tensor* t) {
  return new at::Tensor(t->contiguous(at::MemoryFormat::ChannelsLast));
}
