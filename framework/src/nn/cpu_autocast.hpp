/// Whether CPU autocast is on, and in bf16, in this thread (host only): the one place that knows
/// LibTorch 2.4 renamed autocast's per-device queries.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace lmlab::nn {

inline bool cpu_autocast_enabled() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(at::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}

inline bool cpu_bf16_autocast_enabled() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return cpu_autocast_enabled() && at::autocast::get_autocast_dtype(at::kCPU) == at::kBFloat16;
#else
  return cpu_autocast_enabled() && at::autocast::get_autocast_cpu_dtype() == at::kBFloat16;
#endif
}

}  // namespace lmlab::nn
