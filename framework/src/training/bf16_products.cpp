#include "training/bf16_products.hpp"

#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "training/peak_flops.hpp"

namespace lmlab {

namespace {

// float32 must beat bf16 by this much: below it the measurement's noise could decide.
constexpr double clearly_faster = 1.15;

Bf16ProductsChoice chosen(nn::CpuBf16Products products, std::string reason) {
  nn::set_cpu_bf16_products(products);
  return {products, std::move(reason)};
}

}  // namespace

std::string Bf16ProductsChoice::describe() const {
  const std::string_view name =
      products == nn::CpuBf16Products::float32_kernels ? "float32 kernels, bf16-rounded" : "bf16 kernels";
  return reason.empty() ? std::string(name) : fmt::format("{} ({})", name, reason);
}

Bf16ProductsChoice choose_bf16_products(const c10::Device& device, bool bf16) {
  if (!device.is_cpu() || !bf16) return chosen(nn::CpuBf16Products::bf16_kernels, "");
  if (const char* forced = std::getenv("LMLAB_CPU_BF16_PRODUCTS"); forced && *forced) {
    const std::string value = forced;
    if (value == "bf16") return chosen(nn::CpuBf16Products::bf16_kernels, "LMLAB_CPU_BF16_PRODUCTS=bf16");
    if (value == "float32") return chosen(nn::CpuBf16Products::float32_kernels, "LMLAB_CPU_BF16_PRODUCTS=float32");
    throw ConfigError(fmt::format("LMLAB_CPU_BF16_PRODUCTS=\"{}\"; accepted: bf16, float32 (unset: measure)", value));
  }
  const PeakFlops fp32 = run_peak_flops(device, false), bf16_rate = run_peak_flops(device, true);
  const std::string rates = fmt::format("{:.0f} GFLOP/s float32 against {:.0f} bf16, measured", fp32.flops_per_s / 1e9,
                                        bf16_rate.flops_per_s / 1e9);
  if (fp32.flops_per_s > clearly_faster * bf16_rate.flops_per_s) {
    return chosen(nn::CpuBf16Products::float32_kernels, rates);
  }
  return chosen(nn::CpuBf16Products::bf16_kernels, rates);
}

}  // namespace lmlab
