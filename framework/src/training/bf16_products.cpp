#include "training/bf16_products.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "training/peak_flops.hpp"

namespace lmlab {

namespace {

// float32 must beat bf16 by this much: below it the measurement's noise could decide.
constexpr double clearly_faster = 1.15;

// A decoding step's products read each weight for a few multiply-adds (one per row), so they
// go at the speed weights arrive, and bf16 weights are half the bytes: bf16 kernels win there
// wherever LibTorch has vectorised bf16 kernels for the CPU (oneDNN's, which need AVX-512 with
// the BW, VL and DQ extensions), even where they lose on large products. Decided from the CPU's
// flags, not from a timing, so that a machine's decoding steps always multiply alike.
bool cpu_has_vectorised_bf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') == std::string::npos ? 0 : line.find(':') + 1));
    std::set<std::string> flags{std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
    return flags.count("avx512bw") && flags.count("avx512vl") && flags.count("avx512dq");
  }
  return false;
}

nn::CpuBf16Products decoding_products() {
  return cpu_has_vectorised_bf16() ? nn::CpuBf16Products::bf16_kernels : nn::CpuBf16Products::float32_kernels;
}

Bf16ProductsChoice chosen(nn::CpuBf16Products products, std::string reason,
                          nn::CpuBf16Products decoding = nn::CpuBf16Products::bf16_kernels) {
  nn::set_cpu_bf16_products(products);
  // Only float32-kernel runs decide for their decoding steps; bf16-kernel runs use bf16 anyway.
  if (products == nn::CpuBf16Products::bf16_kernels) decoding = products;
  nn::set_cpu_bf16_decoding_products(decoding);
  return {products, std::move(reason), decoding};
}

}  // namespace

std::string Bf16ProductsChoice::describe() const {
  const std::string_view name =
      products == nn::CpuBf16Products::float32_kernels ? "float32 kernels, bf16-rounded" : "bf16 kernels";
  std::string text = reason.empty() ? std::string(name) : fmt::format("{} ({})", name, reason);
  if (products != decoding) text += "; decoding steps on bf16 kernels";
  return text;
}

std::string run_attribute(nn::CpuBf16Products products) {
  return products == nn::CpuBf16Products::float32_kernels ? "float32 kernels, bf16-rounded operands and results"
                                                          : "bf16 kernels";
}

std::string environment_value(nn::CpuBf16Products products) {
  return products == nn::CpuBf16Products::float32_kernels ? "float32" : "bf16";
}

Bf16ProductsChoice choose_bf16_products(const c10::Device& device, bool bf16,
                                        const std::optional<std::string>& recorded) {
  std::optional<nn::CpuBf16Products> forced;
  if (const char* value = std::getenv("LMLAB_CPU_BF16_PRODUCTS"); value && *value) {
    const std::string text = value;
    if (text == "bf16") forced = nn::CpuBf16Products::bf16_kernels;
    else if (text == "float32") forced = nn::CpuBf16Products::float32_kernels;
    else throw ConfigError(fmt::format("LMLAB_CPU_BF16_PRODUCTS=\"{}\"; accepted: bf16, float32 (unset: measure)", text));
  }
  if (!device.is_cpu() || !bf16) return chosen(nn::CpuBf16Products::bf16_kernels, "");
  if (recorded && !recorded->empty()) {
    for (const auto products : {nn::CpuBf16Products::bf16_kernels, nn::CpuBf16Products::float32_kernels}) {
      if (*recorded != run_attribute(products)) continue;
      const bool overruled = forced && *forced != products;
      return chosen(products,
                    overruled ? "as the run started; LMLAB_CPU_BF16_PRODUCTS is ignored on resume" : "as the run started",
                    decoding_products());
    }
  }
  if (forced) return chosen(*forced, "LMLAB_CPU_BF16_PRODUCTS=" + environment_value(*forced), *forced);
  const PeakFlops fp32 = run_peak_flops(device, false), bf16_rate = run_peak_flops(device, true);
  const std::string rates = fmt::format("{:.0f} GFLOP/s float32 against {:.0f} bf16, measured",
                                        fp32.flops_per_s / 1e9, bf16_rate.flops_per_s / 1e9);
  if (fp32.flops_per_s > clearly_faster * bf16_rate.flops_per_s) {
    return chosen(nn::CpuBf16Products::float32_kernels, rates, decoding_products());
  }
  return chosen(nn::CpuBf16Products::bf16_kernels, rates);
}

}  // namespace lmlab
