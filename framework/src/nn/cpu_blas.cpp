#include "nn/cpu_blas.hpp"

#include <dlfcn.h>

#include <stdexcept>

#include <torch/version.h>

#if defined(LMLAB_HAVE_CBLAS) && TORCH_VERSION_MAJOR < 2
#define LMLAB_CPU_BLAS 1
#include <cblas.h>
#endif

namespace lmlab::nn {

#ifdef LMLAB_CPU_BLAS

bool cpu_blas_built() { return true; }

void gemm_rows(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
               const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
               std::int64_t ldc) {
  const auto op = [](bool t) { return t ? CblasTrans : CblasNoTrans; };
  const auto i = [](std::int64_t x) { return static_cast<int>(x); };
  cblas_sgemm(CblasRowMajor, op(trans_a), op(trans_b), i(m), i(n), i(k), alpha, a, i(lda), b, i(ldb), beta, c, i(ldc));
}

bool blas_has_own_threads() {
  static const bool own = [] {
    using Parallel = int (*)();
    const auto parallel = reinterpret_cast<Parallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
    return parallel && parallel() == 1;  // 0 sequential, 1 pthreads, 2 OpenMP
  }();
  return own;
}

#else

bool cpu_blas_built() { return false; }

void gemm_rows(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t, const float*,
               std::int64_t, float, float*, std::int64_t) {
  throw std::logic_error("gemm_rows: this build has no CBLAS (see cpu_blas_built())");
}

bool blas_has_own_threads() { return true; }

#endif

}  // namespace lmlab::nn
