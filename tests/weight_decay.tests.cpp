// weight_decay: one before_step scales exactly the chosen parameters by (1 - lr * rate), include
// beats exclude, the decisions are logged once, optimizer decay is refused, and the plugin with
// AdamW(weight_decay = 0) trains exactly as LibTorch's AdamW(weight_decay = rate).
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/regulariser.hpp"
#include "training/optimizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace weight_decay_tests {

namespace {

std::shared_ptr<lmlab::Regulariser> make(const toml::table& options, double optimizer_weight_decay = 0.0) {
  const auto& plugins = lmlab::test::builtin_plugins();
  return lmlab::make_plugin<lmlab::Regulariser>(
      plugins, "weight_decay", lmlab::resolve_plugin<lmlab::Regulariser>(plugins, "weight_decay", options, "regularisers"),
      lmlab::RegulariserContext{10, optimizer_weight_decay});
}

/// Collects the rows a regulariser logs.
class Rows final : public lmlab::RegulariserLog {
 public:
  void append(const lmlab::LogRow& row) override { rows.push_back(row); }
  std::vector<lmlab::LogRow> rows;
};

template <class T>
T column(const lmlab::LogRow& row, const std::string& name) {
  for (const auto& [key, value] : row) {
    if (key == name) return std::get<T>(value);
  }
  FAIL("no column " << name);
  return T{};
}

/// A tiny causal decoder (2 blocks, untied head so that head.weight exists) whose parameters all
/// have a gradient of ones, and a copy of their values.
struct Fixture {
  std::shared_ptr<lmlab::Architecture> model;
  std::map<std::string, at::Tensor> before;
  Fixture() {
    toml::table options = lmlab::test::tiny_options();
    options.insert_or_assign("tie_embeddings", false);
    model = lmlab::test::make_model("causal_decoder", options);
    for (auto& item : model->named_parameters()) {
      item.value().mutable_grad() = at::ones_like(item.value());  // same shape as the parameter
      before[item.key()] = item.value().detach().clone();
    }
  }
  /// The names whose values changed.
  std::vector<std::string> changed() const {
    std::vector<std::string> out;
    for (const auto& item : model->named_parameters()) {
      if (!at::equal(item.value(), before.at(item.key()))) out.push_back(item.key());
    }
    return out;
  }
};

}  // namespace

TEST_CASE("weight_decay: one step scales the chosen parameters by exactly 1 - lr * rate", "[weight_decay]") {
  Fixture f;
  std::vector<std::string> names;
  for (const auto& item : f.model->named_parameters()) names.push_back(item.key());
  INFO("parameters: " << Catch::Detail::stringify(names));
  // The names the defaults are written against.
  for (const char* name : {"embeddings.tokens.weight", "embeddings.learned_positions.weight",
                           "blocks.0.attention_norm.weight", "blocks.0.attention_norm.bias",
                           "blocks.0.attention.query.weight", "blocks.0.attention.query.bias",
                           "blocks.1.ffn.fc.weight", "blocks.1.ffn_norm.weight", "final_norm.weight", "head.weight"}) {
    REQUIRE(f.before.count(name) == 1);
  }
  // One decayed parameter without a gradient: like AdamW, it is not decayed this step.
  f.model->named_parameters()["blocks.1.ffn.proj.weight"].mutable_grad() = at::Tensor();

  const double lr = 0.5, rate = 0.1;  // factor 0.95
  make(toml::table{{"rate", rate}})->before_step(*f.model, {1, lr, false, nullptr});
  std::size_t decayed = 0;
  for (const auto& item : f.model->named_parameters()) {
    const std::string& name = item.key();
    const bool excluded = name.ends_with("bias") || name.find("norm") != std::string::npos ||
                          name.find("embeddings") != std::string::npos || name == "blocks.1.ffn.proj.weight";
    INFO(name);
    if (excluded) {
      CHECK(at::equal(item.value(), f.before[name]));
    } else {
      CHECK(at::equal(item.value(), f.before[name] * (1.0 - lr * rate)));
      ++decayed;
    }
  }
  // Per block: query, key, value, out, fc, proj weights; the head. Less the one without a gradient.
  CHECK(decayed == 2 * 6 + 1 - 1);
}

TEST_CASE("weight_decay: include overrides exclude; patterns match whole names, '?' one character",
          "[weight_decay]") {
  Fixture f;
  toml::array exclude{"*"};
  toml::array include{"blocks.?.ffn.fc.weight", "head*"};
  make(toml::table{{"rate", 0.2}, {"exclude", exclude}, {"include", include}})->before_step(*f.model, {1, 0.1, false, nullptr});
  CHECK(f.changed() == std::vector<std::string>{"blocks.0.ffn.fc.weight", "blocks.1.ffn.fc.weight", "head.weight"});

  // A pattern must match the whole name: "ffn" alone matches nothing.
  Fixture g;
  toml::array partial{"ffn"};
  make(toml::table{{"exclude", exclude}, {"include", partial}})->before_step(*g.model, {1, 0.1, false, nullptr});
  CHECK(g.changed().empty());
}

TEST_CASE("weight_decay: the first log writes which parameters are decayed, once", "[weight_decay]") {
  Fixture f;
  const auto decay = make(toml::table{{"rate", 0.05}});
  Rows rows;
  decay->before_step(*f.model, {1, 0.1, true, nullptr});
  decay->log(*f.model, {1, 0.1, true, nullptr}, rows);
  REQUIRE(rows.rows.size() == f.before.size());
  std::map<std::string, std::int64_t> decided;
  for (const auto& row : rows.rows) {
    CHECK(column<std::int64_t>(row, "step") == 1);
    const auto d = column<std::int64_t>(row, "decayed");
    decided[column<std::string>(row, "parameter")] = d;
    CHECK(column<double>(row, "rate") == (d ? 0.05 : 0.0));
  }
  CHECK(decided["blocks.0.attention.key.weight"] == 1);
  CHECK(decided["head.weight"] == 1);
  CHECK(decided["embeddings.tokens.weight"] == 0);
  CHECK(decided["blocks.0.ffn.fc.bias"] == 0);
  CHECK(decided["final_norm.weight"] == 0);
  decay->log(*f.model, {2, 0.1, true, nullptr}, rows);
  CHECK(rows.rows.size() == f.before.size());
}

TEST_CASE("weight_decay: refused while the optimizer decays too", "[weight_decay]") {
  CHECK_THROWS_MATCHES(make({}, 0.1), lmlab::PluginError,
                       lmlab::test::MessageContains("train.weight_decay = 0.1") &&
                           lmlab::test::MessageContains("set train.weight_decay = 0"));
  CHECK_NOTHROW(make({}, 0.0));
}

TEST_CASE("weight_decay: with AdamW(weight_decay = 0) it trains exactly as AdamW(weight_decay = rate)",
          "[weight_decay]") {
  const double lambda = 0.5;
  const int steps = 6;
  at::manual_seed(11);
  const at::Tensor block = at::randint(40, {4, 17}, at::kLong);  // (B, T+1)
  const auto objective = lmlab::test::make_objective("causal_lm", {}, 40);
  // Three identical models: LibTorch's AdamW decaying; the plugin with undecayed AdamW; and
  // undecayed AdamW alone, which must differ (else the comparison shows nothing).
  auto reference = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options());
  auto plugin = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options());
  auto plain = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options());
  auto adamw = [](lmlab::Architecture& m, double weight_decay) {
    return std::make_unique<torch::optim::AdamW>(m.parameters(),
                                                 torch::optim::AdamWOptions(1e-2).weight_decay(weight_decay));
  };
  auto opt_reference = adamw(*reference, lambda), opt_plugin = adamw(*plugin, 0.0), opt_plain = adamw(*plain, 0.0);
  toml::array none;
  const auto decay = make(toml::table{{"rate", lambda}, {"exclude", none}});
  for (int step = 1; step <= steps; ++step) {
    const double lr = 2e-2 * step / steps;  // a changing rate: the plugin must use this step's
    auto train = [&](lmlab::Architecture& m, torch::optim::AdamW& opt, bool with_plugin) {
      lmlab::set_learning_rate(opt, lr);
      opt.zero_grad();
      objective->compute(m, block).loss.backward();
      if (with_plugin) decay->before_step(m, {step, lr, false, &block});
      opt.step();
    };
    train(*reference, *opt_reference, false);
    train(*plugin, *opt_plugin, true);
    train(*plain, *opt_plain, false);
  }
  const auto a = reference->named_parameters(), b = plugin->named_parameters(), c = plain->named_parameters();
  double differs = 0;
  for (const auto& item : a) {
    INFO(item.key());
    CHECK(at::allclose(item.value(), b[item.key()], 0.0, 1e-5));
    differs = std::max(differs, (item.value() - c[item.key()]).abs().max().item<double>());
  }
  CHECK(differs > 1e-4);
}

}  // namespace weight_decay_tests
