/// How a CPU run in bf16 multiplies (lmlab/nn/linear.hpp): on bf16 kernels, or on the float32
/// kernels with bf16-rounded operands, the same numbers up to the order of the sums. Chosen by
/// measurement: the peak matrix-product rates of both dtypes on this machine with these threads
/// (measured_peak.hpp, cached per machine), float32 only when it is clearly the faster. Like the
/// BLAS kernels or the thread count, this is how the machine computes, not what the experiment
/// is: it is not in the config (or its hash); LMLAB_CPU_BF16_PRODUCTS=bf16|float32 overrides it.
#pragma once
#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "nn/cpu_bf16_products.hpp"

namespace lmlab {

struct Bf16ProductsChoice {
  nn::CpuBf16Products products = nn::CpuBf16Products::bf16_kernels;
  std::string reason;
  /// How decoding steps multiply (nn::cpu_bf16_decoding_products): products' choice, except that a
  /// float32-kernel choice keeps bf16 kernels for them where the CPU has vectorised bf16 kernels
  /// (AVX-512 BW, VL and DQ). A forced LMLAB_CPU_BF16_PRODUCTS applies to them too.
  nn::CpuBf16Products decoding = nn::CpuBf16Products::bf16_kernels;  // "float32 kernels: 270 against 150 GFLOP/s measured", "LMLAB_CPU_BF16_PRODUCTS=bf16"

  /// What the run prints and records: "float32 kernels (...)", with "; decoding steps on bf16
  /// kernels" where those differ.
  std::string describe() const;
};

/// Decides for a bf16 run on `device` and sets it for the process (nn::set_cpu_bf16_products).
/// On CUDA, or in float32, nothing changes: bf16_kernels. A resumed run passes the choice its
/// file records (`recorded`, the run_attribute() text), which wins over a new measurement, so
/// that it goes on as it started. Call after configure_threads(). Throws ConfigError for an
/// LMLAB_CPU_BF16_PRODUCTS value it does not accept, whatever the run.
Bf16ProductsChoice choose_bf16_products(const c10::Device& device, bool bf16,
                                        const std::optional<std::string>& recorded = std::nullopt);

/// The run file's text for a choice: "bf16 kernels" or "float32 kernels, bf16-rounded operands
/// and results".
std::string run_attribute(nn::CpuBf16Products products);

/// The value LMLAB_CPU_BF16_PRODUCTS takes for a choice ("bf16", "float32"): what a sweep hands
/// its runs so that all of them multiply alike.
std::string environment_value(nn::CpuBf16Products products);

}  // namespace lmlab
