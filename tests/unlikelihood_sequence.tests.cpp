// unlikelihood_sequence: the loss on a hand-worked greedy continuation and its gradient, which
// tokens it penalises, that it is causal LM when it takes no sequence-level step (rate 0, and
// always in evaluation), its option and block checks, and that fine-tuning with it makes a
// small decoder's greedy continuations less repetitive.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/repetition.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/recording_model.hpp"
#include "support/test_support.hpp"

namespace unlikelihood_sequence_tests {

using Catch::Matchers::Contains;
using lmlab::test::RecordingModel;

namespace {

std::shared_ptr<lmlab::Objective> make(std::int64_t vocab, const toml::table& options = {}) {
  return lmlab::test::make_objective("unlikelihood_sequence", options, vocab);
}

// The name of the one component a step reported: which kind of step it was.
std::string step_kind(const lmlab::LossOutput& out) {
  REQUIRE(out.components.size() == 1);
  return out.components.front().name;
}

// A bigram model over a b c d e (0..4) whose greedy path is e -> a -> b -> c -> d -> b -> c -> d
// -> ...: a lead-in into the cycle b c d. Row i favours next(i) by a margin w_i, distinct per row
// so that the loss tells which positions it counted: p_i = e^w_i / (e^w_i + 4).
constexpr std::int64_t kNext[5] = {1, 2, 3, 1, 0};
constexpr double kMargin[5] = {1.0, 1.5, 2.0, 2.5, 3.0};

void set_cycle(RecordingModel& model) {
  at::NoGradGuard no_grad;
  model.table.zero_();
  for (std::int64_t i = 0; i < 5; ++i) model.table[i][kNext[i]] = kMargin[i];
}

double p_next(std::int64_t i) { return std::exp(kMargin[i]) / (std::exp(kMargin[i]) + 4.0); }

// The worked example's two rows: prefixes "e a" and "a e" (prefix_len 2) in 6-token blocks.
at::Tensor cycle_block() { return at::tensor({4, 0, 3, 3, 3, 3, 0, 4, 3, 3, 3, 3}, at::kLong).view({2, 6}); }

const toml::table& cycle_options() {
  static const toml::table options{{"rate", 1.0}, {"prefix_len", 2}, {"cont_len", 10}, {"ngram", 3}, {"alpha", 0.5}};
  return options;
}

// Fraction of the tokens of greedy continuations of `prompts` (B, P) that repeat an earlier 4-gram.
double repeated_fraction(lmlab::Architecture& model, const at::Tensor& prompts, std::int64_t new_tokens) {
  const auto& registry = lmlab::test::builtin_plugins();
  lmlab::DecodingChain greedy({lmlab::make_plugin<lmlab::DecodingStep>(
      registry, "greedy", lmlab::resolve_plugin<lmlab::DecodingStep>(registry, "greedy", {}, "greedy"),
      lmlab::DecodingContext{})});
  std::vector<std::vector<std::int64_t>> rows;
  for (std::int64_t b = 0; b < prompts.size(0); ++b) {
    const at::Tensor r = prompts[b].contiguous();
    rows.emplace_back(r.data_ptr<std::int64_t>(), r.data_ptr<std::int64_t>() + r.numel());
  }
  lmlab::GenerateOptions g;
  g.max_new_tokens = new_tokens;
  std::vector<std::int64_t> flat;
  for (const auto& c : lmlab::generate(model, greedy, rows, g, at::kCPU)) flat.insert(flat.end(), c.begin(), c.end());
  const at::Tensor continuations = at::tensor(flat, at::kLong).view({prompts.size(0), new_tokens});  // (B, N)
  return lmlab::ngram_repeat_mask(continuations, 4).to(at::kDouble).mean().item<double>();
}

}  // namespace

TEST_CASE("unlikelihood_sequence: the loss of a worked greedy continuation, and its gradient",
          "[unlikelihood_sequence]") {
  // Row 0 continues "e a" with b c d b c d b c d b: trigram b c d recurs at 3, then every later
  // trigram too, so positions 3..9 are penalised. Row 1 continues "a e" with a b c d b c d b c d:
  // positions 4..9. Each token y_t was predicted, with probability p_prev, from the token before it.
  RecordingModel model(5, {.generates = true}, at::kDouble);
  set_cycle(model);
  const auto objective = make(5, cycle_options());
  const lmlab::LossOutput out = objective->compute(model, cycle_block());

  const std::vector<std::int64_t> previous_0 = {3, 1, 2, 3, 1, 2, 3};  // before positions 3..9 of row 0
  const std::vector<std::int64_t> previous_1 = {3, 1, 2, 3, 1, 2};     // before positions 4..9 of row 1
  double ul_sum = 0;
  for (auto i : previous_0) ul_sum += -std::log(1 - p_next(i));
  for (auto i : previous_1) ul_sum += -std::log(1 - p_next(i));
  CHECK(step_kind(out) == "ul_seq");
  CHECK(out.loss.item<double>() == Approx(0.5 * ul_sum / 20).epsilon(1e-6));
  CHECK(out.components.front().value.item<double>() == Approx(ul_sum / 20).epsilon(1e-6));  // unweighted
  CHECK(out.targets.equal(at::tensor({1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 0, 1, 2, 3, 1, 2, 3, 1, 2, 3}, at::kLong).view({2, 10})));
  CHECK(out.logits.sizes() == at::IntArrayRef({2, 10, 5}));
  // Likelihood as logged: the prefixes' own second tokens, a after e (p_4) and e after a (1 / (e^w_0 + 4)).
  CHECK(out.tokens == 2);
  CHECK(out.nll_sum.item<double>() ==
        Approx(-std::log(p_next(4)) + std::log(std::exp(kMargin[0]) + 4.0)).epsilon(1e-9));
  CHECK(out.correct.item<double>() == 1);
  // One gradient forward over prefix and continuation, in training mode.
  CHECK(model.is_training());
  CHECK(model.last.tokens.sizes() == at::IntArrayRef({2, 11}));

  // Central finite differences (no entry moves by enough to change a greedy choice): on the
  // margin of b -> c, and on an entry that only changes a normaliser.
  out.loss.backward();
  const at::Tensor grad = model.table.grad().clone();
  auto loss_at = [&](std::int64_t i, std::int64_t j, double value) {
    at::NoGradGuard no_grad;
    set_cycle(model);
    model.table[i][j] = value;
    return objective->compute(model, cycle_block()).loss.item<double>();
  };
  for (const auto& [i, j] : std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 2}, {3, 0}}) {
    const double base = i == 1 ? kMargin[1] : 0.0, h = 1e-4;
    INFO("table[" << i << "][" << j << "]");
    CHECK(grad[i][j].item<double>() != 0.0);
    CHECK(grad[i][j].item<double>() == Approx((loss_at(i, j, base + h) - loss_at(i, j, base - h)) / (2 * h)).margin(1e-8));
  }
}

TEST_CASE("unlikelihood_sequence: only the tokens of repeated n-grams are penalised", "[unlikelihood_sequence]") {
  // Rows e and a of the bigram table predict only the lead-in tokens (positions 0 and 1 of the
  // continuations, and the prefixes): a loss that counted an unrepeated token would reach them.
  RecordingModel model(5, {.generates = true}, at::kDouble);
  set_cycle(model);
  const lmlab::LossOutput out = make(5, cycle_options())->compute(model, cycle_block());
  out.loss.backward();
  const at::Tensor row_grad = model.table.grad().abs().sum(1);  // (5)
  CHECK(row_grad[0].item<double>() == 0.0);
  CHECK(row_grad[4].item<double>() == 0.0);
  for (std::int64_t i = 1; i <= 3; ++i) CHECK(row_grad[i].item<double>() > 0.0);
  // With n longer than the continuation no n-gram can repeat, and the loss is exactly 0.
  toml::table long_n = cycle_options();
  long_n.insert_or_assign("ngram", 11);
  CHECK(make(5, long_n)->compute(model, cycle_block()).loss.item<double>() == 0.0);
  // n counts: with n = 7 row 0's 7-gram at 0 recurs at 3 (positions 3..9 penalised), while row
  // 1's lead-in a leaves its four 7-grams distinct.
  toml::table seven = cycle_options();
  seven.insert_or_assign("ngram", 7);
  double ul_sum = 0;
  for (auto i : {3, 1, 2, 3, 1, 2, 3}) ul_sum += -std::log(1 - p_next(i));
  CHECK(make(5, seven)->compute(model, cycle_block()).loss.item<double>() == Approx(0.5 * ul_sum / 20).epsilon(1e-9));
}

TEST_CASE("unlikelihood_sequence: rate 0 is causal LM and draws nothing", "[unlikelihood_sequence]") {
  at::manual_seed(3);
  RecordingModel model(7, {.generates = true});
  {
    at::NoGradGuard no_grad;
    model.table.normal_();
  }
  const at::Tensor block = at::randint(7, {3, 9}, at::kLong);  // (3, 9)
  at::manual_seed(11);
  const lmlab::LossOutput out = make(7, toml::table{{"rate", 0.0}, {"prefix_len", 4}})->compute(model, block);
  const double next_draw = at::rand({}).item<double>();
  at::manual_seed(11);
  CHECK(next_draw == at::rand({}).item<double>());  // the random stream is causal_lm's
  const lmlab::LossOutput lm = lmlab::test::make_objective("causal_lm", {}, 7)->compute(model, block);
  CHECK(out.loss.item<double>() == Approx(lm.loss.item<double>()).epsilon(1e-6));
  CHECK(out.nll_sum.item<double>() == Approx(lm.nll_sum.item<double>()).epsilon(1e-6));
  CHECK(out.correct.item<double>() == lm.correct.item<double>());
  CHECK(out.tokens == 24);
  CHECK(out.targets.equal(block.narrow(1, 1, 8)));
  CHECK(step_kind(out) == "mle");
  CHECK(out.components.front().value.item<double>() == Approx(lm.loss.item<double>()).epsilon(1e-6));
}

TEST_CASE("unlikelihood_sequence: evaluation never takes a sequence-level step; training mixes them at `rate`",
          "[unlikelihood_sequence]") {
  RecordingModel model(5, {.generates = true}, at::kDouble);
  set_cycle(model);
  const at::Tensor block = at::tensor({0, 1, 2, 3, 1, 2, 3, 1}, at::kLong).view({1, 8});  // (1, 8)
  const double lm = lmlab::test::make_objective("causal_lm", {}, 5)->compute(model, block).loss.item<double>();

  const auto always = make(5, toml::table{{"rate", 1.0}, {"prefix_len", 2}, {"cont_len", 6}});
  model.eval();
  for (int i = 0; i < 5; ++i) {
    const lmlab::LossOutput out = always->compute(model, block);
    CHECK(step_kind(out) == "mle");
    CHECK(out.loss.item<double>() == Approx(lm).epsilon(1e-9));
    CHECK(model.last.tokens.sizes() == at::IntArrayRef({1, 7}));  // the block's input, never a generation step
  }
  CHECK(!model.is_training());

  // In training, a seeded mix near the rate, the same one for the same seed; generation in
  // eval mode leaves the model training.
  model.train();
  const auto half = make(5, toml::table{{"rate", 0.5}, {"prefix_len", 2}, {"cont_len", 6}});
  auto kinds = [&] {
    at::manual_seed(21);
    std::string seen;
    for (int i = 0; i < 40; ++i) seen += step_kind(half->compute(model, block)) == "ul_seq" ? 'S' : 'm';
    return seen;
  };
  const std::string first = kinds();
  const auto sequence_steps = std::count(first.begin(), first.end(), 'S');
  INFO("steps: " << first);
  CHECK(sequence_steps >= 10);
  CHECK(sequence_steps <= 30);
  CHECK(kinds() == first);
  CHECK(model.is_training());
}

TEST_CASE("unlikelihood_sequence: bad options and blocks that do not fit are clear errors",
          "[unlikelihood_sequence]") {
  CHECK_THROWS_WITH(make(5, toml::table{{"rate", 1.5}}), Contains("rate"));
  CHECK_THROWS_WITH(make(5, toml::table{{"prefix_len", 0}}), Contains("prefix_len"));
  CHECK_THROWS_WITH(make(5, toml::table{{"cont_len", 0}}), Contains("cont_len"));
  CHECK_THROWS_WITH(make(5, toml::table{{"ngram", 0}}), Contains("ngram"));
  CHECK_THROWS_WITH(make(5, toml::table{{"alpha", -1.0}}), Contains("alpha"));
  CHECK_THROWS_WITH(make(5, toml::table{{"min_complement", 0.0}}), Contains("min_complement"));
  CHECK_THROWS_WITH(make(5, toml::table{{"ngrams", 2}}), Contains("ngrams"));

  RecordingModel model(5, {.generates = true});
  CHECK_THROWS_WITH(make(5)->compute(model, at::zeros({4}, at::kLong)), Contains("got shape 4"));
  // A prefix longer than the block: a training step with any rate > 0 stops at once, naming both.
  const at::Tensor block = at::zeros({2, 5}, at::kLong);  // (2, 5)
  CHECK_THROWS_WITH(make(5, toml::table{{"prefix_len", 8}, {"rate", 0.01}})->compute(model, block),
                    Contains("prefix_len = 8") && Contains("block of 5 tokens"));
  // A model whose context cannot hold prefix and continuation.
  const auto decoder = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options(), 5, 16);
  decoder->train();
  CHECK_THROWS_WITH(make(5, toml::table{{"prefix_len", 4}, {"cont_len", 13}, {"rate", 1.0}})->compute(*decoder, block),
                    Contains("4 + 13 = 17") && Contains("context length 16"));
  // Evaluation, and rate 0, are plain likelihood: the same blocks are fine there.
  CHECK_NOTHROW(make(5, toml::table{{"prefix_len", 8}, {"rate", 0.0}})->compute(model, block));
  decoder->eval();
  CHECK_NOTHROW(make(5, toml::table{{"prefix_len", 4}, {"cont_len", 13}})->compute(*decoder, block));
}

TEST_CASE("unlikelihood_sequence: fine-tuning makes greedy continuations less repetitive",
          "[unlikelihood_sequence]") {
  // The paper's recipe in miniature: a decoder trained by likelihood on text that cycles learns
  // to continue every prompt with the cycle; sequence-level steps then penalise its own repeats.
  // Which cycle-free continuation a model this small finds varies with its seed, so three seeds
  // each must improve and together by a clear margin (over 12 seeds the fraction fell from 0.83
  // to between 0.18 and 0.66).
  const std::int64_t V = 16, context = 32;
  const at::Tensor offsets = at::arange(8, at::kLong).unsqueeze(1);  // (8, 1)
  // Row b cycles through 4 ids of its own set, from its own phase.
  const at::Tensor block = (at::arange(33, at::kLong).unsqueeze(0) + offsets).remainder(4) + 4 * offsets.remainder(4);  // (8, 33)
  const at::Tensor prompts = block.narrow(1, 0, 8);  // (8, 8)
  toml::table options = lmlab::test::tiny_options();
  options.insert_or_assign("d_model", 32);
  double before_sum = 0, after_sum = 0;
  for (const std::uint64_t seed : {1, 2, 3}) {
    const auto model = lmlab::test::make_model("causal_decoder", options, V, context, seed);
    at::manual_seed(seed);
    lmlab::test::train_on(*make(V, toml::table{{"rate", 0.0}}), *model, block, 60, 1e-2);
    const double before = repeated_fraction(*model, prompts, 24);
    const auto objective = make(V, toml::table{{"rate", 1.0}, {"prefix_len", 8}, {"cont_len", 24}});
    const lmlab::test::LossCurve curve = lmlab::test::train_on(*objective, *model, block, 40, 3e-3);
    const double after = repeated_fraction(*model, prompts, 24);
    INFO("seed " << seed << ": repeated 4-gram tokens before " << before << ", after " << after << "; ul_seq loss "
                 << curve.first << " -> " << curve.last);
    CHECK(before > 0.5);  // likelihood training alone does repeat
    CHECK(after < before);
    CHECK(curve.last < curve.first);
    before_sum += before;
    after_sum += after;
  }
  INFO("mean repeated fraction before " << before_sum / 3 << ", after " << after_sum / 3);
  CHECK(after_sum / 3 < before_sum / 3 - 0.2);
}

}  // namespace unlikelihood_sequence_tests
