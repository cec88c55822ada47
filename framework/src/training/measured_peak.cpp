#include "training/measured_peak.hpp"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include "training/provenance.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

double product_flops(std::int64_t n) {
  const auto side = static_cast<double>(n);
  return 2.0 * side * side * side;
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Timings {
  double fastest = std::numeric_limits<double>::infinity();  // seconds of the fastest sample
  double wall = 0.0, cpu = 0.0;                              // seconds of all samples, wall and process CPU
};

// `samples` timings of `per_timing` products a·b each. A CUDA product only queues work, so each
// timing ends by waiting for the device.
Timings time_products(const at::Tensor& a, const at::Tensor& b, int per_timing, int samples) {
  Timings t;
  const double cpu_start = process_cpu_seconds();
  for (int s = 0; s < samples; ++s) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < per_timing; ++i) at::mm(a, b);  // (n, n)
    if (a.is_cuda()) torch::cuda::synchronize(a.device().index());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    t.fastest = std::min(t.fastest, seconds);
    t.wall += seconds;
  }
  t.cpu = process_cpu_seconds() - cpu_start;
  return t;
}

// Two n×n operands of uniform values from a generator of their own: the run's generators are
// seeded for reproducibility and must not see these draws.
std::pair<at::Tensor, at::Tensor> matmul_operands(std::int64_t n, const c10::Device& device, c10::ScalarType dtype) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto options = at::TensorOptions().dtype(at::kFloat);
  return {at::rand({n, n}, generator, options).to(device, dtype),   // (n, n)
          at::rand({n, n}, generator, options).to(device, dtype)};  // (n, n)
}

// "measured: <method> on <device>[ with <threads> threads], <when>; <where it is cached>"
std::string measured_source(const PeakKey& key, const CachedPeak& peak, const std::string& where) {
  const std::string threads = key.threads > 0 ? fmt::format(" with {} threads", key.threads) : "";
  return fmt::format("measured: {} on {}{}, {}; {}", peak.method, key.device, threads, peak.measured_at, where);
}

}  // namespace

MatmulRate time_matmul(const c10::Device& device, c10::ScalarType dtype) {
  constexpr double target_seconds = 0.1;  // per timing: well above the clock's noise, cheap at a run's start
  constexpr int samples = 3;
  auto [a, b] = matmul_operands(1024, device, dtype);
  time_products(a, b, 1, 1);  // first-call costs: the thread pool, allocation, kernel choice
  const double trial_rate = product_flops(1024) / time_products(a, b, 1, 1).fastest;
  const double side = std::cbrt(trial_rate * target_seconds / 2.0);
  const std::int64_t n = std::clamp<std::int64_t>(std::llround(side / 256.0) * 256, 1024, 8192);
  // A GPU does even 8192³ in milliseconds: several products make one timing there.
  const int per_timing =
      static_cast<int>(std::clamp<double>(std::round(target_seconds * trial_rate / product_flops(n)), 1, 1000));
  std::tie(a, b) = matmul_operands(n, device, dtype);
  time_products(a, b, 1, 1);  // warm-up at the measured size
  const Timings t = time_products(a, b, per_timing, samples);
  const double share = device.is_cpu() ? t.cpu / (t.wall * at::get_num_threads()) : 1.0;
  return {product_flops(n) * per_timing / t.fastest, n, per_timing, samples, share};
}

PeakFlops measured_peak(const c10::Device& device, c10::ScalarType dtype, const PeakKey& key) {
  const fs::path cache = peak_cache_file();
  if (!cache.empty()) {
    if (const auto hit = find_cached_peak(cache, key)) {
      return {hit->flops_per_s, measured_source(key, *hit, fmt::format("cached in {}", cache.string()))};
    }
  }
  const MatmulRate rate = time_matmul(device, dtype);
  const CachedPeak peak{rate.flops_per_s,
                        fmt::format("{0}x{0}x{0} {1} matmul, fastest of {2} timings of {3} after a warm-up", rate.n,
                                    key.dtype, rate.samples, rate.per_timing),
                        utc_now()};
  std::string where = "not cached: none of LMLAB_CACHE_DIR, XDG_CACHE_HOME, HOME is set";
  if (rate.cpu_share < 0.9) {
    where = fmt::format("not cached: other work shared the CPUs (the threads got {:.0f}% of their time)",
                        100 * rate.cpu_share);
  } else if (!cache.empty()) {
    try {
      store_peak(cache, key, peak);
      where = fmt::format("cached in {}", cache.string());
    } catch (const std::exception& error) {
      where = fmt::format("not cached in {}: {}", cache.string(), error.what());
    }
  }
  return {peak.flops_per_s, measured_source(key, peak, where)};
}

}  // namespace lmlab
