// The next_token metric (teacher-forced rep_<L>, wrep_<L>, uniq of Welleck et al. 2020, accuracy
// and entropy) on small batches whose logits are written down as log-probabilities, so that every
// top-1 prediction, tie and entropy can be worked out by hand; then ignored positions,
// accumulation over batches, reset(), chunking over a large vocabulary and bad options.
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "lmlab/error.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace next_token_tests {

using lmlab::Metric;
using lmlab::Predictions;
using lmlab::test::MessageContains;
using Values = std::map<std::string, double>;

namespace {

const double inf = std::numeric_limits<double>::infinity();
const double ln2 = std::log(2.0);
const double half = std::log(0.5), quarter = std::log(0.25);

std::shared_ptr<Metric> make_metric(const toml::table& options = {}) {
  const lmlab::Registry& plugins = lmlab::test::builtin_plugins();
  const toml::table resolved = lmlab::resolve_plugin<Metric>(plugins, "next_token", options, "metrics.next_token");
  return lmlab::make_plugin<Metric>(plugins, "next_token", resolved, lmlab::MetricContext{4});
}

Values values_of(Metric& metric) {
  Values out;
  for (const auto& v : metric.predicted()) out[v.name] = v.value;
  return out;
}

/// The values after reset() and one observe() per batch.
Values measure(Metric& metric, const std::vector<Predictions>& batches) {
  metric.reset();
  for (const auto& b : batches) metric.observe(b);
  return values_of(metric);
}

// The rows of logits used below, each log p of a simple distribution over V = 4 ids:
const std::vector<double> U = {0, 0, 0, 0};                  // uniform: top-1 0 (four-way tie), H = 2 ln 2
const std::vector<double> A1 = {-inf, 0, -inf, -inf};        // all mass on 1: top-1 1, H = 0
const std::vector<double> A3 = {-inf, -inf, -inf, 0};        // all mass on 3: top-1 3, H = 0
const std::vector<double> H13 = {-inf, half, -inf, half};    // 1 and 3 tied: top-1 1, H = ln 2
const std::vector<double> H02 = {half, -inf, half, -inf};    // 0 and 2 tied: top-1 0, H = ln 2
const std::vector<double> Q = {half, quarter, quarter, -inf};  // (1/2, 1/4, 1/4, 0): top-1 0, H = 1.5 ln 2
// 0 and 1 tied at a value whose naive exp overflows: top-1 0, H = ln 2 only with a stable log_softmax.
const std::vector<double> BIG = {1000, 1000, -inf, -inf};

/// (B, T, V) logits from rows of V values, row-major over (B, T).
at::Tensor logits_of(const std::vector<std::vector<double>>& rows, std::int64_t batch, at::ScalarType dtype) {
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  const auto vocab = static_cast<std::int64_t>(rows.front().size());
  return at::tensor(flat, at::kDouble).view({batch, -1, vocab}).to(dtype);  // (B, T, V)
}

at::Tensor ids_of(const std::vector<std::int64_t>& ids, std::int64_t batch) {
  return at::tensor(ids, at::kLong).view({batch, -1});  // (B, T)
}

/// The hand-computed batch, B = 2, T = 5, V = 4. Texts "2 1 2 3 0 3" and "3 3 1 0 1 2": inputs
/// are the first five tokens, targets the next ones. Per position, with the full window
/// (every earlier input and the current one):
///   row 0  t  window     logits top-1 target  rep wrep correct H
///          0  {2}        A1     1     1       -   -    yes     0
///          1  {2,1}      U      0     2       -   -    yes(tie) 2 ln2
///          2  {2,1,2}    H13    1     3       yes yes  yes(tie) ln2   (tied target right, top-1 wrong)
///          3  {..,3}     Q      0     0       -   -    yes     1.5 ln2
///          4  {..,0}     BIG    0     3       yes yes  -       ln2     (x_4 itself is in the window)
///   row 1  0  {3}        A3     3     3       yes -    yes     0
///          1  {3,3}      A3     3     1       yes yes  -       0
///          2  {3,3,1}    H02    0     0       -   -    yes     ln2
///          3  {..,0}     U      0     1       yes yes  yes(tie) 2 ln2
///          4  {..,1}     Q      0     2       yes yes  -       1.5 ln2
/// Totals over 10 positions: rep 6, wrep 5, correct 7, H 10 ln2, top-1 ids {0, 1, 3}.
Predictions hand_batch(at::ScalarType dtype = at::kFloat) {
  Predictions p;
  p.inputs = ids_of({2, 1, 2, 3, 0, 3, 3, 1, 0, 1}, 2);
  p.targets = ids_of({1, 2, 3, 0, 3, 3, 1, 0, 1, 2}, 2);
  p.logits = logits_of({A1, U, H13, Q, BIG, A3, A3, H02, U, Q}, 2, dtype);
  return p;
}

Predictions rows_of(const Predictions& p, std::int64_t start, std::int64_t count) {
  return {p.inputs.narrow(0, start, count), p.targets.narrow(0, start, count), p.logits.narrow(0, start, count)};
}

void check_equal(const Values& got, const Values& want) {
  REQUIRE(got.size() == want.size());
  for (const auto& [name, value] : want) {
    INFO(name);
    REQUIRE(got.count(name) == 1);
    CHECK(got.at(name) == Approx(value).margin(1e-12));
  }
}

}  // namespace

TEST_CASE("next_token: declares its values, named after the window", "[next_token]") {
  const auto metric = make_metric();
  CHECK(metric->validation_values() == std::vector<std::string>{"rep_128", "wrep_128", "uniq", "accuracy", "entropy"});
  CHECK(metric->generation_values().empty());
  CHECK(make_metric(toml::table{{"window", 16}})->validation_values().front() == "rep_16");
}

TEST_CASE("next_token: hand-computed batch", "[next_token]") {
  const auto metric = make_metric();
  // float64, float32 and bf16 logits: the values are exact in all three except log(1/2) and
  // log(1/4) in bf16, whose rounding moves Q's entropy by about 1e-3.
  for (const auto dtype : {at::kDouble, at::kFloat, at::kBFloat16}) {
    INFO(dtype);
    const Values v = measure(*metric, {hand_batch(dtype)});
    CHECK(v.at("rep_128") == Approx(0.6));
    CHECK(v.at("wrep_128") == Approx(0.5));
    CHECK(v.at("uniq") == 3);
    CHECK(v.at("accuracy") == Approx(0.7));
    CHECK(v.at("entropy") == Approx(ln2).margin(dtype == at::kBFloat16 ? 1e-2 : 1e-6));
  }
}

TEST_CASE("next_token: a window shorter than the row", "[next_token]") {
  // L = 1: only the current input x_t. Row 0: only t=4 (top-1 0 = x_4); t=2's top-1 1 is x_1, one
  // step too far. Row 1: t=0, 1 and 3 (3 = x_0, 3 = x_1, 0 = x_3); t=4's 0 is x_3, too far.
  // rep 4/10; wrong among them: row 0 t=4, row 1 t=1 and t=3 (row 1 t=0 is right): wrep 3/10.
  const Values one = measure(*make_metric(toml::table{{"window", 1}}), {hand_batch()});
  CHECK(one.at("rep_1") == Approx(0.4));
  CHECK(one.at("wrep_1") == Approx(0.3));
  // L = 2 (x_{t-1}, x_t): row 0 t=2 (1 = x_1) and row 1 t=4 (0 = x_3) are back in: as the full window.
  const Values two = measure(*make_metric(toml::table{{"window", 2}}), {hand_batch()});
  CHECK(two.at("rep_2") == Approx(0.6));
  CHECK(two.at("wrep_2") == Approx(0.5));
  // The window does not change the other values.
  CHECK(one.at("uniq") == 3);
  CHECK(one.at("accuracy") == Approx(0.7));
  CHECK(one.at("entropy") == Approx(ln2));
}

TEST_CASE("next_token: ties", "[next_token]") {
  // One position, logits (2, 5, 5, 1), target 2: the target is tied for the maximum, so it counts
  // as correct; the top-1 prediction is the lower id, 1, which is wrong.
  Predictions p;
  p.targets = ids_of({2}, 1);
  p.logits = logits_of({{2, 5, 5, 1}}, 1, at::kFloat);
  const auto metric = make_metric();
  p.inputs = ids_of({1}, 1);  // the top-1 id 1 is the context: a (wrong) repeat
  Values v = measure(*metric, {p});
  CHECK(v.at("accuracy") == 1);
  CHECK(v.at("rep_128") == 1);
  CHECK(v.at("wrep_128") == 1);
  CHECK(v.at("uniq") == 1);
  p.inputs = ids_of({2}, 1);  // id 2 in the context is no repeat: the top-1 is 1, not 2
  v = measure(*metric, {p});
  CHECK(v.at("rep_128") == 0);
  CHECK(v.at("wrep_128") == 0);
}

TEST_CASE("next_token: positions with target ignore_index are not counted", "[next_token]") {
  // Ignore row 0 t=4 (a wrong repeat, H ln2) and row 1 t=1 (a wrong repeat, H 0), and give them
  // logits that would show if they leaked: NaN (whose entropy is NaN), and a top-1 id (2)
  // predicted nowhere else with a nonzero entropy.
  Predictions p = hand_batch();
  p.targets[0][4] = lmlab::ignore_index;
  p.targets[1][1] = lmlab::ignore_index;
  p.logits[0][4] = std::numeric_limits<float>::quiet_NaN();
  p.logits[1][1] = at::tensor({-1.0, -inf, 0.0, -inf}, at::kFloat);  // top-1 2, H > 0
  // 8 positions left: rep 6-2, wrep 5-2, correct 7, H 10 ln2 - ln2, top-1 ids still {0, 1, 3}.
  check_equal(measure(*make_metric(), {p}), {{"rep_128", 4.0 / 8},
                                             {"wrep_128", 3.0 / 8},
                                             {"uniq", 3.0},
                                             {"accuracy", 7.0 / 8},
                                             {"entropy", 9 * ln2 / 8}});
  // A batch with nothing predicted: the fractions and the mean are undefined (NaN), uniq 0.
  p.targets.fill_(lmlab::ignore_index);
  const Values none = measure(*make_metric(), {p});
  CHECK(std::isnan(none.at("rep_128")));
  CHECK(std::isnan(none.at("wrep_128")));
  CHECK(std::isnan(none.at("accuracy")));
  CHECK(std::isnan(none.at("entropy")));
  CHECK(none.at("uniq") == 0);
}

TEST_CASE("next_token: two batches accumulate as one concatenated batch", "[next_token]") {
  const auto metric = make_metric(toml::table{{"window", 3}});
  SECTION("the hand-computed rows, one batch each") {
    const Predictions p = hand_batch();
    check_equal(measure(*metric, {rows_of(p, 0, 1), rows_of(p, 1, 1)}), measure(*metric, {p}));
  }
  SECTION("random logits with many ties, batches of different sizes and ignored positions") {
    at::manual_seed(7);
    Predictions p;
    p.inputs = at::randint(0, 6, {5, 9}, at::kLong);                                   // (B, T)
    p.targets = at::randint(0, 6, {5, 9}, at::kLong);                                  // (B, T)
    p.targets.masked_fill_(at::rand({5, 9}) < 0.2, lmlab::ignore_index);               // (B, T)
    p.logits = at::round(at::randn({5, 9, 6}) * 1.5);                                  // (B, T, V) integers: ties
    const Values whole = measure(*metric, {p});
    check_equal(measure(*metric, {rows_of(p, 0, 2), rows_of(p, 2, 3)}), whole);
    CHECK(whole.at("uniq") >= 1);
  }
}

TEST_CASE("next_token: reset() clears what earlier batches left", "[next_token]") {
  const auto metric = make_metric();
  const Predictions p = hand_batch();
  metric->observe(p);
  metric->reset();
  const Values cleared = values_of(*metric);
  CHECK(std::isnan(cleared.at("rep_128")));
  CHECK(cleared.at("uniq") == 0);
  // After a reset, one row alone gives that row's values: row 1 has rep 4/5, wrep 3/5, correct
  // 3/5, H 4.5 ln2 / 5 and top-1 ids {0, 3}.
  metric->observe(rows_of(p, 1, 1));
  check_equal(values_of(*metric), {{"rep_128", 0.8},
                                   {"wrep_128", 0.6},
                                   {"uniq", 2.0},
                                   {"accuracy", 0.6},
                                   {"entropy", 4.5 * ln2 / 5}});
}

TEST_CASE("next_token: a large vocabulary is scored in chunks of rows", "[next_token]") {
  // V = 2^16 makes the plugin score 64 rows at a time, so B*T = 100 positions span two chunks;
  // row by row (50 positions each, one chunk) must give the same values.
  at::manual_seed(3);
  const std::int64_t vocab = std::int64_t{1} << 16;
  Predictions p;
  p.inputs = at::randint(0, 40, {2, 50}, at::kLong);            // (B, T) a few ids, so repeats happen
  p.targets = at::randint(0, 40, {2, 50}, at::kLong);           // (B, T)
  p.logits = at::randn({2, 50, vocab});                          // (B, T, V)
  p.logits.narrow(-1, 0, 40).add_(4.0);                          // (B, T, 40) top-1 mostly among the inputs' ids
  const auto metric = make_metric();
  const Values whole = measure(*metric, {p});
  check_equal(measure(*metric, {rows_of(p, 0, 1), rows_of(p, 1, 1)}), whole);
  CHECK(whole.at("rep_128") > 0);
}

TEST_CASE("next_token: on CUDA as on the CPU", "[next_token][cuda]") {
  if (!torch::cuda::is_available()) {
    SUCCEED("no CUDA device");
    return;
  }
  const Predictions p = hand_batch();
  const Predictions on_gpu{p.inputs.to(at::kCUDA), p.targets.to(at::kCUDA), p.logits.to(at::kCUDA)};
  const auto metric = make_metric();
  check_equal(measure(*metric, {on_gpu}), measure(*metric, {p}));
}

TEST_CASE("next_token: malformed batches are rejected", "[next_token]") {
  Predictions p = hand_batch();
  p.targets = p.targets.narrow(1, 0, 4);
  CHECK_THROWS_AS(make_metric()->observe(p), std::invalid_argument);
}

TEST_CASE("next_token: a window below 1 is a ConfigError naming the key and value", "[next_token]") {
  CHECK_THROWS_MATCHES(make_metric(toml::table{{"window", 0}}), lmlab::ConfigError,
                       MessageContains("metrics.next_token.window") && MessageContains("0 is out of range"));
  CHECK_THROWS_MATCHES(make_metric(toml::table{{"window", -5}}), lmlab::ConfigError,
                       MessageContains("metrics.next_token.window") && MessageContains("-5 is out of range"));
  CHECK_THROWS_MATCHES(make_metric(toml::table{{"windw", 3}}), lmlab::ConfigError,
                       MessageContains("windw"));
  CHECK_NOTHROW(make_metric(toml::table{{"window", 1}}));
}

}  // namespace next_token_tests
