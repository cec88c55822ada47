// The encoder_only plugin: BERT's bidirectional encoder, its pooled first token, and what it
// cannot do (generate).
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"
#include "lmlab/kv_cache.hpp"
#include "lmlab/nn/single_stack.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace encoder_only_tests {

using Catch::Matchers::Contains;
using lmlab::test::make_model;
using lmlab::test::tiny_options;

TEST_CASE("encoder_only: bidirectional, without generation", "[encoder_only]") {
  const auto model = make_model("encoder_only", tiny_options());
  CHECK(model->capabilities().bidirectional);
  CHECK_FALSE(model->capabilities().generates);
  lmlab::KvCache cache;
  lmlab::ModelInput in{at::zeros({1, 4}, at::kLong)};
  in.cache = &cache;
  CHECK_THROWS_WITH(model->forward(in), Contains("does not generate"));
}

TEST_CASE("encoder_only: the pooled output is tanh of a linear map of the first token's state", "[encoder_only]") {
  const auto model = make_model("encoder_only", tiny_options());
  const auto& stack = dynamic_cast<const lmlab::nn::SingleStackModel&>(*model);
  lmlab::ModelInput in{at::randint(40, {3, 7}, at::kLong)};
  in.return_hidden = true;
  const lmlab::ModelOutput out = model->forward(in);
  REQUIRE(out.pooled.defined());
  CHECK(out.pooled.sizes() == at::IntArrayRef{3, 16});
  const at::Tensor first = out.hidden.select(1, 0);  // (B, C)
  CHECK(at::allclose(out.pooled, at::tanh(at::linear(first, stack.pooler->weight, stack.pooler->bias)), 1e-6, 1e-6));
}

TEST_CASE("encoder_only: without positions, permuting the input permutes the output", "[encoder_only]") {
  toml::table options = tiny_options();
  options.insert_or_assign("positions", "none");
  const auto model = make_model("encoder_only", options);
  const at::Tensor tokens = at::randint(40, {1, 6}, at::kLong);
  const at::Tensor order = at::tensor({5, 2, 0, 4, 1, 3}, at::kLong);
  const at::Tensor a = model->forward({tokens}).logits.index_select(1, order);
  const at::Tensor b = model->forward({tokens.index_select(1, order)}).logits;
  CHECK(at::allclose(a, b, 1e-5, 1e-5));
  // With learned positions the same permutation changes what each token computes.
  const auto positional = make_model("encoder_only", tiny_options());
  CHECK_FALSE(at::allclose(positional->forward({tokens}).logits.index_select(1, order),
                           positional->forward({tokens.index_select(1, order)}).logits, 1e-4, 1e-4));
}

TEST_CASE("encoder_only: the bert preset is post-norm with a pooler, and its count is closed-form", "[encoder_only]") {
  const toml::table r = lmlab::test::resolve_model("encoder_only", toml::table{{"preset", "bert"}});
  CHECK(r["norm_position"].value<std::string>() == "post");
  CHECK(r["attention_dropout"].value<double>() == 0.1);
  // BERT-base at 30522 ids and 512 positions. The released model's 109,482,240 include two
  // token-type embeddings and an embedding LayerNorm (2 * 768 each), which this one leaves out.
  const auto model = make_model(
      "encoder_only", toml::table{{"preset", "bert"}, {"d_model", 768}, {"n_layers", 12}, {"n_heads", 12}}, 30522, 512);
  lmlab::test::ParameterShape s;
  s.vocab = 30522;
  s.context = 512;
  s.d_model = 768;
  s.layers = 12;
  s.heads = 12;
  s.kv_heads = 12;
  s.d_ff = 3072;
  s.pre_norm = false;
  CHECK(lmlab::test::parameter_count(*model) == lmlab::test::expected_single_stack_parameters(s, true));
  CHECK(lmlab::test::parameter_count(*model) == 109482240 - 2 * 768 - 2 * 768);
}

}  // namespace encoder_only_tests
