#include "training/float32_products.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "nn/cpu_onednn.hpp"
#include "training/blas_kernels.hpp"

namespace lmlab {

namespace {

// oneDNN's JIT sgemm has kernels for AVX-512 with the BW, VL and DQ extensions ("avx512_core"),
// where it multiplies a transformer's medium products 5-20% faster than OpenBLAS's SkylakeX and
// Cooperlake kernels and trains the 10.9M bench model ~9% faster (docs/performance.md). Below
// that level OpenBLAS's kernels are the ones tuned for the CPU. Decided from the CPU's flags, not
// from a timing at a run's start: such timings (a second of a block's products) ranked the two
// libraries differently from one run to the next here, while a machine's runs must multiply alike.
bool cpu_has_avx512_core() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

std::string library_name(nn::CpuFloat32Products products) {
  return products == nn::CpuFloat32Products::onednn ? nn::onednn_version() + " sgemm" : tune_blas_kernels().describe();
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
  if (!device.is_cpu()) return chosen(nn::CpuFloat32Products::libtorch, "");
  if (!nn::onednn_built()) {
    // A run that started on oneDNN goes on with the BLAS: the same products, other rounding.
    const bool started_on_onednn = recorded && *recorded == run_attribute(nn::CpuFloat32Products::onednn);
    return chosen(nn::CpuFloat32Products::libtorch,
                  started_on_onednn ? "the run started on oneDNN sgemm, which this build lacks: it does not go on bit "
                                      "for bit"
                                    : "");
  }
  if (recorded && !recorded->empty()) {
    for (const auto products : {nn::CpuFloat32Products::libtorch, nn::CpuFloat32Products::onednn}) {
      if (*recorded != run_attribute(products)) continue;
      const bool overruled = forced && *forced != products;
      return chosen(products, overruled ? "as the run started; LMLAB_CPU_FLOAT32_PRODUCTS is ignored on resume"
                                        : "as the run started");
    }
  }
  if (forced) return chosen(*forced, "LMLAB_CPU_FLOAT32_PRODUCTS=" + environment_value(*forced));
  if (cpu_has_avx512_core()) return chosen(nn::CpuFloat32Products::onednn, "AVX-512 CPU: oneDNN's sgemm kernels");
  return chosen(nn::CpuFloat32Products::libtorch, "no AVX-512 (BW, VL, DQ): OpenBLAS's kernels");
}

}  // namespace lmlab
