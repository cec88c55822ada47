/// oneDNN's float32 GEMM, called directly (host only). LibTorch 1.13 links oneDNN (Debian's
/// libdnnl2) for its bf16 and convolution kernels but multiplies float32 matrices through the
/// system BLAS; on an AVX-512 CPU oneDNN's JIT sgemm packs and blocks medium products (a
/// transformer layer's 2,048 x 384 x 1,536) better than OpenBLAS does (docs/performance.md).
/// Built where LibTorch < 2 and oneDNN's headers were found at configure time (libdnnl-dev,
/// LMLAB_HAVE_ONEDNN); elsewhere `onednn_built()` is false and nothing else here may be called.
#pragma once
#include <cstdint>
#include <string>

namespace lmlab::nn {

/// True when this build calls oneDNN's sgemm.
bool onednn_built();

/// "oneDNN 2.6.3" (the library loaded, not the headers built against), or "" where not built.
std::string onednn_version();

/// Row-major C (m x n) = alpha op(A) (m x k) op(B) (k x n) + beta C, float32, on LibTorch's
/// OpenMP threads. Throws std::runtime_error naming the status where oneDNN refuses.
void onednn_gemm_rows(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                      std::int64_t ldc);

}  // namespace lmlab::nn
