#include "nn/cpu_onednn.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <torch/version.h>

#if defined(LMLAB_HAVE_ONEDNN) && TORCH_VERSION_MAJOR < 2
#define LMLAB_CPU_ONEDNN 1
#include <dnnl.h>
#endif

namespace lmlab::nn {

#ifdef LMLAB_CPU_ONEDNN

bool onednn_built() { return true; }

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("oneDNN {}.{}.{}", v->major, v->minor, v->patch);
}

void onednn_gemm_rows(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                      std::int64_t ldc) {
  const dnnl_status_t status =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (status != dnnl_success) {
    throw std::runtime_error(fmt::format("oneDNN sgemm of {} x {} x {} failed with status {}", m, k, n,
                                         static_cast<int>(status)));
  }
}

#else

bool onednn_built() { return false; }

std::string onednn_version() { return ""; }

void onednn_gemm_rows(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                      const float*, std::int64_t, float, float*, std::int64_t) {
  throw std::logic_error("onednn_gemm_rows: this build has no oneDNN (see onednn_built())");
}

#endif

}  // namespace lmlab::nn
