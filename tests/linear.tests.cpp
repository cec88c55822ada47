// lmlab::nn::linear: the plain product outside bf16 autocast, and under CPU bf16 autocast with
// float32 kernels the numbers autocast's bf16 kernels give: bf16 outputs and gradients that
// agree with the bf16 kernels' to bf16's rounding, and exactly with float64 products of the
// bf16-rounded operands rounded once.
#include <string>

#include <ATen/ATen.h>

#include "lmlab/nn/linear.hpp"
#include "nn/cpu_bf16_products.hpp"
#include "nn/rounded_weights.hpp"
#include "training/runtime.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace linear_tests {

using lmlab::nn::CpuBf16Products;

namespace {

// Restores the process's choices when a test ends.
struct ProductsScope {
  CpuBf16Products before = lmlab::nn::cpu_bf16_products();
  CpuBf16Products decoding_before = lmlab::nn::cpu_bf16_decoding_products();
  explicit ProductsScope(CpuBf16Products p, CpuBf16Products decoding = CpuBf16Products::float32_kernels) {
    lmlab::nn::set_cpu_bf16_products(p);
    lmlab::nn::set_cpu_bf16_decoding_products(decoding);
  }
  ~ProductsScope() {
    lmlab::nn::set_cpu_bf16_products(before);
    lmlab::nn::set_cpu_bf16_decoding_products(decoding_before);
  }
};

struct Result {
  at::Tensor y, dx, dw, db;
  std::string grad_fn;  // the autograd node that made y
};

Result run(const at::Tensor& x0, const at::Tensor& w0, const at::Tensor& b0, const at::Tensor& upstream, bool bf16) {
  const at::Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_(), b = b0.detach().requires_grad_();
  at::Tensor y;
  {
    lmlab::AutocastScope autocast(c10::Device(c10::kCPU), bf16);
    y = lmlab::nn::linear(x, w, b);
  }
  const std::string node = y.grad_fn() ? y.grad_fn()->name() : "";
  (y.to(at::kDouble) * upstream).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.grad(), node};
}

}  // namespace

TEST_CASE("linear: outside autocast it is x W^T + b", "[linear]") {
  ProductsScope scope(CpuBf16Products::float32_kernels);
  at::manual_seed(21);
  const at::Tensor x = at::randn({2, 3, 5}), w = at::randn({4, 5}), b = at::randn({4});
  CHECK(at::allclose(lmlab::nn::linear(x, w, b), at::matmul(x, w.t()) + b, 1e-5, 1e-6));
  CHECK(at::allclose(lmlab::nn::linear(x, w), at::matmul(x, w.t()), 1e-5, 1e-6));
}

TEST_CASE("linear: bf16 on float32 kernels gives autocast's bf16 numbers", "[linear]") {
  at::manual_seed(22);
  const at::Tensor x = at::randn({4, 33, 64}), w = at::randn({48, 64}) * 0.1, b = at::randn({48});
  const at::Tensor upstream = at::randn({4, 33, 48}, at::kDouble);
  Result native, emulated;
  {
    ProductsScope scope(CpuBf16Products::bf16_kernels);
    native = run(x, w, b, upstream, true);
  }
  {
    ProductsScope scope(CpuBf16Products::float32_kernels);
    emulated = run(x, w, b, upstream, true);
  }
  CHECK_THAT(emulated.grad_fn, Catch::Contains("Bf16ProductOnFloat32"));  // the float32 path ran
  CHECK_THAT(native.grad_fn, !Catch::Contains("Bf16ProductOnFloat32"));
  CHECK(emulated.y.scalar_type() == at::kBFloat16);
  CHECK(native.y.scalar_type() == at::kBFloat16);
  CHECK(emulated.dx.scalar_type() == at::kFloat);  // the input's dtype, as autocast's cast gives it back
  // Both round a float32-accumulated sum of exact products to bf16: at most a unit of bf16's
  // last place apart where the two sums' orders round differently.
  CHECK(at::allclose(emulated.y.to(at::kFloat), native.y.to(at::kFloat), 1e-2, 1e-2));
  CHECK(at::allclose(emulated.dx, native.dx, 1e-2, 1e-2));
  CHECK(at::allclose(emulated.dw, native.dw, 1e-2, 1e-2));
  CHECK(at::allclose(emulated.db, native.db, 1e-2, 1e-2));
  // Against the products of the rounded operands in float64, rounded to bf16 once.
  const at::Tensor xr = x.to(at::kBFloat16).to(at::kDouble), wr = w.to(at::kBFloat16).to(at::kDouble);
  const at::Tensor exact = (at::matmul(xr, wr.t()) + b.to(at::kBFloat16).to(at::kDouble)).to(at::kBFloat16);
  const double differ = (emulated.y != exact).to(at::kDouble).mean().item<double>();
  CHECK(differ < 0.02);  // float32's sums round to the same bf16 value but for a few ties
}

TEST_CASE("linear: with bf16 kernels chosen, autocast's own product runs", "[linear]") {
  ProductsScope scope(CpuBf16Products::bf16_kernels);
  const at::Tensor x = at::randn({3, 8}), w = at::randn({2, 8});
  lmlab::AutocastScope autocast(c10::Device(c10::kCPU), true);
  const at::Tensor y = lmlab::nn::linear(x, w);
  CHECK(y.scalar_type() == at::kBFloat16);
  CHECK(at::equal(y, at::linear(x, w)));
}

}  // namespace linear_tests

namespace linear_tests {

TEST_CASE("linear: float64 stays float64, as autocast leaves it", "[linear]") {
  ProductsScope scope(CpuBf16Products::float32_kernels);
  const at::Tensor x = at::randn({3, 4}, at::kDouble), w = at::randn({2, 4}, at::kDouble);
  lmlab::AutocastScope autocast(c10::Device(c10::kCPU), true);
  CHECK(lmlab::nn::linear(x, w).scalar_type() == at::kDouble);
}

}  // namespace linear_tests

namespace linear_tests {

TEST_CASE("linear: without gradients, bf16 on float32 kernels gives the same numbers, weights rounded once per scope",
          "[linear]") {
  ProductsScope scope(CpuBf16Products::float32_kernels);
  at::manual_seed(23);
  const at::Tensor x = at::randn({40, 64}), b = at::randn({48});
  at::Tensor w = at::randn({48, 64}) * 0.1;
  const auto round = [](const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kFloat); };
  const at::Tensor doubled_expected = round(x).matmul(round(w * 2.0).t()).to(at::kBFloat16);  // (40, 48), no autocast
  lmlab::AutocastScope autocast(c10::Device(c10::kCPU), true);
  const at::Tensor with_grad = lmlab::nn::linear(x, w.detach().requires_grad_(), b).detach();  // (40, 48) bf16
  at::NoGradGuard no_grad;
  const at::Tensor y = lmlab::nn::linear(x, w, b);  // (40, 48) bf16, no autograd node
  CHECK(y.scalar_type() == at::kBFloat16);
  CHECK(at::equal(y, with_grad));  // the same float32 product of the same rounded operands
  // A few rows (a decoding step) through the thin-product kernel: the same up to the order of the
  // float32 sums, so at most one bf16 rounding step apart.
  const at::Tensor few = lmlab::nn::linear(x.narrow(0, 0, 4), w, b);  // (4, 48)
  CHECK(at::allclose(few.to(at::kFloat), with_grad.narrow(0, 0, 4).to(at::kFloat), 1e-2, 1e-2));
  {
    lmlab::nn::RoundedWeightScope cached;
    const at::Tensor first = lmlab::nn::linear(x, w, b);
    CHECK(at::equal(first, y));
    // A weight changed in place (its version moves on) is rounded afresh, not served stale.
    w.mul_(2.0);
    const at::Tensor doubled = lmlab::nn::linear(x, w);
    CHECK(at::equal(doubled, doubled_expected));
    CHECK_FALSE(at::equal(doubled, lmlab::nn::linear(x, w * 0.5)));
  }
}

TEST_CASE("linear: a decoding step's product runs on bf16 kernels with the scope's bf16 weights", "[linear]") {
  ProductsScope scope(CpuBf16Products::float32_kernels, CpuBf16Products::bf16_kernels);
  at::manual_seed(29);
  const at::Tensor x = at::randn({40, 64}), b = at::randn({48});
  at::Tensor w = at::randn({48, 64}) * 0.1;
  const auto bf16 = [](const at::Tensor& t) { return t.to(at::kBFloat16); };
  const at::Tensor step = x.narrow(0, 0, 4);                                // (4, 64): four sequences' token
  const at::Tensor expected = at::linear(bf16(step), bf16(w), bf16(b));      // (4, 48) bf16 kernels, no autocast
  lmlab::AutocastScope autocast(c10::Device(c10::kCPU), true);
  at::NoGradGuard no_grad;
  const at::Tensor outside = lmlab::nn::linear(step, w, b);  // (4, 48) no scope: float32 kernels
  lmlab::nn::RoundedWeightScope cached;
  const at::Tensor inside = lmlab::nn::linear(step, w, b);   // (4, 48)
  CHECK(inside.scalar_type() == at::kBFloat16);
  CHECK(at::equal(inside, expected));
  // The same rounded operands either way: the kernels differ only in the order of their sums.
  CHECK(at::allclose(inside.to(at::kFloat), outside.to(at::kFloat), 1e-2, 1e-2));
  // One row (a matrix-vector product) stays on the float32 path, split across the threads.
  const at::Tensor one = x.narrow(0, 0, 1);  // (1, 64)
  CHECK(at::equal(lmlab::nn::linear(one, w, b), [&] {
    lmlab::nn::set_cpu_bf16_decoding_products(CpuBf16Products::float32_kernels);
    const at::Tensor y = lmlab::nn::linear(one, w, b);
    lmlab::nn::set_cpu_bf16_decoding_products(CpuBf16Products::bf16_kernels);
    return y;
  }()));
  // A product of many rows (a prompt's forward) stays on the float32 kernels.
  CHECK(at::equal(lmlab::nn::linear(x, w, b), [&] {
    lmlab::nn::set_cpu_bf16_decoding_products(CpuBf16Products::float32_kernels);
    return lmlab::nn::linear(x, w, b);
  }()));
  lmlab::nn::set_cpu_bf16_decoding_products(CpuBf16Products::bf16_kernels);
  // A weight changed in place is converted afresh.
  w.mul_(2.0);
  CHECK(at::equal(lmlab::nn::linear(step, w, b), at::linear(bf16(step), bf16(w), bf16(b))));
}

}  // namespace linear_tests
