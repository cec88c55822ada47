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
      return chosen(products, overruled ? "as the run started; LMLAB_CPU_BF16_PRODUCTS is ignored on resume"
                                        : "as the run started");
    }
  }
  if (forced) return chosen(*forced, "LMLAB_CPU_BF16_PRODUCTS=" + environment_value(*forced));
  const PeakFlops fp32 = run_peak_flops(device, false), bf16_rate = run_peak_flops(device, true);
  const std::string rates = fmt::format("{:.0f} GFLOP/s float32 against {:.0f} bf16, measured",
                                        fp32.flops_per_s / 1e9, bf16_rate.flops_per_s / 1e9);
  if (fp32.flops_per_s > clearly_faster * bf16_rate.flops_per_s) {
    return chosen(nn::CpuBf16Products::float32_kernels, rates);
  }
  return chosen(nn::CpuBf16Products::bf16_kernels, rates);
}

}  // namespace lmlab
