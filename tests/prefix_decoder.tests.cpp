// The prefix_decoder plugin: a causal decoder whose prefix (per example) is bidirectional.
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

using lmlab::test::make_model;
using lmlab::test::tiny_options;

TEST_CASE("prefix_decoder: declares a prefix, bidirectional attention and generation", "[prefix_decoder]") {
  const auto caps = make_model("prefix_decoder", tiny_options())->capabilities();
  CHECK(caps.generates);
  CHECK(caps.bidirectional);
  CHECK(caps.prefix);
  CHECK_FALSE(caps.has_encoder);
}

TEST_CASE("prefix_decoder: without prefix lengths it is the causal decoder", "[prefix_decoder]") {
  // Same options and seed: the same weights, so only the mask could differ.
  const auto prefix = make_model("prefix_decoder", tiny_options(), 40, 16, 7);
  const auto causal = make_model("causal_decoder", tiny_options(), 40, 16, 7);
  const at::Tensor tokens = at::randint(40, {3, 9}, at::kLong);
  CHECK(at::allclose(prefix->forward({tokens}).logits, causal->forward({tokens}).logits, 1e-6, 1e-6));
  lmlab::ModelInput with_prefix{tokens};
  with_prefix.prefix_lengths = at::zeros({3}, at::kLong);
  CHECK(at::allclose(prefix->forward(with_prefix).logits, causal->forward({tokens}).logits, 1e-6, 1e-6));
  // A prefix as long as the input makes it an encoder: bidirectional everywhere.
  with_prefix.prefix_lengths = at::full({3}, 9, at::kLong);
  const auto encoder = make_model("encoder_only", tiny_options(), 40, 16, 7);
  CHECK_FALSE(at::allclose(prefix->forward(with_prefix).logits, causal->forward({tokens}).logits, 1e-4, 1e-4));
}

TEST_CASE("prefix_decoder: the chatglm preset", "[prefix_decoder]") {
  const toml::table r = lmlab::test::resolve_model("prefix_decoder", toml::table{{"preset", "chatglm"}});
  CHECK(r["positions"].value<std::string>() == "rope");
  CHECK(r["norm_position"].value<std::string>() == "pre");
  CHECK(r["tie_embeddings"].value<bool>() == false);
  const auto model = make_model("prefix_decoder", toml::table{{"preset", "chatglm"}, {"d_model", 32}, {"n_heads", 4}});
  lmlab::test::ParameterShape s;
  s.vocab = 40;
  s.d_model = 32;
  s.layers = 4;
  s.d_ff = 128;
  s.tied = false;
  s.learned_positions = false;
  CHECK(lmlab::test::parameter_count(*model) == lmlab::test::expected_single_stack_parameters(s, false));
}
