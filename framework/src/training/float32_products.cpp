#include "training/float32_products.hpp"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "nn/cpu_onednn.hpp"
#include "training/blas_kernels.hpp"
#include "training/peak_cache.hpp"
#include "training/peak_flops.hpp"
#include "training/provenance.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

// oneDNN must beat LibTorch's BLAS by this much: below it the measurement's noise could decide.
constexpr double onednn_clearly_faster = 1.05;
// A layer's products at a width between the bench models' and GPT-2's, 2,048 rows (T x batch).
constexpr std::int64_t layer_rows = 2048, layer_in = 512, layer_out = 2048;

double cpu_seconds_of_process() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct LayerRate {
  double flops_per_s = 0.0;
  double cpu_share = 1.0;  // as MatmulRate's (measured_peak.hpp)
};

// The three products of a linear layer's step (y = x W^T, dx = dy W, dW = dy^T x) with the
// library `products`, each the fastest of 3 timings after a warm-up.
LayerRate time_layer_products(nn::CpuFloat32Products products) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto options = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor x = at::rand({layer_rows, layer_in}, generator, options);    // (N, C_in)
  const at::Tensor w = at::rand({layer_out, layer_in}, generator, options);     // (C_out, C_in)
  const at::Tensor dy = at::rand({layer_rows, layer_out}, generator, options);  // (N, C_out)
  const nn::CpuFloat32Products before = nn::cpu_float32_products();
  nn::set_cpu_float32_products(products);
  const auto layer = [&] {
    nn::float32_mm(x, false, w, true);   // (N, C_out)
    nn::float32_mm(dy, false, w, false);  // (N, C_in)
    nn::float32_mm(dy, true, x, false);   // (C_out, C_in)
  };
  layer();
  double fastest = std::numeric_limits<double>::infinity(), wall = 0.0;
  const double cpu_start = cpu_seconds_of_process();
  for (int sample = 0; sample < 3; ++sample) {
    const auto start = std::chrono::steady_clock::now();
    layer();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fastest = std::min(fastest, seconds);
    wall += seconds;
  }
  const double cpu = cpu_seconds_of_process() - cpu_start;
  nn::set_cpu_float32_products(before);
  const double flops = 3 * 2.0 * layer_rows * layer_in * layer_out;
  return {flops / fastest, cpu / (wall * at::get_num_threads())};
}

std::string library_name(nn::CpuFloat32Products products) {
  return products == nn::CpuFloat32Products::onednn ? nn::onednn_version() + " sgemm" : tune_blas_kernels().describe();
}

// The rate for `products` from the cache, or measured (and cached when the CPUs were the
// threads' own, as measured_peak() does).
struct KnownRate {
  double flops_per_s = 0.0;
  bool cached = false;  // read from or written to the cache
  bool quiet = true;    // from the cache, or measured with the CPUs to the threads
};

KnownRate layer_rate(nn::CpuFloat32Products products) {
  const PeakKey key{cpu_model_name(), at::get_num_threads(),
                    fmt::format("float32 layer products {}x{}x{}", layer_rows, layer_in, layer_out),
                    library_name(products), torch_version()};
  const fs::path cache = peak_cache_file();
  if (!cache.empty()) {
    if (const auto hit = find_cached_peak(cache, key)) return {hit->flops_per_s, true, true};
  }
  const LayerRate rate = time_layer_products(products);
  KnownRate known{rate.flops_per_s, false, rate.cpu_share >= 0.9};
  if (known.quiet && !cache.empty()) {
    try {
      store_peak(cache, key, {rate.flops_per_s, "forward and backward products, fastest of 3 after a warm-up", utc_now()});
      known.cached = true;
    } catch (const std::exception&) {
      // Unwritable cache: this run decides from its own measurement.
    }
  }
  return known;
}

Float32ProductsChoice chosen(nn::CpuFloat32Products products, std::string reason) {
  nn::set_cpu_float32_products(products);
  return {products, std::move(reason)};
}

std::optional<nn::CpuFloat32Products> forced_products() {
  const char* value = std::getenv("LMLAB_CPU_FLOAT32_PRODUCTS");
  if (value == nullptr || *value == '\0') return std::nullopt;
  const std::string text = value;
  if (text == "libtorch") return nn::CpuFloat32Products::libtorch;
  if (text == "onednn") return nn::CpuFloat32Products::onednn;
  throw ConfigError(fmt::format("LMLAB_CPU_FLOAT32_PRODUCTS=\"{}\"; accepted: libtorch, onednn (unset: measure)", text));
}

}  // namespace

std::string Float32ProductsChoice::describe() const {
  const std::string name = library_name(products);
  return reason.empty() ? name : fmt::format("{} ({})", name, reason);
}

std::string run_attribute(nn::CpuFloat32Products products) {
  return products == nn::CpuFloat32Products::onednn ? "oneDNN sgemm" : "LibTorch's BLAS";
}

std::string environment_value(nn::CpuFloat32Products products) {
  return products == nn::CpuFloat32Products::onednn ? "onednn" : "libtorch";
}

Float32ProductsChoice choose_float32_products(const c10::Device& device, const std::optional<std::string>& recorded) {
  std::optional<nn::CpuFloat32Products> forced = forced_products();
  if (!device.is_cpu() || !nn::onednn_built()) return chosen(nn::CpuFloat32Products::libtorch, "");
  if (recorded && !recorded->empty()) {
    for (const auto products : {nn::CpuFloat32Products::libtorch, nn::CpuFloat32Products::onednn}) {
      if (*recorded != run_attribute(products)) continue;
      const bool overruled = forced && *forced != products;
      return chosen(products, overruled ? "as the run started; LMLAB_CPU_FLOAT32_PRODUCTS is ignored on resume"
                                        : "as the run started");
    }
  }
  if (forced) return chosen(*forced, "LMLAB_CPU_FLOAT32_PRODUCTS=" + environment_value(*forced));
  const KnownRate blas = layer_rate(nn::CpuFloat32Products::libtorch);
  const KnownRate onednn = layer_rate(nn::CpuFloat32Products::onednn);
  const std::string rates = fmt::format("a layer's products at {:.0f} GFLOP/s on oneDNN against {:.0f} on LibTorch's BLAS",
                                        onednn.flops_per_s / 1e9, blas.flops_per_s / 1e9);
  // Timings taken while other work shared the CPUs could choose either way from one run to the
  // next; the machine's runs keep LibTorch's BLAS until a quiet measurement decides.
  if (!blas.quiet || !onednn.quiet) {
    return chosen(nn::CpuFloat32Products::libtorch,
                  rates + ", measured while other work shared the CPUs (not cached): kept until a quiet "
                          "measurement decides");
  }
  const std::string how = rates + (blas.cached && onednn.cached ? ", measured once on this machine" : ", measured by this run");
  if (onednn.flops_per_s > onednn_clearly_faster * blas.flops_per_s) return chosen(nn::CpuFloat32Products::onednn, how);
  return chosen(nn::CpuFloat32Products::libtorch, how);
}

}  // namespace lmlab
