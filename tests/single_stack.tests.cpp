// SingleStackModel used directly, with a family of its own: input checks, the context length it
// resolves, what forward returns on request (hidden states, each layer, the pooled first token),
// the mask its family asks for, and a cache only for families that generate.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"
#include "lmlab/capabilities.hpp"
#include "lmlab/kv_cache.hpp"
#include "lmlab/nn/single_stack.hpp"
#include "lmlab/nn/transformer_options.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace single_stack_tests {

using Catch::Contains;
using lmlab::ArchitectureContext;
using lmlab::ModelInput;
using lmlab::nn::MaskKind;
using lmlab::nn::SingleStackFamily;
using lmlab::nn::SingleStackModel;
using lmlab::nn::TransformerOptions;

namespace {

constexpr std::int64_t V = 20, C = 16, context = 8;

TransformerOptions tiny() {
  TransformerOptions o;
  o.d_model = C;
  o.n_layers = 2;
  o.n_heads = 4;
  o.init_std = 0.1;  // large enough that a changed token visibly moves what it reaches
  return o;
}

SingleStackFamily family(MaskKind mask, bool generates, bool pooler = false) {
  SingleStackFamily f;
  f.name = "toy";
  f.mask = mask;
  f.capabilities.generates = generates;
  f.capabilities.bidirectional = mask != MaskKind::causal;
  f.pooler = pooler;
  return f;
}

std::shared_ptr<SingleStackModel> make(const TransformerOptions& o, const SingleStackFamily& f) {
  at::manual_seed(0);
  auto model = std::make_shared<SingleStackModel>(o, ArchitectureContext{V, context}, f);
  model->eval();
  return model;
}

ModelInput input_of(const at::Tensor& tokens) {
  ModelInput in;
  in.tokens = tokens;
  return in;
}

at::Tensor tokens_of(std::int64_t batch, std::int64_t length) {
  at::manual_seed(1);
  return at::randint(V, {batch, length}, at::kLong);
}

at::Tensor layer_norm(const at::Tensor& x, double eps) {
  const at::Tensor mean = x.mean(-1, /*keepdim=*/true);
  return (x - mean) / at::sqrt((x - mean).pow(2).mean(-1, /*keepdim=*/true) + eps);
}

}  // namespace

TEST_CASE("single_stack: check_tokens wants (B, T) ids and a matching mask", "[single_stack]") {
  CHECK_NOTHROW(lmlab::nn::check_tokens("toy", "tokens", at::zeros({2, 3}, at::kLong), {}));
  CHECK_NOTHROW(lmlab::nn::check_tokens("toy", "tokens", at::zeros({2, 3}, at::kLong), at::ones({2, 3}, at::kBool)));
  CHECK_THROWS_WITH(lmlab::nn::check_tokens("toy", "tokens", at::zeros({5}, at::kLong), {}),
                    Contains("toy expects tokens as (B, T) token ids with T >= 1, got shape 5"));
  CHECK_THROWS_WITH(lmlab::nn::check_tokens("toy", "encoder_tokens", {}, {}), Contains("encoder_tokens") && Contains("got nothing"));
  CHECK_THROWS_WITH(lmlab::nn::check_tokens("toy", "tokens", at::zeros({2, 0}, at::kLong), {}), Contains("got shape 2x0"));
  CHECK_THROWS_WITH(lmlab::nn::check_tokens("toy", "tokens", at::zeros({2, 5}, at::kLong), at::ones({2, 4}, at::kBool)),
                    Contains("toy: the padding mask of tokens has shape 2x4, the tokens 2x5"));
}

TEST_CASE("single_stack: the context length is the options', else the host's", "[single_stack]") {
  TransformerOptions o = tiny();
  CHECK(lmlab::nn::resolve_context_length("toy", o, ArchitectureContext{V, 16}) == 16);
  o.context_length = 32;
  CHECK(lmlab::nn::resolve_context_length("toy", o, ArchitectureContext{V, 16}) == 32);
  CHECK(lmlab::nn::resolve_context_length("toy", o, ArchitectureContext{V, 0}) == 32);
  o.context_length = 0;
  CHECK_THROWS_WITH(lmlab::nn::resolve_context_length("toy", o, ArchitectureContext{V, 0}),
                    Contains("toy: context_length is 0") && Contains("no max_seq_len"));
  CHECK_THROWS_WITH(lmlab::nn::resolve_context_length("toy", o, ArchitectureContext{0, 16}),
                    Contains("toy needs a vocabulary size, got 0"));
  // The model takes it up.
  o.context_length = 12;
  CHECK(make(o, family(MaskKind::causal, true))->context_length() == 12);
}

TEST_CASE("single_stack: forward returns hidden states and layers only on request", "[single_stack]") {
  const auto model = make(tiny(), family(MaskKind::causal, true));
  const at::Tensor tokens = tokens_of(2, 5);
  const lmlab::ModelOutput plain = model->forward(input_of(tokens));
  CHECK(plain.logits.sizes() == at::IntArrayRef({2, 5, V}));
  CHECK_FALSE(plain.hidden.defined());
  CHECK(plain.layers.empty());
  CHECK_FALSE(plain.pooled.defined());

  ModelInput in = input_of(tokens);
  in.return_hidden = true;
  in.return_layers = true;
  const lmlab::ModelOutput out = model->forward(in);
  REQUIRE(out.hidden.defined());
  CHECK(out.hidden.sizes() == at::IntArrayRef({2, 5, C}));
  REQUIRE(out.layers.size() == 2u);
  for (const at::Tensor& layer : out.layers) CHECK(layer.sizes() == at::IntArrayRef({2, 5, C}));
  // Pre-norm: the hidden states are the last block's output through the final norm (fresh:
  // unit scale, zero shift), and the tied logits are their products with the token embeddings.
  CHECK(at::allclose(out.hidden, layer_norm(out.layers[1], 1e-5), 1e-4, 1e-5));
  CHECK(at::allclose(out.logits, at::matmul(out.hidden, model->embeddings->tokens->weight.t()), 1e-5, 1e-5));
  CHECK(at::allclose(out.logits, plain.logits));
  // Each layer is its block on the one before: layer 0 on the embeddings, learned positions 0..T-1.
  lmlab::nn::AttentionInputs causal;
  causal.is_causal = true;
  const at::Tensor embedded = model->embeddings(tokens, at::arange(5, at::kLong).expand({2, 5}));
  CHECK(at::allclose(out.layers[0], model->blocks[0]->forward(embedded, causal, nullptr), 1e-5, 1e-6));
  CHECK(at::allclose(out.layers[1], model->blocks[1]->forward(out.layers[0], causal, nullptr), 1e-5, 1e-6));
}

TEST_CASE("single_stack: the pooled output is tanh(Linear) of the first token's final state", "[single_stack]") {
  const auto model = make(tiny(), family(MaskKind::bidirectional, false, /*pooler=*/true));
  REQUIRE(model->pooler);
  ModelInput in = input_of(tokens_of(2, 5));
  in.return_hidden = true;
  const lmlab::ModelOutput out = model->forward(in);
  REQUIRE(out.pooled.defined());
  CHECK(out.pooled.sizes() == at::IntArrayRef({2, C}));
  const at::Tensor first = out.hidden.select(1, 0);
  const at::Tensor expected = at::tanh(at::matmul(first, model->pooler->weight.t()) + model->pooler->bias);
  CHECK(at::allclose(out.pooled, expected, 1e-5, 1e-6));
  // Without a pooler, nothing pooled.
  CHECK_FALSE(make(tiny(), family(MaskKind::bidirectional, false))->forward(input_of(tokens_of(2, 5))).pooled.defined());
}

TEST_CASE("single_stack: the family's mask decides which positions a token reaches", "[single_stack]") {
  const at::Tensor tokens = tokens_of(1, 6);
  const auto reached = [&](SingleStackModel& model, std::int64_t changed, const at::Tensor& prefix) {
    ModelInput in = input_of(tokens);
    in.prefix_lengths = prefix;
    const at::Tensor base = model.forward(in).logits;
    in.tokens = tokens.clone();
    in.tokens[0][changed] = (tokens[0][changed].item<std::int64_t>() + 1) % V;
    const at::Tensor moved = (model.forward(in).logits - base).abs().amax(-1)[0] > 1e-5;  // (T)
    return moved.to(at::kLong);
  };
  const auto expect = [](const std::vector<std::int64_t>& v) { return at::tensor(v, at::kLong); };
  const auto causal = make(tiny(), family(MaskKind::causal, true));
  CHECK(at::equal(reached(*causal, 2, {}), expect({0, 0, 1, 1, 1, 1})));
  const auto bidirectional = make(tiny(), family(MaskKind::bidirectional, false));
  CHECK(at::equal(reached(*bidirectional, 2, {}), expect({1, 1, 1, 1, 1, 1})));
  const auto prefix = make(tiny(), family(MaskKind::prefix, true));
  CHECK(at::equal(reached(*prefix, 2, at::tensor({3}, at::kLong)), expect({1, 1, 1, 1, 1, 1})));
  CHECK(at::equal(reached(*prefix, 3, at::tensor({3}, at::kLong)), expect({0, 0, 0, 1, 1, 1})));
}

TEST_CASE("single_stack: a family that does not generate refuses a cache", "[single_stack]") {
  const auto model = make(tiny(), family(MaskKind::bidirectional, false));
  lmlab::KvCache cache;
  ModelInput in = input_of(tokens_of(1, 3));
  in.cache = &cache;
  CHECK_THROWS_WITH(model->forward(in), Contains("toy does not generate: it has no key/value cache"));
  CHECK(cache.empty());
  CHECK(cache.self.empty());
}

TEST_CASE("single_stack: a generating family continues from its cache", "[single_stack]") {
  const auto model = make(tiny(), family(MaskKind::causal, true));
  const at::Tensor tokens = tokens_of(2, 5);
  const at::Tensor full = model->forward(input_of(tokens)).logits;
  lmlab::KvCache cache;
  ModelInput first = input_of(tokens.narrow(1, 0, 4));
  first.cache = &cache;
  const at::Tensor a = model->forward(first).logits;
  CHECK(cache.self.size() == 2u);
  CHECK(cache.length() == 4);
  ModelInput second = input_of(tokens.narrow(1, 4, 1));
  second.cache = &cache;
  const at::Tensor b = model->forward(second).logits;
  CHECK(cache.length() == 5);
  CHECK(at::allclose(at::cat({a, b}, 1), full, 1e-5, 1e-5));
}

TEST_CASE("single_stack: inputs longer than the context are refused, cached ones included", "[single_stack]") {
  const auto model = make(tiny(), family(MaskKind::causal, true));
  CHECK_THROWS_WITH(model->forward(input_of(tokens_of(1, 9))), Contains("toy: 9 tokens exceed the context length 8"));
  CHECK_THROWS_WITH(model->forward(input_of(at::zeros({4}, at::kLong))), Contains("(B, T)"));
  lmlab::KvCache cache;
  ModelInput in = input_of(tokens_of(1, 6));
  in.cache = &cache;
  model->forward(in);
  in.tokens = tokens_of(1, 3);
  CHECK_THROWS_WITH(model->forward(in), Contains("toy: 3 tokens after 6 cached exceed the context length 8"));
  in.tokens = tokens_of(1, 2);
  CHECK_NOTHROW(model->forward(in));
}

TEST_CASE("single_stack: capabilities, the untied head and the accounting", "[single_stack]") {
  const auto tied = make(tiny(), family(MaskKind::causal, true));
  CHECK(tied->capabilities().generates);
  CHECK_FALSE(tied->capabilities().bidirectional);
  CHECK_FALSE(tied->head);
  CHECK(tied->final_norm);
  // V = 20, C = 16, n = 8, 2 layers, F = 64, biases, layernorm, learned positions:
  // tokens 320 + positions 128 + 2 blocks x (2 norms x 32 + attention 4 x 256 + 4 x 16 +
  // MLP 16 x 64 + 64 + 64 x 16 + 16 = 3280) + final norm 32 = 7040.
  const lmlab::Accounting a = tied->accounting();
  CHECK(a.parameters == 7040);
  CHECK(a.embedding_parameters == 320 + 128);
  // Per block 2 x (1024 + 2048) + 4 x 8 x 16 = 6656; 2 blocks and the head 2 x 20 x 16.
  CHECK(a.flops_per_token == 2 * 6656.0 + 640.0);

  TransformerOptions o = tiny();
  o.tie_embeddings = false;
  o.norm_position = "post";
  const auto untied = make(o, family(MaskKind::bidirectional, false, /*pooler=*/true));
  CHECK(untied->capabilities().bidirectional);
  REQUIRE(untied->head);
  CHECK_FALSE(untied->final_norm);  // post-norm blocks end normalised
  ModelInput in = input_of(tokens_of(2, 4));
  in.return_hidden = true;
  const lmlab::ModelOutput out = untied->forward(in);
  CHECK(at::allclose(out.logits, at::matmul(out.hidden, untied->head->weight.t()), 1e-5, 1e-5));
  // No final norm (-32), a head (+320) and a pooler (+16 x 16 + 16).
  const lmlab::Accounting b = untied->accounting();
  CHECK(b.parameters == 7040 - 32 + 320 + 272);
  CHECK(b.embedding_parameters == 320 + 128 + 320);
  CHECK(b.flops_per_token == a.flops_per_token);
}

}  // namespace single_stack_tests
