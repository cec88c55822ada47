// nn/onednn_linear: lmlab::nn::linear's float32 products on oneDNN's sgemm give at::linear's
// values and gradients (to float32's rounding of a differently ordered sum), with and without a
// bias, for 2-D and 3-D inputs, with and without gradients recorded; autocast and other dtypes
// keep LibTorch's path. Skipped where the build has no oneDNN.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>

#include "lmlab/nn/linear.hpp"
#include "nn/cpu_float32_products.hpp"
#include "nn/cpu_onednn.hpp"
#include "training/runtime.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace onednn_linear_tests {

using lmlab::nn::CpuFloat32Products;

namespace {

struct Float32Scope {
  CpuFloat32Products before = lmlab::nn::cpu_float32_products();
  explicit Float32Scope(CpuFloat32Products p) { lmlab::nn::set_cpu_float32_products(p); }
  ~Float32Scope() { lmlab::nn::set_cpu_float32_products(before); }
};

struct Grads {
  at::Tensor y, dx, dw, db;
  std::string node;
};

Grads forward_backward(CpuFloat32Products products, const at::Tensor& x0, const at::Tensor& w0, const at::Tensor& b0,
                       const at::Tensor& upstream) {
  Float32Scope scope(products);
  const at::Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_();
  const at::Tensor b = b0.defined() ? b0.detach().requires_grad_() : at::Tensor();
  const at::Tensor y = lmlab::nn::linear(x, w, b);
  const std::string node = y.grad_fn() ? y.grad_fn()->name() : "";
  (y * upstream).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.defined() ? b.grad() : at::Tensor(), node};
}

bool close(const at::Tensor& a, const at::Tensor& b) { return at::allclose(a, b, 1e-4, 1e-4); }

}  // namespace

TEST_CASE("onednn_linear: values and gradients agree with at::linear", "[onednn_linear]") {
  if (!lmlab::nn::onednn_built()) {
    WARN("skipped: this build has no oneDNN");
    return;
  }
  at::manual_seed(31);
  for (const bool biased : {true, false}) {
    // 3-D input of 2 x 37 rows: neither side's blocking divides it evenly.
    const at::Tensor x = at::randn({2, 37, 48}), w = at::randn({29, 48}) * 0.2;
    const at::Tensor b = biased ? at::randn({29}) : at::Tensor();
    const at::Tensor upstream = at::randn({2, 37, 29});
    const Grads ours = forward_backward(CpuFloat32Products::onednn, x, w, b, upstream);
    const Grads theirs = forward_backward(CpuFloat32Products::libtorch, x, w, b, upstream);
    CHECK_THAT(ours.node, Catch::Contains("OnednnLinear"));  // the oneDNN path ran
    CHECK_THAT(theirs.node, !Catch::Contains("OnednnLinear"));
    CHECK(ours.y.sizes() == theirs.y.sizes());
    CHECK(close(ours.y, theirs.y));
    CHECK(close(ours.dx, theirs.dx));
    CHECK(close(ours.dw, theirs.dw));
    if (biased) CHECK(close(ours.db, theirs.db));
    // Against float64: the test would pass two equally wrong products otherwise.
    const at::Tensor exact = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t()) + (biased ? b.to(at::kDouble) : at::zeros({29}, at::kDouble));
    CHECK(at::allclose(ours.y.to(at::kDouble), exact, 1e-4, 1e-4));
    const at::Tensor dw_exact = at::matmul(upstream.to(at::kDouble).reshape({-1, 29}).t(), x.to(at::kDouble).reshape({-1, 48}));
    CHECK(at::allclose(ours.dw.to(at::kDouble), dw_exact, 1e-4, 1e-4));
  }
}

TEST_CASE("onednn_linear: without gradients, on a non-contiguous input, and only where it applies", "[onednn_linear]") {
  if (!lmlab::nn::onednn_built()) {
    WARN("skipped: this build has no oneDNN");
    return;
  }
  Float32Scope scope(CpuFloat32Products::onednn);
  at::manual_seed(32);
  const at::Tensor x = at::randn({40, 24}).t();  // (24, 40), a transposed view
  const at::Tensor w = at::randn({16, 40});
  {
    at::NoGradGuard no_grad;
    CHECK(close(lmlab::nn::onednn_linear(x, w, at::Tensor()), at::linear(x, w)));
    // linear() leaves products without gradients to LibTorch: oneDNN's first call compiles kernels.
    CHECK(at::equal(lmlab::nn::linear(x, w), at::linear(x, w)));
  }
  CHECK(lmlab::nn::onednn_linear_applies(x, w, at::Tensor()));
  CHECK_FALSE(lmlab::nn::onednn_linear_applies(x.to(at::kDouble), w.to(at::kDouble), at::Tensor()));
  CHECK_FALSE(lmlab::nn::onednn_linear_applies(at::empty({0, 40}), w, at::Tensor()));
  // Under autocast the product is autocast's (bf16 here), never the oneDNN float32 one.
  lmlab::AutocastScope autocast(c10::Device(c10::kCPU), true);
  const at::Tensor y = lmlab::nn::linear(x.contiguous().requires_grad_(), w);
  CHECK_THAT(std::string(y.grad_fn()->name()), !Catch::Contains("OnednnLinear"));
}

TEST_CASE("onednn_linear: float32_mm multiplies in every layout on both libraries", "[onednn_linear]") {
  at::manual_seed(33);
  const at::Tensor a = at::randn({19, 23}), b = at::randn({23, 17}), bt = b.t().contiguous(), at_ = a.t().contiguous();
  const at::Tensor expected = at::mm(a, b);
  for (const auto products : {CpuFloat32Products::libtorch, CpuFloat32Products::onednn}) {
    if (products == CpuFloat32Products::onednn && !lmlab::nn::onednn_built()) continue;
    Float32Scope scope(products);
    CHECK(close(lmlab::nn::float32_mm(a, false, b, false), expected));
    CHECK(close(lmlab::nn::float32_mm(a, false, bt, true), expected));
    CHECK(close(lmlab::nn::float32_mm(at_, true, b, false), expected));
    CHECK(close(lmlab::nn::float32_mm(at_, true, bt, true), expected));
  }
}

TEST_CASE("onednn_linear: a single row leaves the bias as it was", "[onednn_linear]") {
  if (!lmlab::nn::onednn_built()) {
    WARN("skipped: this build has no oneDNN");
    return;
  }
  Float32Scope scope(CpuFloat32Products::onednn);
  at::manual_seed(34);
  const at::Tensor w = at::randn({6, 5}), b = at::randn({6}), kept = b.clone();
  for (const std::int64_t rows : {1, 3}) {
    const at::Tensor x = at::randn({1, rows, 5});
    {
      at::NoGradGuard no_grad;
      CHECK(close(lmlab::nn::onednn_linear(x, w, b), at::linear(x, w, b)));
    }
    const at::Tensor bg = b.detach().requires_grad_();
    CHECK(close(lmlab::nn::linear(x, w, bg), at::linear(x, w, b)));
    CHECK(at::equal(b, kept));  // a generation's one-row steps once added their products into it
  }
}

TEST_CASE("onednn_linear: its output may be changed in place, and a backward may build a graph", "[onednn_linear]") {
  if (!lmlab::nn::onednn_built()) {
    WARN("skipped: this build has no oneDNN");
    return;
  }
  at::manual_seed(35);
  const at::Tensor x0 = at::randn({2, 7, 5}), w0 = at::randn({4, 5});
  const auto run = [&](CpuFloat32Products products) {
    Float32Scope scope(products);
    const at::Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_();
    at::Tensor y = lmlab::nn::linear(x, w);
    y.mul_(2.0);  // an in-place op on the output, as at::linear's allows
    // A gradient penalty: d/dw of |dL/dx|^2 needs the backward's own graph.
    const at::Tensor dx = torch::autograd::grad({(y * y).sum()}, {x}, {}, true, true)[0];
    const at::Tensor dw = torch::autograd::grad({dx.pow(2).sum()}, {w})[0];
    return std::make_pair(y.detach(), dw);
  };
  const auto ours = run(CpuFloat32Products::onednn), theirs = run(CpuFloat32Products::libtorch);
  CHECK(close(ours.first, theirs.first));
  CHECK(close(ours.second, theirs.second));
}

}  // namespace onednn_linear_tests
