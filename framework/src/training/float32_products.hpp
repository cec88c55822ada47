/// Which GEMM library a CPU run's float32 products take (nn/cpu_float32_products.hpp): LibTorch's
/// BLAS or oneDNN's sgemm, the same products up to the order of the sums. oneDNN where the CPU has
/// AVX-512 with BW, VL and DQ (the level its JIT kernels are built for), decided from the CPU's
/// flags so that every run on a machine multiplies alike. Like the BLAS kernels, this is how the
/// machine computes, not what the experiment is: not in the config or its hash.
/// LMLAB_CPU_FLOAT32_PRODUCTS=libtorch|onednn overrides it; a resumed run keeps what its file
/// records.
#pragma once
#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "nn/cpu_float32_products.hpp"

namespace lmlab {

struct Float32ProductsChoice {
  nn::CpuFloat32Products products = nn::CpuFloat32Products::libtorch;
  std::string reason;  // "AVX-512 CPU: oneDNN's sgemm kernels", "LMLAB_CPU_FLOAT32_PRODUCTS=onednn"

  /// What the run prints: "oneDNN 2.6.3 sgemm (AVX-512 CPU: ...)".
  std::string describe() const;
};

/// Decides for a run on `device` and sets it for the process (nn::set_cpu_float32_products).
/// On CUDA, or where oneDNN is not built, the choice is libtorch. A resumed run passes the
/// choice its file records (`recorded`, the run_attribute() text), which wins. Throws ConfigError for an LMLAB_CPU_FLOAT32_PRODUCTS value it does not
/// accept, whatever the run.
Float32ProductsChoice choose_float32_products(const c10::Device& device,
                                              const std::optional<std::string>& recorded = std::nullopt);

/// The run file's text for a choice: "LibTorch's BLAS" or "oneDNN sgemm".
std::string run_attribute(nn::CpuFloat32Products products);

/// LMLAB_CPU_FLOAT32_PRODUCTS's value for a choice: "libtorch" or "onednn".
std::string environment_value(nn::CpuFloat32Products products);

}  // namespace lmlab
