#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/optim/adamw.h>

#include "generated/test_paths.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

using Catch::Matchers::Contains;
using lmlab::test::MessageContains;
using lmlab::Architecture;

namespace {


const lmlab::Registry& plugins() { return lmlab::test::builtin_plugins(); }

toml::table resolve(const toml::table& options) {
  return lmlab::resolve_plugin<Architecture>(plugins(), "causal_decoder", options, "model");
}

std::shared_ptr<Architecture> make_model(const toml::table& options, std::int64_t vocab = 50,
                                         std::int64_t max_seq_len = 16) {
  return lmlab::make_plugin<Architecture>(plugins(), "causal_decoder", resolve(options),
                                          lmlab::ArchitectureContext{vocab, max_seq_len});
}

/// A small model for the behavioural tests: 2 layers of width 32, 4 heads.
toml::table small() { return toml::table{{"d_model", 32}, {"n_layers", 2}, {"n_heads", 4}}; }

std::int64_t count_parameters(const Architecture& model) {
  std::int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

/// GPT-2's parameter count with a tied head: embeddings, per-block LN + attention + MLP, final LN.
std::int64_t expected_parameters(std::int64_t V, std::int64_t L, std::int64_t C, std::int64_t F, std::int64_t layers,
                                 bool bias) {
  const std::int64_t b = bias ? 1 : 0;
  const std::int64_t ln = C + b * C;
  const std::int64_t attention = C * 3 * C + b * 3 * C + C * C + b * C;
  const std::int64_t mlp = C * F + b * F + F * C + b * C;
  return V * C + L * C + layers * (2 * ln + attention + mlp) + ln;
}

at::Tensor mean_loss(const at::Tensor& logits, const at::Tensor& targets) {
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

}  // namespace

TEST_CASE("causal_decoder: resolved options carry every default", "[causal_decoder]") {
  const toml::table resolved = resolve({});
  CHECK(resolved["d_model"].value<std::int64_t>() == 128);
  CHECK(resolved["n_layers"].value<std::int64_t>() == 4);
  CHECK(resolved["n_heads"].value<std::int64_t>() == 4);
  CHECK(resolved["d_ff"].value<std::int64_t>() == 0);
  CHECK(resolved["dropout"].value<double>() == 0.0);
  CHECK(resolved["bias"].value<bool>() == true);
  CHECK(resolved["context_length"].value<std::int64_t>() == 0);
}

TEST_CASE("causal_decoder: invalid options name the key", "[causal_decoder]") {
  CHECK_THROWS_MATCHES(resolve(toml::table{{"d_model", 30}, {"n_heads", 4}}), lmlab::ConfigError,
                       MessageContains("d_model must be divisible by n_heads"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"dropout", 1.0}}), lmlab::ConfigError, MessageContains("model.dropout"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"n_layers", 0}}), lmlab::ConfigError, MessageContains("model.n_layers"));
  CHECK_THROWS_MATCHES(resolve(toml::table{{"n_head", 2}}), lmlab::ConfigError, MessageContains("n_head"));
  CHECK_THROWS_MATCHES(make_model({}, 50, 0), lmlab::PluginError, MessageContains("no max_seq_len"));
}

TEST_CASE("causal_decoder: logits are (B, T, V); context length from the host or the options", "[causal_decoder]") {
  const auto model = make_model(small());
  CHECK(model->context_length() == 16);
  const at::Tensor logits = model->forward({at::randint(50, {3, 10}, at::kLong)});
  CHECK(logits.sizes() == at::IntArrayRef{3, 10, 50});
  CHECK(logits.scalar_type() == at::kFloat);
  CHECK(at::isfinite(logits).all().item<bool>());

  toml::table longer = small();
  longer.insert_or_assign("context_length", 24);
  const auto wide = make_model(longer);
  CHECK(wide->context_length() == 24);
  CHECK(wide->forward({at::zeros({1, 24}, at::kLong)}).size(1) == 24);
}

TEST_CASE("causal_decoder: an input longer than the context is refused", "[causal_decoder]") {
  const auto model = make_model(small());
  CHECK_THROWS_WITH(model->forward({at::zeros({2, 17}, at::kLong)}),
                    Contains("17 tokens") && Contains("context length 16"));
  CHECK_THROWS_WITH(model->forward({at::zeros({17}, at::kLong)}), Contains("(B, T)"));
}

TEST_CASE("causal_decoder: a position never sees the tokens after it", "[causal_decoder]") {
  const auto model = make_model(small());
  model->eval();
  at::manual_seed(3);
  const at::Tensor tokens = at::randint(50, {2, 12}, at::kLong);
  const at::Tensor changed = tokens.clone();
  changed.select(1, 7).copy_((tokens.select(1, 7) + 1).remainder(50));
  const at::Tensor a = model->forward({tokens});
  const at::Tensor b = model->forward({changed});
  CHECK(at::allclose(a.narrow(1, 0, 7), b.narrow(1, 0, 7), 1e-5, 1e-6));
  // Position 7 and every later one do see the change.
  for (std::int64_t t = 7; t < 12; ++t) CHECK_FALSE(at::allclose(a.select(1, t), b.select(1, t), 1e-5, 1e-6));
}

TEST_CASE("causal_decoder: the LM head is the token embedding", "[causal_decoder]") {
  const auto model = make_model(small());
  model->eval();
  const auto named = model->named_parameters();
  REQUIRE(named.contains("wte.weight"));
  const at::Tensor wte = named["wte.weight"];
  CHECK(wte.sizes() == at::IntArrayRef{50, 32});
  // No second (V, C) matrix: the head reads the embedding's own storage.
  int vocab_sized = 0;
  for (const auto& p : model->parameters()) vocab_sized += p.size(0) == 50 ? 1 : 0;
  CHECK(vocab_sized == 1);

  // Token 49 is not in the input, so changing its embedding row moves only its logit column.
  const at::Tensor tokens = at::arange(10, at::kLong).unsqueeze(0);
  const at::Tensor before = model->forward({tokens});
  {
    at::NoGradGuard no_grad;
    wte[49].add_(1.0);
  }
  const at::Tensor after = model->forward({tokens});
  CHECK(at::allclose(before.narrow(-1, 0, 49), after.narrow(-1, 0, 49)));
  CHECK_FALSE(at::allclose(before.select(-1, 49), after.select(-1, 49)));
}

TEST_CASE("causal_decoder: parameter count matches GPT-2's formula", "[causal_decoder]") {
  CHECK(count_parameters(*make_model(small())) == expected_parameters(50, 16, 32, 128, 2, true));
  toml::table no_bias = small();
  no_bias.insert_or_assign("bias", false);
  no_bias.insert_or_assign("d_ff", 48);
  CHECK(count_parameters(*make_model(no_bias)) == expected_parameters(50, 16, 32, 48, 2, false));
  // The defaults at the byte tokenizer's 360 ids and 256 positions.
  CHECK(count_parameters(*make_model({}, 360, 256)) == expected_parameters(360, 256, 128, 512, 4, true));
  CHECK(expected_parameters(360, 256, 128, 512, 4, true) == 872192);
}

TEST_CASE("causal_decoder: initialised as GPT-2", "[causal_decoder]") {
  toml::table wide = toml::table{{"d_model", 256}, {"n_layers", 8}, {"n_heads", 4}};
  const auto model = make_model(wide, 300, 64);
  const auto p = model->named_parameters();
  CHECK(p["wte.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  CHECK(p["wpe.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  CHECK(p["blocks.0.attn.qkv.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  CHECK(p["blocks.0.mlp.fc.weight"].std().item<double>() == Approx(0.02).epsilon(0.05));
  // Residual output projections: 0.02 / sqrt(2 * 8) = 0.005.
  CHECK(p["blocks.3.attn.proj.weight"].std().item<double>() == Approx(0.005).epsilon(0.05));
  CHECK(p["blocks.7.mlp.proj.weight"].std().item<double>() == Approx(0.005).epsilon(0.05));
  CHECK(p["blocks.0.attn.qkv.bias"].abs().max().item<double>() == 0.0);
  CHECK(p["blocks.0.ln_1.weight"].eq(1.0).all().item<bool>());
  CHECK(p["ln_f.bias"].abs().max().item<double>() == 0.0);
}

TEST_CASE("causal_decoder: dropout acts in training mode only", "[causal_decoder]") {
  toml::table dropping = small();
  dropping.insert_or_assign("dropout", 0.5);
  const auto model = make_model(dropping);
  const at::Tensor tokens = at::randint(50, {2, 8}, at::kLong);
  model->train();
  CHECK_FALSE(at::allclose(model->forward({tokens}), model->forward({tokens})));
  model->eval();
  CHECK(at::equal(model->forward({tokens}), model->forward({tokens})));
}

TEST_CASE("causal_decoder: AdamW memorises a fixed batch", "[causal_decoder]") {
  at::manual_seed(0);
  const auto model = make_model(small());
  model->train();
  const at::Tensor block = at::randint(50, {4, 17}, at::kLong);
  const at::Tensor input = block.narrow(1, 0, 16);
  const at::Tensor target = block.narrow(1, 1, 16);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.0));
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 50; ++step) {
    optimizer.zero_grad();
    const at::Tensor loss = mean_loss(model->forward({input}), target);
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  // Starts near ln(50) = 3.9, the uniform guess.
  CHECK(first == Approx(std::log(50.0)).margin(0.3));
  CHECK(last < 0.1 * first);
}

TEST_CASE("causal_decoder: default size forward and backward timing", "[.timing]") {
  const auto model = make_model({}, 360, 256);
  model->train();
  const at::Tensor block = at::randint(360, {16, 257}, at::kLong);
  const at::Tensor input = block.narrow(1, 0, 256);
  const at::Tensor target = block.narrow(1, 1, 256);
  mean_loss(model->forward({input}), target).backward();  // warm-up
  const int runs = 5;
  double forward_s = 0.0, total_s = 0.0;
  for (int i = 0; i < runs; ++i) {
    model->zero_grad();
    const auto start = std::chrono::steady_clock::now();
    const at::Tensor loss = mean_loss(model->forward({input}), target);
    const auto mid = std::chrono::steady_clock::now();
    loss.backward();
    const auto end = std::chrono::steady_clock::now();
    forward_s += std::chrono::duration<double>(mid - start).count();
    total_s += std::chrono::duration<double>(end - start).count();
  }
  std::cout << "causal_decoder defaults (V=360, L=256): " << count_parameters(*model) << " parameters; (16, 256): "
            << "forward " << forward_s / runs * 1e3 << " ms, forward+backward " << total_s / runs * 1e3 << " ms ("
            << at::get_num_threads() << " threads)\n";
  CHECK(total_s > 0.0);
}
