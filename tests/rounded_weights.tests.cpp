// The weights a generation keeps (nn/rounded_weights.hpp): stacked projection weights are made
// once per scope, renewed when a part changes in place or is replaced, and computed afresh
// outside a scope; the attention module's stacked q, k, v product gives the three products'
// numbers.
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "lmlab/kv_cache.hpp"
#include "lmlab/nn/attention.hpp"
#include "nn/rounded_weights.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace rounded_weights_tests {

TEST_CASE("rounded_weights: a stack of weights is made once per scope and renewed when a part changes",
          "[rounded_weights]") {
  at::manual_seed(53);
  at::Tensor q = at::randn({4, 3}), k = at::randn({2, 3}), v = at::randn({2, 3});
  const at::Tensor outside = lmlab::nn::stacked_weight({q, k, v});
  CHECK(at::equal(outside, at::cat({q, k, v}, 0)));
  CHECK_FALSE(outside.is_same(lmlab::nn::stacked_weight({q, k, v})));  // no scope: made at each call

  lmlab::nn::RoundedWeightScope scope;
  const at::Tensor first = lmlab::nn::stacked_weight({q, k, v});
  CHECK(first.sizes() == at::IntArrayRef({8, 3}));
  CHECK(lmlab::nn::stacked_weight({q, k, v}).is_same(first));  // kept
  k.mul_(2.0);                                                 // changed in place: its version moves on
  const at::Tensor renewed = lmlab::nn::stacked_weight({q, k, v});
  CHECK_FALSE(renewed.is_same(first));
  CHECK(at::equal(renewed, at::cat({q, k, v}, 0)));
  const at::Tensor other_v = at::randn({2, 3});  // another tensor in a part's place
  CHECK(at::equal(lmlab::nn::stacked_weight({q, k, other_v}), at::cat({q, k, other_v}, 0)));
}

TEST_CASE("rounded_weights: a generation's stacked q, k, v product gives the three products' numbers",
          "[rounded_weights]") {
  at::manual_seed(59);
  const bool bias = GENERATE(false, true);
  CAPTURE(bias);
  lmlab::nn::MultiHeadAttention attention(16, 4, 2, bias, 0.0, false);  // grouped: q wider than k, v
  attention->eval();
  const at::Tensor prompt = at::randn({3, 5, 16}), step = at::randn({3, 1, 16});
  const auto decode = [&](bool in_scope) {
    c10::InferenceMode inference;
    std::vector<at::Tensor> outputs;
    lmlab::LayerKv cache;
    if (in_scope) {
      lmlab::nn::RoundedWeightScope scope;
      outputs.push_back(attention->forward(prompt, {}, {}, &cache));
      outputs.push_back(attention->forward(step, {}, {}, &cache));
      // The forward made the stack under inference mode: asked for it now, outside that mode, the
      // scope hands back the same stack (a new one made here would be a normal tensor).
      c10::InferenceMode normal(false);
      const at::Tensor used = lmlab::nn::stacked_weight({attention->query->weight, attention->key->weight,
                                                          attention->value->weight});
      CHECK(used.is_inference());
      CHECK(used.sizes() == at::IntArrayRef({32, 16}));
    } else {
      outputs.push_back(attention->forward(prompt, {}, {}, &cache));
      outputs.push_back(attention->forward(step, {}, {}, &cache));
    }
    return outputs;
  };
  const auto stacked = decode(true), separate = decode(false);
  // Each output column is the same dot product over the same inputs, whichever product holds it.
  CHECK(at::allclose(stacked[0], separate[0], 1e-6, 1e-6));
  CHECK(at::allclose(stacked[1], separate[1], 1e-6, 1e-6));
  // And the inputs matter (the check can fail): another step gives another output.
  CHECK_FALSE(at::allclose(stacked[1], decode(true)[0].narrow(1, 0, 1), 1e-3, 1e-3));
}

TEST_CASE("rounded_weights: a stack made under inference mode is rounded and converted once per scope",
          "[rounded_weights]") {
  at::manual_seed(61);
  const at::Tensor q = at::randn({4, 3}), k = at::randn({2, 3}), v = at::randn({2, 3});
  c10::InferenceMode inference;
  lmlab::nn::RoundedWeightScope scope;
  const at::Tensor stack = lmlab::nn::stacked_weight({q, k, v});
  REQUIRE(stack.is_inference());  // no version counter: the scope must not ask it for one
  const at::Tensor rounded = lmlab::nn::rounded_weight(stack);
  CHECK(lmlab::nn::rounded_weight(stack).is_same(rounded));
  CHECK(lmlab::nn::bf16_weight(stack).scalar_type() == at::kBFloat16);
  CHECK(at::equal(rounded, at::cat({q, k, v}, 0).to(at::kBFloat16).to(at::kFloat)));
}

}  // namespace rounded_weights_tests
