/// The peak FLOP/s lmlab measures where it knows no published one: on a CPU, and on a CUDA card
/// missing from the table in peak_flops.cpp. A large matrix product of the run's dtype is the
/// fastest arithmetic a transformer's training step does, so its rate, on this machine with these
/// threads and kernels, is the ceiling MFU is measured against.
#pragma once
#include <cstdint>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "training/peak_cache.hpp"
#include "training/peak_flops.hpp"

namespace lmlab {

struct MatmulRate {
  double flops_per_s = 0.0;
  std::int64_t n = 0;  // the products were n×n by n×n
  int per_timing = 0;  // products in each timed sample
  int samples = 0;     // timed samples; the fastest counts
  /// On a CPU: the CPU time the process got during the timed samples over their wall time ×
  /// the threads. Near 1 when the threads had the cores to themselves; well below, other work
  /// shared them and the figure is low. 1 on a CUDA device.
  double cpu_share = 1.0;
};

/// Times n×n by n×n products of `dtype` on `device` with the intra-op threads in force. A trial
/// at n = 1024 picks n (a multiple of 256 from 1024 to 8192) so that a product takes about
/// 0.1 s, and on a fast card how many products one timing holds; then a warm-up and the fastest
/// of 3 timings. About half a second in all. Draws from no generator of the run's.
MatmulRate time_matmul(const c10::Device& device, c10::ScalarType dtype);

/// The peak for `key`: the cache's entry (peak_cache_file()) when it has one; otherwise measured
/// with time_matmul() and stored there, unless other work shared the CPUs (cpu_share below 0.9):
/// a low figure cached would overstate every later run's MFU, so such a run uses its figure
/// alone. The source says how the peak was measured and whether and where it is cached.
PeakFlops measured_peak(const c10::Device& device, c10::ScalarType dtype, const PeakKey& key);

}  // namespace lmlab
