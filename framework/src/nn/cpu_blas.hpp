/// The system CBLAS, as lmlab's own CPU kernels call it (host only). Built where LibTorch < 2
/// (which has no fused attention) and a CBLAS was found at configure time (LMLAB_HAVE_CBLAS);
/// elsewhere `cpu_blas_built()` is false and nothing else here may be called.
#pragma once
#include <cstdint>

namespace lmlab::nn {

/// True when this build calls the system CBLAS directly.
bool cpu_blas_built();

/// Row-major C (m x n) = alpha op(A) (m x k) op(B) (k x n) + beta C, float32.
void gemm_rows(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
               std::int64_t ldc);

/// True when the BLAS runs its own threads outside OpenMP (OpenBLAS's pthreads build): called
/// from LibTorch's OpenMP threads it would start a pool per call and oversubscribe the cores.
/// OpenBLAS's OpenMP build (Debian's libopenblas0-openmp) sees the enclosing parallel region and
/// runs each call on the calling thread, so lmlab may split one product across the threads.
bool blas_has_own_threads();

}  // namespace lmlab::nn
