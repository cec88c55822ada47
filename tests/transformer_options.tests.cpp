// The shared transformer options: the MLP width default, the checks across fields, each
// initialisation scheme's statistics, parameter counting with shared tensors, and the FLOPs of
// one block written out for a tiny configuration.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <toml++/toml.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/utils.h>

#include "lmlab/error.hpp"
#include "lmlab/nn/block.hpp"
#include "lmlab/nn/transformer_options.hpp"
#include "lmlab/options.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace transformer_options_tests {

using Catch::Contains;
using lmlab::nn::TransformerOptions;

namespace {

TransformerOptions with_width(std::int64_t d_model, const std::string& activation, std::int64_t d_ff = 0) {
  TransformerOptions o;
  o.d_model = d_model;
  o.activation = activation;
  o.d_ff = d_ff;
  return o;
}

TransformerOptions parse(const toml::table& table) {
  lmlab::OptionSet<TransformerOptions> set;
  lmlab::nn::add_transformer_options(set, {});
  return set.parse(table, "model");
}

// A token table and one block, under the names the framework's models give them.
struct Model : torch::nn::Module {
  explicit Model(const TransformerOptions& o) {
    tokens = register_module("tokens", torch::nn::Embedding(64, o.d_model));
    block = register_module("block", lmlab::nn::TransformerBlock(o, false));
  }
  torch::nn::Embedding tokens{nullptr};
  lmlab::nn::TransformerBlock block{nullptr};
};

TransformerOptions init_options(const std::string& scheme) {
  TransformerOptions o;
  o.d_model = 256;
  o.n_heads = 4;
  o.init = scheme;
  o.init_std = 0.02;
  return o;
}

// A model initialised by `scheme`, after every linear layer's bias was set to 1 so that leaving
// one alone shows.
std::shared_ptr<Model> initialised(const std::string& scheme, std::int64_t layers = 1) {
  at::manual_seed(0);
  const TransformerOptions o = init_options(scheme);
  auto model = std::make_shared<Model>(o);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->named_parameters()) {
      const bool norm = p.key().find("norm") != std::string::npos;
      if (!norm && p.key().find("bias") != std::string::npos) p.value().fill_(1.0);
    }
  }
  lmlab::nn::initialise(*model, o, layers);
  return model;
}

double std_of(const at::Tensor& t) { return t.to(at::kDouble).std(/*unbiased=*/false).item<double>(); }
double mean_of(const at::Tensor& t) { return t.to(at::kDouble).mean().item<double>(); }

void check_biases_zero(Model& model) {
  for (const auto& p : model.named_parameters()) {
    const std::string& name = p.key();
    if (name.find("bias") == std::string::npos || name.find("norm") != std::string::npos) continue;
    INFO(name);
    CHECK(p.value().abs().max().item<double>() == 0.0);
  }
}

}  // namespace

TEST_CASE("transformer_options: ff_width defaults to 4 d, or 8/3 d up to a multiple of 8 when gated", "[transformer_options]") {
  CHECK(with_width(128, "gelu").ff_width() == 512);
  CHECK(with_width(64, "relu").ff_width() == 256);
  // 8/3 * 128 = 341.33 -> 342 -> 344 (the next multiple of 8).
  CHECK(with_width(128, "swiglu").ff_width() == 344);
  // 8/3 * 64 = 170.67 -> 171 -> 176.
  CHECK(with_width(64, "geglu").ff_width() == 176);
  // 8/3 * 96 = 256 exactly: already a multiple of 8.
  CHECK(with_width(96, "swiglu").ff_width() == 256);
  // 8/3 * 100 = 266.67 -> 267 -> 272; 8/3 * 3 = 8.
  CHECK(with_width(100, "swiglu").ff_width() == 272);
  CHECK(with_width(3, "swiglu").ff_width() == 8);
  // An explicit d_ff wins, gated or not.
  CHECK(with_width(128, "gelu", 100).ff_width() == 100);
  CHECK(with_width(128, "swiglu", 100).ff_width() == 100);
}

TEST_CASE("transformer_options: the derived sizes", "[transformer_options]") {
  TransformerOptions o;
  o.d_model = 64;
  o.n_heads = 8;
  CHECK(o.head_dim() == 8);
  CHECK(o.kv_heads() == 8);  // 0: one key/value head per query head
  o.n_kv_heads = 2;
  CHECK(o.kv_heads() == 2);
  CHECK(o.pre_norm());
  o.norm_position = "post";
  CHECK_FALSE(o.pre_norm());
  CHECK_FALSE(o.gated());
  o.activation = "geglu";
  CHECK(o.gated());
}

TEST_CASE("transformer_options: parsing fills defaults and applies the shared checks", "[transformer_options]") {
  const TransformerOptions defaults = parse(toml::table{});
  CHECK(defaults.d_model == 128);
  CHECK(defaults.n_heads == 4);
  CHECK(defaults.positions == "learned");
  CHECK(defaults.preset == "none");

  const TransformerOptions gqa = parse(toml::table{{"d_model", 64}, {"n_heads", 8}, {"n_kv_heads", 2}, {"positions", "rope"}});
  CHECK(gqa.kv_heads() == 2);
  CHECK(gqa.head_dim() == 8);

  CHECK_THROWS_MATCHES(parse(toml::table{{"d_model", 30}, {"n_heads", 4}}), lmlab::ConfigError,
                       lmlab::test::MessageContains("d_model must be divisible by n_heads"));
  CHECK_THROWS_MATCHES(parse(toml::table{{"n_heads", 4}, {"n_kv_heads", 3}}), lmlab::ConfigError,
                       lmlab::test::MessageContains("n_heads must be divisible by n_kv_heads"));
  // Head width 12 / 4 = 3 is odd: rotary pairs need an even one.
  CHECK_THROWS_MATCHES(parse(toml::table{{"d_model", 12}, {"n_heads", 4}, {"positions", "rope"}}), lmlab::ConfigError,
                       lmlab::test::MessageContains("even head width"));
  CHECK_NOTHROW(parse(toml::table{{"d_model", 12}, {"n_heads", 4}, {"positions", "learned"}}));
  // d_model 9 divides by 3 heads, but sin/cos pairs need an even width.
  CHECK_THROWS_MATCHES(parse(toml::table{{"d_model", 9}, {"n_heads", 3}, {"positions", "sinusoidal"}}),
                       lmlab::ConfigError, lmlab::test::MessageContains("even d_model"));
  CHECK_NOTHROW(parse(toml::table{{"d_model", 9}, {"n_heads", 3}, {"positions", "alibi"}}));
  CHECK_THROWS_MATCHES(parse(toml::table{{"norm", "batchnorm"}}), lmlab::ConfigError,
                       lmlab::test::MessageContains("layernorm, rmsnorm"));
  CHECK_THROWS_MATCHES(parse(toml::table{{"init", "orthogonal"}}), lmlab::ConfigError,
                       lmlab::test::MessageContains("normal, scaled, xavier, kaiming"));
  CHECK_THROWS_AS(parse(toml::table{{"d_modle", 64}}), lmlab::ConfigError);
}

TEST_CASE("transformer_options: normal init draws every weight from N(0, init_std)", "[transformer_options]") {
  const auto model = initialised("normal");
  const auto& block = model->block;
  for (const at::Tensor& w : {block->attention->query->weight, block->attention->out->weight, block->ffn->fc->weight,
                              block->ffn->proj->weight, model->tokens->weight}) {
    CHECK(std_of(w) == Approx(0.02).epsilon(0.03));
    CHECK(std::abs(mean_of(w)) < 0.001);
  }
  check_biases_zero(*model);
  // Norms are left at scale 1 and shift 0.
  CHECK(at::equal(block->attention_norm->weight, at::ones({256})));
  CHECK(at::equal(block->ffn_norm->bias, at::zeros({256})));
}

TEST_CASE("transformer_options: scaled init shrinks the residual projections by sqrt(2 layers)", "[transformer_options]") {
  const auto model = initialised("scaled", /*layers=*/8);
  const auto& block = model->block;
  const double scaled = 0.02 / std::sqrt(2.0 * 8.0);  // 0.005
  CHECK(std_of(block->attention->out->weight) == Approx(scaled).epsilon(0.03));
  CHECK(std_of(block->ffn->proj->weight) == Approx(scaled).epsilon(0.03));
  // The others, and the embeddings, keep init_std.
  CHECK(std_of(block->attention->query->weight) == Approx(0.02).epsilon(0.03));
  CHECK(std_of(block->attention->value->weight) == Approx(0.02).epsilon(0.03));
  CHECK(std_of(block->ffn->fc->weight) == Approx(0.02).epsilon(0.03));
  CHECK(std_of(model->tokens->weight) == Approx(0.02).epsilon(0.03));
  check_biases_zero(*model);
}

TEST_CASE("transformer_options: xavier init is uniform within sqrt(6 / (fan_in + fan_out))", "[transformer_options]") {
  const auto model = initialised("xavier");
  const auto& block = model->block;
  struct Expect {
    at::Tensor weight;
    double fan_in, fan_out;
  };
  for (const Expect& e : {Expect{block->attention->query->weight, 256, 256}, Expect{block->ffn->fc->weight, 256, 1024},
                          Expect{block->ffn->proj->weight, 1024, 256}}) {
    const double bound = std::sqrt(6.0 / (e.fan_in + e.fan_out));
    CHECK(e.weight.abs().max().item<double>() <= bound);
    CHECK(e.weight.abs().max().item<double>() > 0.95 * bound);  // uniform: it reaches near the bound
    CHECK(std_of(e.weight) == Approx(std::sqrt(2.0 / (e.fan_in + e.fan_out))).epsilon(0.03));
  }
  // Embeddings stay normal(0, init_std).
  CHECK(std_of(model->tokens->weight) == Approx(0.02).epsilon(0.03));
  check_biases_zero(*model);
}

TEST_CASE("transformer_options: kaiming init has std sqrt(2 / fan_in)", "[transformer_options]") {
  const auto model = initialised("kaiming");
  const auto& block = model->block;
  CHECK(std_of(block->attention->query->weight) == Approx(std::sqrt(2.0 / 256)).epsilon(0.03));
  CHECK(std_of(block->ffn->fc->weight) == Approx(std::sqrt(2.0 / 256)).epsilon(0.03));
  CHECK(std_of(block->ffn->proj->weight) == Approx(std::sqrt(2.0 / 1024)).epsilon(0.03));
  CHECK(std_of(model->tokens->weight) == Approx(0.02).epsilon(0.03));
  check_biases_zero(*model);
}

TEST_CASE("transformer_options: count_parameters counts a shared tensor once", "[transformer_options]") {
  struct Holder : torch::nn::Module {
    explicit Holder(const at::Tensor& t) { register_parameter("shared", t); }
  };
  struct Root : torch::nn::Module {
    Root() {
      const at::Tensor shared = at::zeros({3, 4});
      register_parameter("shared", shared);
      register_parameter("own", at::zeros({5}));
      register_module("child", std::make_shared<Holder>(shared));
    }
  };
  Root root;
  CHECK(root.parameters().size() == 3u);  // the shared tensor is listed twice...
  CHECK(lmlab::nn::count_parameters(root) == 3 * 4 + 5);  // ...and counted once

  // A block: 2 layernorms (2 x 2C), attention (4 C^2 + 4C), MLP (2 C F + F + C) for C = 16, F = 64.
  TransformerOptions o;
  o.d_model = 16;
  o.n_heads = 4;
  CHECK(lmlab::nn::count_parameters(*lmlab::nn::TransformerBlock(o, false)) == 2 * 32 + (4 * 256 + 64) + (2 * 1024 + 64 + 16));
}

TEST_CASE("transformer_options: block FLOPs per token, written out", "[transformer_options]") {
  TransformerOptions o;
  o.d_model = 8;
  o.n_heads = 2;
  o.n_kv_heads = 1;  // head width 4: key and value project to 4
  // Weights: q 8x8 = 64, k 8x4 = 32, v 32, out 64 -> 192; MLP (F = 32) 8x32 + 32x8 = 512.
  // 2 * (192 + 512) = 1408, plus 4 * 10 keys * 8 = 320 for scores and weighted sum.
  CHECK(lmlab::nn::block_flops_per_token(o, 10) == 1728.0);
  // Cross-attention over 6 encoder keys: 2 * 192 + 4 * 6 * 8 = 576 more.
  CHECK(lmlab::nn::block_flops_per_token(o, 10, 6) == 2304.0);
  // SwiGLU with F = 12: 8x24 + 12x8 = 288; 2 * (192 + 288) + 320 = 1280.
  o.activation = "swiglu";
  o.d_ff = 12;
  CHECK(lmlab::nn::block_flops_per_token(o, 10) == 1280.0);
}

}  // namespace transformer_options_tests
