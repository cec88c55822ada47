// The causal_decoder plugin: its options and presets, each ablation knob doing what it says,
// parameter counts against the closed form, and GPT-2's initialisation.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "lmlab/architecture.hpp"
#include "lmlab/error.hpp"
#include "lmlab/nn/single_stack.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace causal_decoder_tests {

using Catch::Matchers::Contains;
using lmlab::Architecture;
using lmlab::test::MessageContains;
using lmlab::test::ParameterShape;

namespace {

toml::table resolve(const toml::table& options) { return lmlab::test::resolve_model("causal_decoder", options); }

std::shared_ptr<Architecture> make_model(const toml::table& options, std::int64_t vocab = 50,
                                         std::int64_t max_seq_len = 16) {
  return lmlab::test::make_model("causal_decoder", options, vocab, max_seq_len);
}

/// A small model for the behavioural tests: 2 layers of width 32, 4 heads.
toml::table small() {
  return toml::table{{"d_model", 32}, {"n_layers", 2}, {"n_heads", 4}};
}

toml::table small_with(const char* key, auto value) {
  toml::table t = small();
  t.insert_or_assign(key, value);
  return t;
}

const lmlab::nn::SingleStackModel& stack(const std::shared_ptr<Architecture>& model) {
  return dynamic_cast<const lmlab::nn::SingleStackModel&>(*model);
}

ParameterShape small_shape() {
  ParameterShape s;
  s.vocab = 50;
  s.context = 16;
  s.d_model = 32;
  s.layers = 2;
  s.heads = 4;
  s.kv_heads = 4;
  s.d_ff = 128;
  return s;
}

at::Tensor logits_of(Architecture& model, const at::Tensor& tokens) { return model.forward({tokens}).logits; }

}  // namespace

TEST_CASE("causal_decoder: resolved options carry every default", "[causal_decoder]") {
  const toml::table resolved = resolve({});
  CHECK(resolved["preset"].value<std::string>() == "none");
  CHECK(resolved["d_model"].value<std::int64_t>() == 128);
  CHECK(resolved["n_layers"].value<std::int64_t>() == 4);
  CHECK(resolved["n_heads"].value<std::int64_t>() == 4);
  CHECK(resolved["n_kv_heads"].value<std::int64_t>() == 0);
  CHECK(resolved["norm"].value<std::string>() == "layernorm");
  CHECK(resolved["norm_position"].value<std::string>() == "pre");
  CHECK(resolved["activation"].value<std::string>() == "gelu");
  CHECK(resolved["positions"].value<std::string>() == "learned");
  CHECK(resolved["init"].value<std::string>() == "scaled");
  CHECK(resolved["tie_embeddings"].value<bool>() == true);
  CHECK(resolved["residual_dropout"].value<double>() == 0.0);
  CHECK(resolved["context_length"].value<std::int64_t>() == 0);
}

TEST_CASE("causal_decoder: invalid options name the key and the accepted values", "[causal_decoder]") {
  CHECK_THROWS_MATCHES(resolve(toml::table{{"d_model", 30}, {"n_heads", 4}}), lmlab::ConfigError,
                       MessageContains("d_model must be divisible by n_heads"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"n_heads", 4}, {"n_kv_heads", 3}}), lmlab::ConfigError,
                       MessageContains("n_heads must be divisible by n_kv_heads"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"d_model", 12}, {"n_heads", 4}, {"positions", "rope"}}),
                       lmlab::ConfigError, MessageContains("even head width"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"norm", "batchnorm"}}), lmlab::ConfigError,
                       MessageContains("model.norm") && MessageContains("accepted: layernorm, rmsnorm"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"activation", "swish"}}), lmlab::ConfigError,
                       MessageContains("gelu, gelu_tanh, relu, swiglu, geglu, geglu_tanh, sigmoid, tanh"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"preset", "llama2"}}), lmlab::ConfigError,
                       MessageContains("model.preset") && MessageContains("did you mean 'llama'?") &&
                           MessageContains("accepted: none, gpt2, llama"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"residual_dropout", 1.0}}), lmlab::ConfigError,
                       MessageContains("model.residual_dropout"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"dropout", 0.1}}), lmlab::ConfigError,
                       MessageContains("unknown key") && MessageContains("embedding_dropout"));
  CHECK_THROWS_MATCHES(make_model({}, 50, 0), lmlab::PluginError, MessageContains("no max_seq_len"));
}

TEST_CASE("causal_decoder: presets set their options, and the experiment's keys win", "[causal_decoder]") {
  const toml::table llama = resolve(toml::table{{"preset", "llama"}, {"d_model", 64}});
  CHECK(llama["norm"].value<std::string>() == "rmsnorm");
  CHECK(llama["activation"].value<std::string>() == "swiglu");
  CHECK(llama["positions"].value<std::string>() == "rope");
  CHECK(llama["bias"].value<bool>() == false);
  CHECK(llama["tie_embeddings"].value<bool>() == false);
  CHECK(llama["d_model"].value<std::int64_t>() == 64);  // the size is the experiment's
  const toml::table gpt2 = resolve(toml::table{{"preset", "gpt2"}, {"residual_dropout", 0.0}});
  CHECK(gpt2["embedding_dropout"].value<double>() == 0.1);
  CHECK(gpt2["residual_dropout"].value<double>() == 0.0);
  // Resolving the resolved table again changes nothing: the run file's config reproduces it.
  CHECK(resolve(llama) == llama);
}

TEST_CASE("causal_decoder: the gpt2 preset at GPT-2 small's size has its 124M parameters", "[causal_decoder]") {
  const auto model = lmlab::test::make_model(
      "causal_decoder", toml::table{{"preset", "gpt2"}, {"d_model", 768}, {"n_layers", 12}, {"n_heads", 12}}, 50257,
      1024);
  // Radford et al. 2019 report "117M"; the released checkpoint holds 124,439,808 parameters.
  CHECK(model->accounting().parameters == 124439808);
}

TEST_CASE("causal_decoder: logits are (B, T, V); context length from the host or the options", "[causal_decoder]") {
  const auto model = make_model(small());
  CHECK(model->context_length() == 16);
  CHECK(model->capabilities().generates);
  CHECK_FALSE(model->capabilities().bidirectional);
  lmlab::ModelInput in{at::randint(50, {3, 10}, at::kLong)};
  in.return_hidden = true;
  in.return_layers = true;
  const lmlab::ModelOutput out = model->forward(in);
  CHECK(out.logits.sizes() == at::IntArrayRef{3, 10, 50});
  CHECK(out.logits.scalar_type() == at::kFloat);
  CHECK(out.hidden.sizes() == at::IntArrayRef{3, 10, 32});
  CHECK(out.layers.size() == 2);
  CHECK(at::isfinite(out.logits).all().item<bool>());

  const auto wide = make_model(small_with("context_length", 24));
  CHECK(wide->context_length() == 24);
  CHECK(logits_of(*wide, at::zeros({1, 24}, at::kLong)).size(1) == 24);
  CHECK_THROWS_WITH(logits_of(*model, at::zeros({2, 17}, at::kLong)), Contains("17 tokens") && Contains("context length 16"));
  CHECK_THROWS_WITH(logits_of(*model, at::zeros({17}, at::kLong)), Contains("(B, T)"));
}

TEST_CASE("causal_decoder: tied embeddings share storage with the head; untied ones do not", "[causal_decoder]") {
  const auto tied = make_model(small());
  CHECK_FALSE(stack(tied).head);
  const at::Tensor wte = stack(tied).embeddings->tokens->weight;
  int vocab_sized = 0;
  for (const auto& p : tied->parameters()) vocab_sized += p.size(0) == 50 ? 1 : 0;
  CHECK(vocab_sized == 1);
  // Token 49 is not in the input, so changing its embedding row moves only its logit column.
  const at::Tensor tokens = at::arange(10, at::kLong).unsqueeze(0);
  const at::Tensor before = logits_of(*tied, tokens);
  {
    at::NoGradGuard no_grad;
    wte[49].add_(1.0);
  }
  const at::Tensor after = logits_of(*tied, tokens);
  CHECK(at::allclose(before.narrow(-1, 0, 49), after.narrow(-1, 0, 49)));
  CHECK_FALSE(at::allclose(before.select(-1, 49), after.select(-1, 49)));

  const auto untied = make_model(small_with("tie_embeddings", false));
  REQUIRE(stack(untied).head);
  CHECK(stack(untied).head->weight.data_ptr() != stack(untied).embeddings->tokens->weight.data_ptr());
  CHECK(lmlab::test::parameter_count(*untied) - lmlab::test::parameter_count(*tied) == 50 * 32);
}

TEST_CASE("causal_decoder: grouped-query attention has fewer key/value parameters", "[causal_decoder]") {
  const auto full = make_model(small());
  const auto grouped = make_model(small_with("n_kv_heads", 1));
  const auto& attention = stack(grouped).blocks[0]->attention;
  CHECK(attention->key->weight.sizes() == at::IntArrayRef{8, 32});  // one head of width 8
  CHECK(attention->value->weight.sizes() == at::IntArrayRef{8, 32});
  // Per layer, k and v each lose (32 - 8) outputs of 32 weights and a bias.
  CHECK(lmlab::test::parameter_count(*full) - lmlab::test::parameter_count(*grouped) == 2 * 2 * (24 * 32 + 24));
}

TEST_CASE("causal_decoder: bias = false leaves no bias anywhere; rmsnorm has none either", "[causal_decoder]") {
  const auto model = make_model(small_with("bias", false));
  for (const auto& p : model->named_parameters()) CHECK(p.key().find("bias") == std::string::npos);
  const auto rms = make_model(small_with("norm", "rmsnorm"));
  for (const auto& p : rms->named_parameters()) {
    if (p.key().find("norm") != std::string::npos) CHECK(p.key().find("bias") == std::string::npos);
  }
}

TEST_CASE("causal_decoder: parameter counts match the closed form", "[causal_decoder]") {
  ParameterShape s = small_shape();
  CHECK(lmlab::test::parameter_count(*make_model(small())) == lmlab::test::expected_single_stack_parameters(s, false));
  toml::table variant = small();
  variant.insert_or_assign("bias", false);
  variant.insert_or_assign("d_ff", 48);
  variant.insert_or_assign("activation", "swiglu");
  variant.insert_or_assign("norm", "rmsnorm");
  variant.insert_or_assign("positions", "rope");
  variant.insert_or_assign("tie_embeddings", false);
  variant.insert_or_assign("n_kv_heads", 2);
  s.bias = false;
  s.d_ff = 48;
  s.gated = true;
  s.rmsnorm = true;
  s.learned_positions = false;
  s.tied = false;
  s.kv_heads = 2;
  const auto model = make_model(variant);
  CHECK(lmlab::test::parameter_count(*model) == lmlab::test::expected_single_stack_parameters(s, false));
  CHECK(model->accounting().parameters == lmlab::test::parameter_count(*model));
  CHECK(model->accounting().embedding_parameters == 2 * 50 * 32);  // token table and untied head
  // The defaults at the byte tokenizer's 360 ids and 256 positions.
  CHECK(lmlab::test::parameter_count(*make_model({}, 360, 256)) == 872192);
}

TEST_CASE("causal_decoder: post-norm puts the norm after the residual add, and drops the final norm",
          "[causal_decoder]") {
  const auto post = make_model(small_with("norm_position", "post"));
  CHECK_FALSE(stack(post).final_norm);
  lmlab::ModelInput in{at::randint(50, {2, 6}, at::kLong)};
  in.return_layers = true;
  // Each block's output is a fresh LayerNorm's: zero mean, unit variance per position.
  const at::Tensor last = post->forward(in).layers.back();  // (B, T, C)
  CHECK(last.mean(-1).abs().max().item<double>() < 1e-4);
  CHECK(last.var(-1, /*unbiased=*/false).sub(1).abs().max().item<double>() < 1e-2);
  const auto pre = make_model(small());
  CHECK(pre->forward(in).layers.back().mean(-1).abs().max().item<double>() > 1e-3);
}

TEST_CASE("causal_decoder: initialised as the init option says", "[causal_decoder]") {
  const toml::table wide{{"d_model", 256}, {"n_layers", 8}, {"n_heads", 4}};
  const auto model = make_model(wide, 300, 64);
  const auto p = model->named_parameters();
  CHECK(p["embeddings.tokens.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  CHECK(p["embeddings.learned_positions.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  CHECK(p["blocks.0.attention.query.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  CHECK(p["blocks.0.ffn.fc.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  // GPT-2's residual output projections: 0.02 / sqrt(2 * 8) = 0.005.
  CHECK(p["blocks.3.attention.out.weight"].std().item<double>() == Approx(0.005).epsilon(0.05));
  CHECK(p["blocks.7.ffn.proj.weight"].std().item<double>() == Approx(0.005).epsilon(0.05));
  CHECK(p["blocks.0.attention.query.bias"].abs().max().item<double>() == 0.0);
  CHECK(p["blocks.0.attention_norm.weight"].eq(1.0).all().item<bool>());
  CHECK(p["final_norm.bias"].abs().max().item<double>() == 0.0);

  toml::table normal = wide;
  normal.insert_or_assign("init", "normal");
  CHECK(make_model(normal, 300, 64)->named_parameters()["blocks.7.ffn.proj.weight"].std().item<double>() ==
        Approx(0.02).epsilon(0.05));
  toml::table kaiming = wide;
  kaiming.insert_or_assign("init", "kaiming");
  // He et al.: std sqrt(2 / fan_in); the MLP's projection reads 1024 inputs.
  CHECK(make_model(kaiming, 300, 64)->named_parameters()["blocks.0.ffn.proj.weight"].std().item<double>() ==
        Approx(std::sqrt(2.0 / 1024)).epsilon(0.05));
  toml::table xavier = wide;
  xavier.insert_or_assign("init", "xavier");
  const at::Tensor fc = make_model(xavier, 300, 64)->named_parameters()["blocks.0.ffn.fc.weight"];
  CHECK(fc.abs().max().item<double>() <= std::sqrt(6.0 / (256 + 1024)));
  CHECK(fc.std().item<double>() == Approx(std::sqrt(2.0 / (256 + 1024))).epsilon(0.05));
}

TEST_CASE("causal_decoder: each dropout acts in training mode only", "[causal_decoder]") {
  const at::Tensor tokens = at::randint(50, {2, 8}, at::kLong);
  for (const char* key : {"embedding_dropout", "attention_dropout", "residual_dropout"}) {
    INFO(key);
    const auto model = make_model(small_with(key, 0.5));
    model->train();
    CHECK_FALSE(at::allclose(logits_of(*model, tokens), logits_of(*model, tokens)));
    model->eval();
    CHECK(at::equal(logits_of(*model, tokens), logits_of(*model, tokens)));
  }
}

TEST_CASE("causal_decoder: FLOPs per token follow the closed form", "[causal_decoder]") {
  // d = 32, F = 128, 2 layers, 16 keys, V = 50: per block 2 * (4 * 32 * 32 + 2 * 32 * 128) weights'
  // multiply-adds plus 4 * 16 * 32 for attention; the head 2 * 50 * 32.
  const double block = 2.0 * (4 * 32 * 32 + 2 * 32 * 128) + 4.0 * 16 * 32;
  CHECK(make_model(small())->accounting().flops_per_token == Approx(2 * block + 2.0 * 50 * 32));
}

TEST_CASE("causal_decoder: default size forward and backward timing", "[.timing]") {
  const auto model = make_model({}, 360, 256);
  model->train();
  const at::Tensor block = at::randint(360, {16, 257}, at::kLong);
  const at::Tensor input = block.narrow(1, 0, 256);
  const at::Tensor target = block.narrow(1, 1, 256);
  auto loss_of = [&] {
    return at::cross_entropy_loss(logits_of(*model, input).reshape({-1, 360}), target.reshape({-1}));
  };
  loss_of().backward();  // warm-up
  const int runs = 5;
  double forward_s = 0.0, total_s = 0.0;
  for (int i = 0; i < runs; ++i) {
    model->zero_grad();
    const auto start = std::chrono::steady_clock::now();
    const at::Tensor loss = loss_of();
    const auto mid = std::chrono::steady_clock::now();
    loss.backward();
    const auto end = std::chrono::steady_clock::now();
    forward_s += std::chrono::duration<double>(mid - start).count();
    total_s += std::chrono::duration<double>(end - start).count();
  }
  std::cout << "causal_decoder defaults (V=360, L=256): " << lmlab::test::parameter_count(*model)
            << " parameters; (16, 256): forward " << forward_s / runs * 1e3 << " ms, forward+backward "
            << total_s / runs * 1e3 << " ms (" << at::get_num_threads() << " threads)\n";
  CHECK(total_s > 0.0);
}

TEST_CASE("causal_decoder: every option reaches its module: changing it changes the output",
          "[causal_decoder]") {
  // Same seed, and the same random weights (norms start at ones and zeros whatever their number):
  // a different output means the option reached the module it configures.
  struct Variant {
    const char* key;
    toml::table base, changed;
  };
  const toml::table rope{{"positions", "rope"}};
  const std::vector<Variant> variants = {
      {"norm_eps", {}, toml::table{{"norm_eps", 10.0}}},
      {"norm", {}, toml::table{{"norm", "rmsnorm"}}},
      {"rope_base", rope, toml::table{{"positions", "rope"}, {"rope_base", 10.0}}},
      {"activation relu", {}, toml::table{{"activation", "relu"}}},
      {"activation sigmoid", {}, toml::table{{"activation", "sigmoid"}}},
      {"activation tanh", {}, toml::table{{"activation", "tanh"}}},
      {"norm_position", {}, toml::table{{"norm_position", "post"}}},
      {"positions sinusoidal", toml::table{{"positions", "none"}}, toml::table{{"positions", "sinusoidal"}}},
      {"positions alibi", toml::table{{"positions", "none"}}, toml::table{{"positions", "alibi"}}},
      {"scale_embeddings", {}, toml::table{{"scale_embeddings", true}}},
  };
  const at::Tensor tokens = at::randint(50, {2, 10}, at::kLong);
  for (const auto& v : variants) {
    INFO(v.key);
    auto build = [&](const toml::table& extra) {
      toml::table options = small();
      for (const auto& [key, value] : extra) options.insert_or_assign(key.str(), value);
      return lmlab::test::make_model("causal_decoder", options, 50, 16, 11);
    };
    const auto a = build(v.base), b = build(v.changed);
    CHECK_FALSE(at::allclose(logits_of(*a, tokens), logits_of(*b, tokens), 1e-5, 1e-6));
  }
}

}  // namespace causal_decoder_tests
