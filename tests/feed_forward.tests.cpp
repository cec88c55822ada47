// FeedForward: proj(act(fc(x))) for each activation, and proj(act(gate) * up) for the gated
// ones, checked against the formulas written out from the layer's own weights.
#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/nn/feed_forward.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace feed_forward_tests {

using Catch::Contains;
using lmlab::nn::FeedForward;

namespace {

// x W^T + b, written out.
at::Tensor affine(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  at::Tensor out = at::matmul(x, weight.t());
  if (bias.defined()) out = out + bias;
  return out;
}

// The activations from their definitions, not from the ATen functions the layer calls.
at::Tensor by_hand(const std::string& activation, const at::Tensor& h) {
  if (activation == "gelu" || activation == "geglu") return 0.5 * h * (1.0 + at::erf(h / std::sqrt(2.0)));
  if (activation == "relu") return at::where(h > 0, h, at::zeros_like(h));
  if (activation == "sigmoid") return 1.0 / (1.0 + at::exp(-h));
  if (activation == "tanh") return (at::exp(2.0 * h) - 1.0) / (at::exp(2.0 * h) + 1.0);
  if (activation == "swiglu") return h / (1.0 + at::exp(-h));  // silu(h) = h * sigmoid(h)
  if (activation == "geglu_tanh") {  // T5 v1.1's gate: the tanh GELU
    return 0.5 * h * (1.0 + at::tanh(std::sqrt(2.0 / M_PI) * (h + 0.044715 * h * h * h)));
  }
  FAIL("no reference for " << activation);
  return {};
}

}  // namespace

TEST_CASE("feed_forward: the activations at hand-computed points", "[feed_forward]") {
  const at::Tensor x = at::tensor({-1.0f, 0.0f, 1.0f, 2.0f});
  CHECK(at::allclose(lmlab::nn::activate("relu", x), at::tensor({0.0f, 0.0f, 1.0f, 2.0f})));
  // Exact (erf) GELU: x * Phi(x); Phi(1) = 0.841345, Phi(2) = 0.977250.
  CHECK(at::allclose(lmlab::nn::activate("gelu", x), at::tensor({-0.158655f, 0.0f, 0.841345f, 1.954500f}), 1e-5, 1e-6));
  CHECK(at::allclose(lmlab::nn::activate("geglu", x), lmlab::nn::activate("gelu", x)));
  // silu(x) = x * sigmoid(x); sigmoid(1) = 0.731059, sigmoid(2) = 0.880797.
  CHECK(at::allclose(lmlab::nn::activate("swiglu", x), at::tensor({-0.268941f, 0.0f, 0.731059f, 1.761594f}), 1e-5, 1e-6));
  CHECK(at::allclose(lmlab::nn::activate("sigmoid", x), at::tensor({0.268941f, 0.5f, 0.731059f, 0.880797f}), 1e-5, 1e-6));
  CHECK(at::allclose(lmlab::nn::activate("tanh", x), at::tensor({-0.761594f, 0.0f, 0.761594f, 0.964028f}), 1e-5, 1e-6));
}

TEST_CASE("feed_forward: each plain activation is proj(act(fc(x)))", "[feed_forward]") {
  for (const std::string& activation : std::vector<std::string>{"gelu", "relu", "sigmoid", "tanh"}) {
    for (const bool bias : {true, false}) {
      DYNAMIC_SECTION(activation << (bias ? ", with bias" : ", without bias")) {
        at::manual_seed(0);
        FeedForward ff(4, 6, activation, bias);
        CHECK_FALSE(lmlab::nn::is_gated(activation));
        CHECK(ff->fc->weight.sizes() == at::IntArrayRef({6, 4}));
        CHECK(ff->proj->weight.sizes() == at::IntArrayRef({4, 6}));
        CHECK(ff->fc->bias.defined() == bias);
        CHECK(ff->proj->bias.defined() == bias);
        const at::Tensor x = at::randn({2, 3, 4});
        const at::Tensor expected =
            affine(by_hand(activation, affine(x, ff->fc->weight, ff->fc->bias)), ff->proj->weight, ff->proj->bias);
        CHECK(at::allclose(ff(x), expected, 1e-5, 1e-6));
      }
    }
  }
}

TEST_CASE("feed_forward: gated activations are proj(act(gate) * up), the gate first", "[feed_forward]") {
  for (const std::string& activation : std::vector<std::string>{"swiglu", "geglu", "geglu_tanh"}) {
    DYNAMIC_SECTION(activation) {
      at::manual_seed(1);
      FeedForward ff(4, 6, activation, true);
      CHECK(lmlab::nn::is_gated(activation));
      // One C -> 2F projection holds both halves.
      CHECK(ff->fc->weight.sizes() == at::IntArrayRef({12, 4}));
      CHECK(ff->proj->weight.sizes() == at::IntArrayRef({4, 6}));
      const at::Tensor x = at::randn({2, 3, 4});
      const at::Tensor h = affine(x, ff->fc->weight, ff->fc->bias);
      const at::Tensor gate = h.narrow(-1, 0, 6), up = h.narrow(-1, 6, 6);
      const at::Tensor expected = affine(by_hand(activation, gate) * up, ff->proj->weight, ff->proj->bias);
      CHECK(at::allclose(ff(x), expected, 1e-5, 1e-6));
      // The halves are not interchangeable: activating the other half gives something else.
      const at::Tensor swapped = affine(by_hand(activation, up) * gate, ff->proj->weight, ff->proj->bias);
      CHECK_FALSE(at::allclose(ff(x), swapped, 1e-3, 1e-3));
    }
  }
}

TEST_CASE("feed_forward: an unknown activation names the accepted ones", "[feed_forward]") {
  const auto accepted = Contains("gelu, gelu_tanh, relu, swiglu, geglu, geglu_tanh, sigmoid, tanh");
  CHECK_THROWS_WITH(FeedForward(4, 6, "swish", true), Contains("\"swish\"") && accepted);
  CHECK_THROWS_AS(FeedForward(4, 6, "GELU", true), std::invalid_argument);
  CHECK_THROWS_WITH(lmlab::nn::activate("softplus", at::zeros({1})), Contains("\"softplus\"") && accepted);
  CHECK_FALSE(lmlab::nn::is_gated("swish"));
}

}  // namespace feed_forward_tests
