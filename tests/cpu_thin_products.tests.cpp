// The thin-product kernel (x W^T + b of a few rows, split by output columns across the
// intra-op threads): when it applies, that it gives at::linear's numbers, and that lmlab's
// kernels reach more than one thread at all.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>

#include "lmlab/nn/linear.hpp"
#include "nn/cpu_blas.hpp"
#include "nn/cpu_thin_products.hpp"
#include "training/runtime.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace cpu_thin_products_tests {

namespace {

bool kernel_built() { return lmlab::nn::cpu_blas_built() && !lmlab::nn::blas_has_own_threads(); }

}  // namespace

TEST_CASE("lmlab's CPU kernels reach every intra-op thread", "[cpu_thin_products]") {
  if (!lmlab::nn::cpu_blas_built()) {
    WARN("this build has no CPU kernels of its own (LibTorch 2.x or no CBLAS): nothing to check");
    return;
  }
  lmlab::test::IntraOpThreads two(2);
  // Built without LibTorch's OpenMP, at::parallel_for would run every loop on this thread.
  REQUIRE(lmlab::nn::kernel_threads_reached() == 2);
  lmlab::test::IntraOpThreads one(1);
  REQUIRE(lmlab::nn::kernel_threads_reached() == 1);
}

TEST_CASE("thin products apply to few float32 rows without autograd or autocast", "[cpu_thin_products]") {
  if (!kernel_built()) {
    WARN("no thin-product kernel in this build");
    return;
  }
  lmlab::test::IntraOpThreads two(2);
  const at::Tensor x = at::randn({2, 1, 64}), w = at::randn({256, 64}), b = at::randn({256});
  c10::InferenceMode inference;
  CHECK(lmlab::nn::thin_product_applies(x, w, b));
  CHECK(lmlab::nn::thin_product_applies(x, w, at::Tensor()));
  CHECK_FALSE(lmlab::nn::thin_product_applies(at::randn({17, 64}), w, b));                 // too many rows
  CHECK_FALSE(lmlab::nn::thin_product_applies(x, at::randn({64, 256}).t(), b));            // weight not dense
  CHECK_FALSE(lmlab::nn::thin_product_applies(x.to(at::kBFloat16), w, b));                 // not float32
  CHECK_FALSE(lmlab::nn::thin_product_applies(x, at::randn({64, 64}), at::Tensor()));     // too narrow to split
  {
    lmlab::AutocastScope autocast(c10::Device(c10::kCPU), true);
    CHECK_FALSE(lmlab::nn::thin_product_applies(x, w, b));
  }
  {
    lmlab::test::IntraOpThreads one(1);
    CHECK_FALSE(lmlab::nn::thin_product_applies(x, w, b));
  }
}

TEST_CASE("thin products need no gradient to record", "[cpu_thin_products]") {
  if (!kernel_built()) return;
  lmlab::test::IntraOpThreads two(2);
  const at::Tensor x = at::randn({1, 64}), w = at::randn({256, 64}).requires_grad_();
  CHECK_FALSE(lmlab::nn::thin_product_applies(x, w, at::Tensor()));
  at::NoGradGuard no_grad;
  CHECK(lmlab::nn::thin_product_applies(x, w, at::Tensor()));
}

TEST_CASE("thin products give at::linear's numbers", "[cpu_thin_products]") {
  if (!kernel_built()) return;
  lmlab::test::IntraOpThreads two(2);
  c10::InferenceMode inference;
  // Widths that do and do not fill whole 16-column blocks; one row, a batch of rows in 3-D.
  for (const std::int64_t width : {256, 200, 1031}) {
    for (const auto& shape : {std::vector<std::int64_t>{1, 96}, std::vector<std::int64_t>{4, 3, 96}}) {
      const at::Tensor x = at::randn(shape), w = at::randn({width, 96}), b = at::randn({width});
      INFO("width " << width << ", input " << x.sizes());
      REQUIRE(lmlab::nn::thin_product_applies(x, w, b));
      const at::Tensor expected = at::linear(x.to(at::kDouble), w.to(at::kDouble), b.to(at::kDouble));
      const at::Tensor b_before = b.clone();
      for (const bool bias : {true, false}) {
        const at::Tensor y = lmlab::nn::linear(x, w, bias ? b : at::Tensor());
        REQUIRE(at::equal(b, b_before));  // the bias is read, never written
        const at::Tensor want = bias ? expected : expected - b.to(at::kDouble);
        REQUIRE(y.sizes() == want.sizes());
        REQUIRE(y.scalar_type() == at::kFloat);
        REQUIRE(at::allclose(y.to(at::kDouble), want, 1e-4, 1e-4));
      }
    }
  }
}

}  // namespace cpu_thin_products_tests
