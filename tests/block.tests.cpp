// TransformerBlock: pre-norm normalises each branch's input and keeps a residual stream that
// the branches add to; post-norm normalises after each add; a decoder block with
// cross-attention reads the encoder output.
#include <set>
#include <string>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "lmlab/nn/attention.hpp"
#include "lmlab/nn/block.hpp"
#include "lmlab/nn/transformer_options.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace block_tests {

using Catch::Contains;
using lmlab::nn::AttentionInputs;
using lmlab::nn::TransformerBlock;
using lmlab::nn::TransformerOptions;

namespace {

TransformerOptions options(const std::string& norm_position) {
  TransformerOptions o;
  o.d_model = 16;
  o.n_heads = 4;
  o.n_layers = 1;
  o.norm_position = norm_position;
  return o;
}

AttentionInputs causal() {
  AttentionInputs in;
  in.is_causal = true;
  return in;
}

// The branches' last projections at zero: each branch then adds nothing.
void silence_branches(TransformerBlock& block) {
  torch::NoGradGuard no_grad;
  for (auto* linear : {block->attention->out.get(), block->ffn->proj.get()}) {
    linear->weight.zero_();
    linear->bias.zero_();
  }
}

// LayerNorm with unit scale and zero shift, written out.
at::Tensor layer_norm(const at::Tensor& x, double eps) {
  const at::Tensor mean = x.mean(-1, /*keepdim=*/true);
  const at::Tensor variance = (x - mean).pow(2).mean(-1, /*keepdim=*/true);
  return (x - mean) / at::sqrt(variance + eps);
}

std::set<std::string> child_names(const torch::nn::Module& m) {
  std::set<std::string> out;
  for (const auto& item : m.named_children()) out.insert(item.key());
  return out;
}

}  // namespace

TEST_CASE("block: with its branches silenced, a pre-norm block is the identity", "[block]") {
  at::manual_seed(0);
  TransformerBlock block(options("pre"), false);
  block->eval();
  silence_branches(block);
  const at::Tensor x = at::randn({2, 5, 16}) * 3.0 + 1.0;
  CHECK(at::allclose(block(x, causal(), nullptr), x));
}

TEST_CASE("block: with its branches silenced, a post-norm block is layernorm(x)", "[block]") {
  at::manual_seed(1);
  TransformerBlock block(options("post"), false);
  block->eval();
  silence_branches(block);
  const at::Tensor x = at::randn({2, 5, 16}) * 3.0 + 1.0;
  // ffn_norm(attention_norm(x)): normalising twice is normalising once.
  CHECK(at::allclose(block(x, causal(), nullptr), layer_norm(x, 1e-5), 1e-4, 1e-5));
}

TEST_CASE("block: pre-norm adds attention(norm(x)) to x, then ffn(norm(.))", "[block]") {
  at::manual_seed(2);
  TransformerBlock block(options("pre"), false);
  block->eval();
  const at::Tensor x = at::randn({2, 5, 16}) * 3.0 + 1.0;
  // Fresh norms have unit scale and zero shift, so the hand-written one stands in for them.
  const at::Tensor h = x + block->attention->forward(layer_norm(x, 1e-5), {}, causal(), nullptr);
  const at::Tensor expected = h + block->ffn(layer_norm(h, 1e-5));
  CHECK(at::allclose(block(x, causal(), nullptr), expected, 1e-4, 1e-5));
}

TEST_CASE("block: post-norm normalises its output, pre-norm keeps the residual stream's scale", "[block]") {
  at::manual_seed(3);
  // An input far from normalised: every row's mean near 5.
  const at::Tensor x = at::randn({2, 5, 16}) + 5.0;
  TransformerBlock post(options("post"), false), pre(options("pre"), false);
  post->eval();
  pre->eval();

  const at::Tensor y = post(x, causal(), nullptr);
  CHECK(y.mean(-1).abs().max().item<double>() < 1e-5);
  // The biased variance of a layer-normalised row is var / (var + eps), just under 1.
  CHECK(at::allclose(y.var(-1, /*unbiased=*/false), at::ones({2, 5}), 1e-3, 1e-3));

  // Pre-norm: the branches (small at initialisation) add to x, which keeps its mean.
  const at::Tensor z = pre(x, causal(), nullptr);
  CHECK(z.mean(-1).min().item<double>() > 2.0);
}

TEST_CASE("block: the ffn is applied after the attention, in each position", "[block]") {
  // With the attention silenced, a post-norm block is ffn_norm(n + ffn(n)), n = layernorm(x).
  at::manual_seed(4);
  TransformerBlock block(options("post"), false);
  block->eval();
  {
    torch::NoGradGuard no_grad;
    block->attention->out->weight.zero_();
    block->attention->out->bias.zero_();
  }
  const at::Tensor x = at::randn({1, 3, 16});
  const at::Tensor n = layer_norm(x, 1e-5);
  CHECK(at::allclose(block(x, causal(), nullptr), layer_norm(n + block->ffn(n), 1e-5), 1e-4, 1e-5));
}

TEST_CASE("block: its parts follow the options", "[block]") {
  TransformerOptions o = options("pre");
  o.norm = "rmsnorm";
  o.n_kv_heads = 2;
  o.activation = "swiglu";
  TransformerBlock block(o, false);
  CHECK(child_names(*block) == std::set<std::string>{"attention_norm", "attention", "ffn_norm", "ffn", "residual_dropout"});
  CHECK_FALSE(block->cross_attention);
  CHECK_FALSE(block->cross_norm);
  CHECK(block->attention_norm->rms());
  CHECK(block->ffn_norm->rms());
  CHECK(block->attention->key->weight.size(0) == 8);  // 2 key/value heads of width 4
  CHECK(block->ffn->fc->weight.size(0) == 2 * o.ff_width());
  CHECK(block->ffn->proj->weight.size(1) == o.ff_width());
}

TEST_CASE("block: a block with cross-attention has its norm and uses the memory", "[block]") {
  at::manual_seed(5);
  TransformerBlock block(options("pre"), true);
  block->eval();
  CHECK(child_names(*block) == std::set<std::string>{"attention_norm", "attention", "cross_norm", "cross_attention",
                                                      "ffn_norm", "ffn", "residual_dropout"});
  REQUIRE(block->cross_attention);
  REQUIRE(block->cross_norm);
  const at::Tensor x = at::randn({2, 3, 16}), memory = at::randn({2, 4, 16});
  const at::Tensor y = block->forward(x, causal(), nullptr, memory, {}, nullptr);
  CHECK(y.sizes() == x.sizes());
  // The memory reaches every position.
  const at::Tensor other = block->forward(x, causal(), nullptr, at::randn({2, 4, 16}), {}, nullptr);
  CHECK_FALSE(at::allclose(y, other, 1e-4, 1e-4));
  for (std::int64_t t = 0; t < 3; ++t) CHECK_FALSE(at::allclose(y.select(1, t), other.select(1, t), 1e-4, 1e-4));
  // Its cross-attention's keys go to the cross cache.
  lmlab::LayerKv cross_cache;
  CHECK(at::allclose(block->forward(x, causal(), nullptr, memory, {}, &cross_cache), y));
  CHECK(cross_cache.k.size(2) == 4);
  CHECK_THROWS_WITH(block->forward(x, causal(), nullptr), Contains("memory"));
}

}  // namespace block_tests
