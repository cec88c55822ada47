/// Where and how a run computes: the device an experiment asks for, the intra-op thread count,
/// and bf16 autocast for a scope.
#pragma once
#include <cstdint>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace lmlab {

/// "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:<i>". Throws ConfigError when
/// CUDA is asked for and absent, or the index is out of range.
c10::Device resolve_device(const std::string& spec);

/// CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota; at least 1.
int available_cpus();

/// Sets LibTorch's intra-op threads: `requested`, or available_cpus() when 0. Returns the count
/// in force. (LibTorch alone picks 1 on these machines.)
int configure_threads(std::int64_t requested);

/// Once per process, before the first tensor: freed tensor memory stays with the allocator for
/// the next step's tensors of the same sizes instead of going back to the kernel. By default
/// glibc maps blocks above a (moving) threshold fresh from the kernel and trims freed heap
/// memory, so every step pays page faults and zeroing for activations and KV caches it
/// allocated the step before: up to 40% of a batch-16 decoding step here.
void keep_freed_memory();

/// Enables bf16 autocast on `device` for its lifetime when `enabled`; restores the previous
/// state and clears the autocast cache on exit.
class AutocastScope {
 public:
  AutocastScope(const c10::Device& device, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool enabled_;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::BFloat16;
};

}  // namespace lmlab
