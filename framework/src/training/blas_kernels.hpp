/// Which BLAS kernels LibTorch's float32 matrix products run on, and a correction where the BLAS
/// chose badly.
///
/// OpenBLAS built for many CPUs (DYNAMIC_ARCH, as Debian's is) picks its kernels from the CPU's
/// family and model numbers at load time. A model it does not know, as many cloud VMs report,
/// gets its oldest x86-64 kernels ("Prescott", SSE3): on this project's machines, an AVX-512 CPU
/// with bf16, that makes float32 GEMMs 4-5x slower (60 against 240-280 GFLOP/s on 2 cores).
/// lmlab asks the CPU what it supports and, when OpenBLAS's choice is below it, switches to the
/// kernels for that level before the first run computes anything.
#pragma once
#include <string>

namespace lmlab {

struct BlasKernels {
  std::string library;   ///< "OpenBLAS 0.3.21 ..." (its config string), or empty: not OpenBLAS
  std::string detected;  ///< the core OpenBLAS chose by itself ("Prescott")
  std::string chosen;    ///< the core in force now ("Cooperlake"); == detected when unchanged
  std::string reason;    ///< one line: why it was (or was not) changed

  /// The kernels in force, what the run file's "blas" attribute, resume checks and the peak
  /// cache compare: "OpenBLAS 0.3.21, Cooperlake kernels". How they were chosen is left out: a
  /// sweep's runs inherit the choice through OPENBLAS_CORETYPE and run the same kernels.
  std::string describe() const;
  /// describe() and how the kernels were chosen, for the run's header line.
  std::string explain() const;
};

/// Once per process, before the first matrix product: upgrades OpenBLAS's kernels to the best
/// level the CPU supports when its own detection fell below it. Leaves them alone when
/// OPENBLAS_CORETYPE is set (the user's choice), when the BLAS is not a DYNAMIC_ARCH OpenBLAS,
/// or when its choice is already at the CPU's level. Returns what is in force; later calls
/// return the first call's result.
const BlasKernels& tune_blas_kernels();

}  // namespace lmlab
