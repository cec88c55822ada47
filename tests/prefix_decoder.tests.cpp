// The prefix_decoder plugin: a causal decoder whose prefix (per example) is bidirectional.
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"
#include "lmlab/kv_cache.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace prefix_decoder_tests {

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
  // A prefix as long as the input makes it bidirectional everywhere: the last token reaches
  // every position.
  with_prefix.prefix_lengths = at::full({3}, 9, at::kLong);
  const at::Tensor before = prefix->forward(with_prefix).logits;  // (3, 9, V)
  with_prefix.tokens = tokens.clone();
  with_prefix.tokens.select(1, 8).copy_((tokens.select(1, 8) + 1).remainder(40));
  const at::Tensor after = prefix->forward(with_prefix).logits;
  for (std::int64_t i = 0; i < 9; ++i) CHECK((before.select(1, i) - after.select(1, i)).abs().max().item<double>() > 1e-5);
}

TEST_CASE("prefix_decoder: prefix lengths are checked", "[prefix_decoder]") {
  const auto model = make_model("prefix_decoder", tiny_options());
  lmlab::ModelInput in{at::zeros({2, 5}, at::kLong)};
  in.prefix_lengths = at::full({3}, 2, at::kLong);
  CHECK_THROWS_WITH(model->forward(in), Catch::Matchers::Contains("prefix_lengths as (B) = (2), got shape 3"));
  // The cache's keys never saw a later pass, so a prefix may not reach past them.
  lmlab::KvCache cache;
  in.prefix_lengths = at::full({2}, 5, at::kLong);
  in.cache = &cache;
  model->forward(in);
  lmlab::ModelInput more{at::zeros({2, 2}, at::kLong)};
  more.cache = &cache;
  more.prefix_lengths = at::full({2}, 6, at::kLong);
  CHECK_THROWS_WITH(model->forward(more), Catch::Matchers::Contains("a prefix of 6 columns reaches past the 5 cached"));
  CHECK(cache.length() == 5);  // refused before any change
  more.prefix_lengths = at::full({2}, 5, at::kLong);
  CHECK(model->forward(more).logits.size(1) == 2);
  CHECK(cache.length() == 7);
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

}  // namespace prefix_decoder_tests
