// The encoder_decoder plugin: two stacks joined by cross-attention, its options, presets and
// accounting (the T5 paper's parameters-versus-cost argument).
#include <cstdint>
#include <set>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"
#include "lmlab/error.hpp"
#include "lmlab/kv_cache.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace encoder_decoder_tests {

using Catch::Matchers::Contains;
using lmlab::test::make_model;
using lmlab::test::ParameterShape;
using lmlab::test::tiny_options;

namespace {

toml::table tiny_with(const char* key, auto value) {
  toml::table t = tiny_options();
  t.insert_or_assign(key, value);
  return t;
}

ParameterShape tiny_shape() {
  ParameterShape s;
  s.vocab = 40;
  s.context = 16;
  s.d_model = 16;
  s.heads = 4;
  s.kv_heads = 4;
  s.d_ff = 64;
  return s;
}

lmlab::ModelInput pair(std::int64_t batch, std::int64_t source, std::int64_t target) {
  lmlab::ModelInput in;
  in.encoder_tokens = at::randint(40, {batch, source}, at::kLong);
  in.tokens = at::randint(40, {batch, target}, at::kLong);
  return in;
}

}  // namespace

TEST_CASE("encoder_decoder: capabilities and outputs", "[encoder_decoder]") {
  const auto model = make_model("encoder_decoder", tiny_options());
  CHECK(model->capabilities().generates);
  CHECK(model->capabilities().has_encoder);
  lmlab::ModelInput in = pair(3, 7, 5);
  in.return_hidden = true;
  in.return_layers = true;
  const lmlab::ModelOutput out = model->forward(in);
  CHECK(out.logits.sizes() == at::IntArrayRef{3, 5, 40});
  CHECK(out.hidden.sizes() == at::IntArrayRef{3, 5, 16});
  REQUIRE(out.layers.size() == 4);  // 2 encoder blocks, then 2 decoder blocks
  CHECK(out.layers[0].sizes() == at::IntArrayRef{3, 7, 16});
  CHECK(out.layers[3].sizes() == at::IntArrayRef{3, 5, 16});
}

TEST_CASE("encoder_decoder: refuses inputs it cannot pair", "[encoder_decoder]") {
  const auto model = make_model("encoder_decoder", tiny_options());
  CHECK_THROWS_WITH(model->forward({at::zeros({2, 3}, at::kLong)}), Contains("encoder_tokens"));
  lmlab::ModelInput mismatched = pair(2, 4, 4);
  mismatched.tokens = at::zeros({3, 4}, at::kLong);
  CHECK_THROWS_WITH(model->forward(mismatched), Contains("different batch sizes"));
  CHECK_THROWS_WITH(model->forward(pair(1, 17, 2)), Contains("17 tokens for the encoder"));
}

TEST_CASE("encoder_decoder: layer counts, shared and tied embeddings", "[encoder_decoder]") {
  toml::table options = tiny_options();
  options.insert_or_assign("n_encoder_layers", 3);
  options.insert_or_assign("n_decoder_layers", 1);
  const auto model = make_model("encoder_decoder", options);
  ParameterShape s = tiny_shape();
  CHECK(lmlab::test::parameter_count(*model) == lmlab::test::expected_encoder_decoder_parameters(s, 3, 1, true));
  const auto named = model->named_parameters();
  CHECK(named.contains("encoder.2.ffn.fc.weight"));
  CHECK_FALSE(named.contains("decoder.1.ffn.fc.weight"));
  CHECK(named.contains("decoder.0.cross_attention.query.weight"));
  CHECK_FALSE(named.contains("encoder.0.cross_attention.query.weight"));
  // One token table for both stacks, which is also the output head.
  CHECK(named.contains("encoder_embeddings.tokens.weight"));
  CHECK_FALSE(named.contains("decoder_embeddings.tokens.weight"));

  const auto unshared = make_model("encoder_decoder", tiny_with("share_embeddings", false));
  CHECK(unshared->named_parameters().contains("decoder_embeddings.tokens.weight"));
  CHECK(lmlab::test::parameter_count(*unshared) == lmlab::test::expected_encoder_decoder_parameters(s, 2, 2, false));
  CHECK(unshared->accounting().embedding_parameters == 2 * 40 * 16 + 2 * 16 * 16);

  toml::table variant = tiny_options();
  variant.insert_or_assign("preset", "t5");  // rmsnorm, relu, relative positions, no bias
  variant.insert_or_assign("tie_embeddings", false);
  variant.insert_or_assign("n_kv_heads", 1);
  s.rmsnorm = true;
  s.bias = false;
  s.learned_positions = false;
  s.tied = false;
  s.kv_heads = 1;
  s.relative_buckets = 32;
  CHECK(lmlab::test::parameter_count(*make_model("encoder_decoder", variant)) ==
        lmlab::test::expected_encoder_decoder_parameters(s, 2, 2, true));
}

TEST_CASE("encoder_decoder: the presets", "[encoder_decoder]") {
  const toml::table t5 = lmlab::test::resolve_model("encoder_decoder", toml::table{{"preset", "t5"}});
  CHECK(t5["norm"].value<std::string>() == "rmsnorm");
  CHECK(t5["activation"].value<std::string>() == "relu");
  CHECK(t5["bias"].value<bool>() == false);
  CHECK(t5["positions"].value<std::string>() == "relative");
  const toml::table transformer = lmlab::test::resolve_model("encoder_decoder", toml::table{{"preset", "transformer"}});
  CHECK(transformer["norm_position"].value<std::string>() == "post");
  CHECK(transformer["positions"].value<std::string>() == "sinusoidal");
  CHECK(transformer["init"].value<std::string>() == "xavier");
  CHECK(transformer["scale_embeddings"].value<bool>() == true);
  const toml::table bart = lmlab::test::resolve_model("encoder_decoder", toml::table{{"preset", "bart"}});
  CHECK(bart["activation"].value<std::string>() == "gelu");
  CHECK(bart["positions"].value<std::string>() == "learned");
  // The 2017 base model: 6 + 6 layers of width 512, a shared 37000-token vocabulary: 63M.
  const auto base = make_model(
      "encoder_decoder", toml::table{{"preset", "transformer"}, {"d_model", 512}, {"n_layers", 6}, {"n_heads", 8}},
      37000, 512);
  CHECK(lmlab::test::parameter_count(*base) == 63082496);
}

TEST_CASE("encoder_decoder: twice the parameters of a decoder-only model at about its cost per token",
          "[encoder_decoder]") {
  // T5 section 3.2.2: L + L layers on n input and n target tokens against L layers on the 2n
  // tokens of their concatenation.
  const toml::table options{{"d_model", 64}, {"n_layers", 4}, {"n_heads", 4}};
  const auto encoder_decoder = make_model("encoder_decoder", options, 40, 32);
  const auto decoder = make_model("causal_decoder", options, 40, 64);
  const lmlab::Accounting a = encoder_decoder->accounting(), b = decoder->accounting();
  const double ratio = static_cast<double>(a.parameters - a.embedding_parameters) /
                       static_cast<double>(b.parameters - b.embedding_parameters);
  CHECK(ratio > 2.0);  // the decoder's cross-attention comes on top
  CHECK(ratio < 2.5);
  CHECK(a.flops_per_token / b.flops_per_token == Approx(1.0).margin(0.2));
}

TEST_CASE("encoder_decoder: share_layers reads one stack of weights twice (T5's shared variant)", "[encoder_decoder]") {
  // T5 Table 2: "Enc-dec, shared" has P parameters (a decoder-only model's) at the cost M of L + L layers.
  const toml::table options{{"d_model", 64}, {"n_layers", 4}, {"n_heads", 4}, {"share_layers", true}};
  const auto shared = make_model("encoder_decoder", options, 40, 32);
  const auto decoder = make_model("causal_decoder", toml::table{{"d_model", 64}, {"n_layers", 4}, {"n_heads", 4}}, 40, 64);
  const auto full = make_model("encoder_decoder", toml::table{{"d_model", 64}, {"n_layers", 4}, {"n_heads", 4}}, 40, 32);
  const lmlab::Accounting a = shared->accounting(), b = decoder->accounting(), c = full->accounting();
  // Each decoder block adds only its cross-attention and that branch's norm, 4 (C x C + C) + 2C,
  // and the second stack its final norm, 2C.
  const std::int64_t cross = 4 * (64 * 64 + 64) + 2 * 64;
  CHECK(a.parameters - a.embedding_parameters == b.parameters - b.embedding_parameters + 4 * cross + 2 * 64);
  CHECK(a.flops_per_token == c.flops_per_token);
  // Each shared tensor is listed once, under the encoder: a global-norm clip counts it once.
  const auto named = shared->named_parameters(/*recurse=*/true);
  CHECK(named.contains("encoder.2.ffn.fc.weight"));
  CHECK_FALSE(named.contains("decoder.2.ffn.fc.weight"));
  CHECK_FALSE(named.contains("decoder.0.attention.query.weight"));
  CHECK(named.contains("decoder.0.cross_attention.query.weight"));
  std::set<const void*> distinct;
  for (const auto& p : shared->parameters()) distinct.insert(p.data_ptr());
  CHECK(distinct.size() == shared->parameters().size());
  // The decoder reads the encoder's weights. After a first step the cache holds the encoder's
  // keys and values, so a later step's output depends on the shared weights only through the
  // decoder's own use of them: change one between the steps and that step's logits move.
  torch::NoGradGuard no_grad;
  const auto second_step = [&](bool change) {
    lmlab::KvCache cache;
    lmlab::ModelInput first = pair(2, 5, 1);
    first.encoder_tokens = at::arange(10, at::kLong).reshape({2, 5});
    first.tokens = at::ones({2, 1}, at::kLong);
    first.cache = &cache;
    shared->forward(first);
    const at::Tensor w = named["encoder.3.ffn.proj.weight"];
    const at::Tensor saved = w.clone();
    if (change) w.add_(0.5);
    lmlab::ModelInput step;
    step.tokens = at::full({2, 1}, 2, at::kLong);
    step.cache = &cache;
    const at::Tensor logits = shared->forward(step).logits;  // (2, 1, V)
    w.copy_(saved);
    return logits;
  };
  CHECK(at::allclose(second_step(false), second_step(false)));
  CHECK_FALSE(at::allclose(second_step(false), second_step(true)));

  toml::table uneven = options;
  uneven.insert_or_assign("n_decoder_layers", 2);
  CHECK_THROWS_WITH(make_model("encoder_decoder", uneven, 40, 32),
                    Catch::Contains("share_layers needs as many encoder as decoder blocks; got 4 and 2"));
}

TEST_CASE("encoder_decoder: the cache holds the encoder's keys and values after the first step",
          "[encoder_decoder]") {
  const auto model = make_model("encoder_decoder", tiny_options());
  lmlab::KvCache cache;
  lmlab::ModelInput first = pair(2, 6, 1);
  first.cache = &cache;
  model->forward(first);
  REQUIRE(cache.cross.size() == 2);
  CHECK(cache.cross[0].k.sizes() == at::IntArrayRef{2, 4, 6, 4});  // (B, H_kv, S, D)
  CHECK(cache.memory_mask.sizes() == at::IntArrayRef{2, 6});
  // Later steps need no encoder input at all.
  lmlab::ModelInput step;
  step.tokens = at::zeros({2, 1}, at::kLong);
  step.cache = &cache;
  CHECK(model->forward(step).logits.sizes() == at::IntArrayRef{2, 1, 40});
  CHECK(cache.length() == 2);
}

TEST_CASE("encoder_decoder: a decoder refill keeps the encoded input", "[encoder_decoder]") {
  const auto model = make_model("encoder_decoder", tiny_options());
  const lmlab::ModelInput in = pair(2, 6, 5);
  lmlab::KvCache cache;
  lmlab::ModelInput first = in;
  first.cache = &cache;
  model->forward(first);
  const at::Tensor encoder_keys = cache.cross[0].k;
  cache.clear_decoder();
  CHECK(cache.empty());
  CHECK(cache.has_memory());
  // The decoder's window from its third token, without the encoder's input: the cached
  // encoder keys serve, and the logits equal a full forward of that window.
  lmlab::ModelInput window;
  window.tokens = in.tokens.narrow(1, 2, 3);
  window.cache = &cache;
  const at::Tensor refilled = model->forward(window).logits;  // (2, 3, V)
  CHECK(cache.cross[0].k.data_ptr() == encoder_keys.data_ptr());
  lmlab::ModelInput full;
  full.tokens = in.tokens.narrow(1, 2, 3);
  full.encoder_tokens = in.encoder_tokens;
  CHECK(at::allclose(refilled, model->forward(full).logits, 1e-5, 1e-5));
}

}  // namespace encoder_decoder_tests
