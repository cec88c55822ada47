// The self_reinforcement probe (Xu et al. 2022's TP and IP) on hand-built "models" whose
// next-token probabilities are known: one that ignores its input (nothing reinforces), and an
// induction model that, once a token has occurred before, gives 0.9 to what followed it then.
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/error.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"

#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace self_reinforcement_tests {

using Values = std::map<std::string, double>;

namespace {

constexpr std::int64_t V = 8;

std::shared_ptr<lmlab::Metric> make_metric(const toml::table& options) {
  const lmlab::Registry& plugins = lmlab::test::builtin_plugins();
  const toml::table resolved =
      lmlab::resolve_plugin<lmlab::Metric>(plugins, "self_reinforcement", options, "metrics.self_reinforcement");
  return lmlab::make_plugin<lmlab::Metric>(plugins, "self_reinforcement", resolved, lmlab::MetricContext{V});
}

// Rows 0..N-1 of distinct tokens: row r is (r, r+1, ..., r+T) mod V, so a span of at most V
// tokens never repeats a token within itself.
at::Tensor windows(std::int64_t n, std::int64_t t_plus_1) {
  return (at::arange(t_plus_1, at::kLong).unsqueeze(0) + at::arange(n, at::kLong).unsqueeze(1)).remainder(V);  // (N, T+1)
}

// Where token x[b, t] occurred before, the logits give 0.9 to the token that followed it then
// (the latest such occurrence) and share 0.1 among the others; elsewhere they are uniform.
at::Tensor induction_logits(const at::Tensor& x) {
  const std::int64_t B = x.size(0), T = x.size(1);
  at::Tensor logits = at::zeros({B, T, V});  // (B, T, V)
  const auto a = x.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t t = 0; t < T; ++t) {
      for (std::int64_t j = t - 1; j >= 0; --j) {
        if (a[b][j] != a[b][t]) continue;
        logits[b][t].fill_(std::log(0.1 / (V - 1)));
        logits[b][t][a[b][j + 1]] = std::log(0.9);
        break;
      }
    }
  }
  return logits;
}

Values probe(lmlab::Metric& metric, std::function<at::Tensor(const at::Tensor&)> model, std::int64_t context,
             const at::Tensor& text) {
  lmlab::ModelProbe p;
  p.next_token_logits = std::move(model);
  p.text = text;
  p.context_length = context;
  Values out;
  for (const auto& v : lmlab::in_declared_order(metric.probe_values(), metric.probe(p))) out[v.name] = v.value;
  return out;
}

}  // namespace

TEST_CASE("self_reinforcement: the declared values follow repeats", "[self_reinforcement]") {
  const auto metric = make_metric(toml::table{{"repeats", 3}});
  CHECK(metric->probe_values() == std::vector<std::string>{"sr_tp_1", "sr_tp_2", "sr_tp_3", "sr_ip_2", "sr_ip_3", "sr_tp_gain"});
  CHECK(metric->validation_values().empty());
  CHECK(metric->generation_values().empty());
}

TEST_CASE("self_reinforcement: TP and IP of a model that ignores its input, and of an induction model",
          "[self_reinforcement]") {
  const at::Tensor text = windows(5, 17);
  const auto metric = make_metric(toml::table{{"sentences", 4}, {"length", 6}, {"repeats", 3}});
  // Uniform: every probability is 1/8 in every copy, so nothing rises (IP counts strict rises).
  const Values flat = probe(*metric, [](const at::Tensor& x) { return at::zeros({x.size(0), x.size(1), V}); }, 32, text);
  CHECK(flat.at("sr_tp_1") == Approx(0.125));
  CHECK(flat.at("sr_tp_3") == Approx(0.125));
  CHECK(flat.at("sr_ip_2") == 0.0);
  CHECK(flat.at("sr_tp_gain") == Approx(0.0).margin(1e-12));
  // Induction: in the first copy no token has occurred before (positions 1..5 are uniform,
  // 1/8); from the second copy on each token follows an earlier occurrence of its predecessor,
  // so it gets 0.9, position 0 of each copy included (left out of the means all the same).
  const Values rising = probe(*metric, induction_logits, 32, text);
  CHECK(rising.at("sr_tp_1") == Approx(0.125));
  CHECK(rising.at("sr_tp_2") == Approx(0.9));
  CHECK(rising.at("sr_tp_3") == Approx(0.9));
  CHECK(rising.at("sr_ip_2") == 1.0);
  CHECK(rising.at("sr_ip_3") == 1.0);
  CHECK(rising.at("sr_tp_gain") == Approx(0.775));
}

TEST_CASE("self_reinforcement: spans fit the context, or say why not", "[self_reinforcement]") {
  const at::Tensor text = windows(4, 17);
  // length = 0: as long as the context allows, at most 32: 10 / 3 = 3 tokens here.
  const auto fitting = make_metric(toml::table{{"repeats", 3}});
  CHECK(probe(*fitting, induction_logits, 10, text).at("sr_tp_2") == Approx(0.9));
  // A context too short for two tokens a copy: every value NaN, not an error (the default
  // metric set includes this one, and tiny test models have tiny contexts).
  CHECK(std::isnan(probe(*fitting, induction_logits, 5, text).at("sr_tp_1")));
  // A length given explicitly must fit, and the error names both numbers.
  const auto fixed = make_metric(toml::table{{"length", 6}, {"repeats", 3}});
  CHECK_THROWS_WITH(probe(*fixed, induction_logits, 16, text),
                    Catch::Contains("length x repeats = 6 x 3 = 18 tokens, more than the model's context of 16"));
  const auto longer = make_metric(toml::table{{"length", 20}, {"repeats", 2}});
  CHECK_THROWS_WITH(probe(*longer, induction_logits, 64, text),
                    Catch::Contains("length 20 is longer than a validation window (17 tokens)"));
  CHECK_THROWS_WITH(make_metric(toml::table{{"length", 1}}), Catch::Contains("length = 1 leaves no position to score"));
  CHECK_THROWS_AS(make_metric(toml::table{{"repeats", 1}}), lmlab::ConfigError);
}

}  // namespace self_reinforcement_tests
