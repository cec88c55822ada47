#include "training/runtime.hpp"

#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <ATen/autocast_mode.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "lmlab/error.hpp"

namespace lmlab {

c10::Device resolve_device(const std::string& spec) {
  const bool has_cuda = torch::cuda::is_available();
  if (spec == "auto") return has_cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda" || spec.starts_with("cuda:")) {
    if (!has_cuda) {
      throw ConfigError(fmt::format("experiment.device = \"{}\" but this LibTorch build sees no CUDA device; "
                                    "accepted here: auto, cpu",
                                    spec));
    }
    const std::string digits = spec == "cuda" ? "0" : spec.substr(5);
    const auto count = static_cast<int>(torch::cuda::device_count());
    const bool numeric = !digits.empty() && digits.size() <= 4 &&
                         digits.find_first_not_of("0123456789") == std::string::npos;
    const int index = numeric ? std::stoi(digits) : -1;
    if (index < 0 || index >= count) {
      throw ConfigError(fmt::format("experiment.device = \"{}\": only {} CUDA device(s) (cuda:0..cuda:{})", spec,
                                    count, count - 1));
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ConfigError(fmt::format("experiment.device = \"{}\"; accepted: auto, cpu, cuda, cuda:<i>", spec));
}

int available_cpus() {
  int cpus = 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  // A container's CPU quota (cgroup v2 "cpu.max": "<quota> <period>" or "max <period>") can be
  // below the affinity mask; more threads than that only wait on each other.
  std::ifstream limit("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (limit >> quota >> period && quota != "max" && period > 0) {
    const int allowed = static_cast<int>(std::ceil(std::stod(quota) / period));
    cpus = std::clamp(allowed, 1, cpus);
  }
  return cpus;
}

int configure_threads(std::int64_t requested) {
  const int n = requested > 0 ? static_cast<int>(requested) : available_cpus();
  at::set_num_threads(n);
  return at::get_num_threads();
}

void keep_freed_memory() {
  // 32 MiB is the largest threshold glibc accepts (half its heap size); larger tensors are
  // mapped still, and are few and costly enough to compute that their page faults matter less.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

namespace {

// Autocast's switches moved from per-device functions to device-type arguments in LibTorch 2.4.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(c10::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
at::ScalarType autocast_dtype(c10::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
void set_autocast(c10::DeviceType t, bool on, at::ScalarType dtype) {
  at::autocast::set_autocast_dtype(t, dtype);
  at::autocast::set_autocast_enabled(t, on);
}
#else
bool autocast_enabled(c10::DeviceType t) {
  return t == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
at::ScalarType autocast_dtype(c10::DeviceType t) {
  return t == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast(c10::DeviceType t, bool on, at::ScalarType dtype) {
  if (t == c10::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(on);
  }
}
#endif

}  // namespace

AutocastScope::AutocastScope(const c10::Device& device, bool enabled) : type_(device.type()), enabled_(enabled) {
  if (!enabled_) return;
  was_enabled_ = autocast_enabled(type_);
  was_dtype_ = autocast_dtype(type_);
  set_autocast(type_, true, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  // Cached bf16 copies of the weights are only valid until the next optimizer step.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(type_, was_enabled_, was_dtype_);
}

}  // namespace lmlab
