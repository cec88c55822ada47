// Norm: LayerNorm centres and scales, RMSNorm only scales (x / rms(x) * weight), and neither
// holds a parameter the options did not ask for.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "lmlab/nn/norm.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace norm_tests {

using Catch::Contains;
using lmlab::nn::Norm;

namespace {

std::set<std::string> parameter_names(const Norm& norm) {
  std::set<std::string> out;
  for (const auto& item : norm->named_parameters()) out.insert(item.key());
  return out;
}

// The formulas written out, in double precision.
at::Tensor rms_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor xd = x.to(at::kDouble);
  const at::Tensor mean_square = (xd * xd).sum(-1, /*keepdim=*/true) / static_cast<double>(x.size(-1));
  return xd / at::sqrt(mean_square + eps) * weight.to(at::kDouble);
}

at::Tensor layernorm_reference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  const at::Tensor xd = x.to(at::kDouble);
  const double n = static_cast<double>(x.size(-1));
  const at::Tensor mean = xd.sum(-1, /*keepdim=*/true) / n;
  const at::Tensor variance = ((xd - mean) * (xd - mean)).sum(-1, /*keepdim=*/true) / n;  // biased, as LayerNorm
  at::Tensor out = (xd - mean) / at::sqrt(variance + eps) * weight.to(at::kDouble);
  if (bias.defined()) out = out + bias.to(at::kDouble);
  return out;
}

}  // namespace

TEST_CASE("norm: rmsnorm divides by the root mean square, at a hand-computed point", "[norm]") {
  Norm norm("rmsnorm", 4, /*bias=*/true, 1e-5);
  // mean(x^2) = (1 + 4 + 9 + 16) / 4 = 7.5, sqrt(7.5) = 2.738613.
  const at::Tensor x = at::tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 4});
  const at::Tensor expected = at::tensor({0.365148f, 0.730297f, 1.095445f, 1.460593f}).view({1, 4});
  CHECK(at::allclose(norm(x), expected, 1e-4, 1e-5));
}

TEST_CASE("norm: rmsnorm is x / sqrt(mean(x^2) + eps) * weight", "[norm]") {
  at::manual_seed(0);
  const double eps = 1e-2;  // large, so that leaving eps out or putting it outside the root shows
  Norm norm("rmsnorm", 8, /*bias=*/false, eps);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(at::randn({8}));
  }
  const at::Tensor x = at::randn({2, 3, 8}) * 0.3;
  CHECK(at::allclose(norm(x).to(at::kDouble), rms_reference(x, norm->weight, eps), 1e-5, 1e-6));
}

TEST_CASE("norm: layernorm centres, scales and shifts", "[norm]") {
  at::manual_seed(1);
  const double eps = 1e-2;
  Norm norm("layernorm", 8, /*bias=*/true, eps);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(at::randn({8}));
    norm->bias.copy_(at::randn({8}));
  }
  const at::Tensor x = at::randn({2, 3, 8}) * 0.3 + 1.0;
  CHECK(at::allclose(norm(x).to(at::kDouble), layernorm_reference(x, norm->weight, norm->bias, eps), 1e-5, 1e-6));

  // Without a bias there is no shift.
  Norm unbiased("layernorm", 8, /*bias=*/false, eps);
  {
    torch::NoGradGuard no_grad;
    unbiased->weight.copy_(norm->weight);
  }
  CHECK(at::allclose(unbiased(x).to(at::kDouble), layernorm_reference(x, norm->weight, at::Tensor(), eps), 1e-5, 1e-6));
}

TEST_CASE("norm: rmsnorm does not subtract the mean, layernorm does", "[norm]") {
  at::manual_seed(2);
  Norm rms("rmsnorm", 6, true, 1e-5);
  Norm layer("layernorm", 6, true, 1e-5);
  const at::Tensor x = at::randn({4, 6});
  const at::Tensor shifted = x + 5.0;
  CHECK(at::allclose(layer(x), layer(shifted), 1e-4, 1e-5));
  CHECK_FALSE(at::allclose(rms(x), rms(shifted), 1e-2, 1e-2));

  // A constant row: layernorm makes it 0, rmsnorm makes it its sign.
  const at::Tensor constant = at::full({1, 6}, -3.0f);
  CHECK(at::allclose(layer(constant), at::zeros({1, 6}), 1e-5, 1e-5));
  CHECK(at::allclose(rms(constant), at::full({1, 6}, -1.0f), 1e-4, 1e-5));
}

TEST_CASE("norm: only the parameters asked for", "[norm]") {
  // RMSNorm has no bias, whatever `bias` says.
  Norm rms_biased("rmsnorm", 4, /*bias=*/true, 1e-5);
  CHECK(rms_biased->rms());
  CHECK(parameter_names(rms_biased) == std::set<std::string>{"weight"});
  CHECK_FALSE(rms_biased->bias.defined());

  Norm layer_unbiased("layernorm", 4, /*bias=*/false, 1e-5);
  CHECK_FALSE(layer_unbiased->rms());
  CHECK(parameter_names(layer_unbiased) == std::set<std::string>{"weight"});
  CHECK_FALSE(layer_unbiased->bias.defined());

  Norm layer_biased("layernorm", 4, /*bias=*/true, 1e-5);
  CHECK(parameter_names(layer_biased) == std::set<std::string>{"weight", "bias"});
  // Fresh: scale 1, shift 0.
  CHECK(at::equal(layer_biased->weight, at::ones({4})));
  CHECK(at::equal(layer_biased->bias, at::zeros({4})));
}

TEST_CASE("norm: an unknown kind names the accepted ones", "[norm]") {
  CHECK_THROWS_WITH(Norm("batchnorm", 4, true, 1e-5), Contains("\"batchnorm\"") && Contains("layernorm, rmsnorm"));
  CHECK_THROWS_AS(Norm("RMSNorm", 4, true, 1e-5), std::invalid_argument);
}

TEST_CASE("norm: rmsnorm computes in float32 and rounds once to bf16", "[norm]") {
  at::manual_seed(3);
  Norm norm("rmsnorm", 8, false, 1e-5);
  norm->to(at::kBFloat16);
  const at::Tensor x = (at::randn({2, 8}) * 100.0).to(at::kBFloat16);
  const at::Tensor y = norm(x);
  CHECK(y.scalar_type() == at::kBFloat16);
  // Within bf16's precision of the exact value (8 bits of mantissa: relative 2^-8, twice for
  // the two roundings of the output and the product with the weight).
  CHECK(at::allclose(y.to(at::kDouble), rms_reference(x.to(at::kFloat), at::ones({8}), 1e-5), 1e-2, 1e-2));
}

// A float32 module (the usual case: weights stay float32 under bf16 autocast) must not promote
// a bf16 input's result to float32 when it multiplies by the weight.
TEST_CASE("norm: rmsnorm on bf16 input returns bf16 with float32 weights", "[norm]") {
  Norm norm("rmsnorm", 8, false, 1e-5);
  const at::Tensor x = at::randn({2, 8}).to(at::kBFloat16);
  CHECK(norm(x).scalar_type() == at::kBFloat16);
}

}  // namespace norm_tests
