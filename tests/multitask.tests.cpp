// multitask: the mixture and its gradient against the tasks computed one by one, sampling in
// proportion to the weights, the components it declares and reports, the positions it hands to
// regularisers, whole experiment files through the loader, and a short run's file.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "experiment/experiment_loader.hpp"
#include "lmlab/error.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "results/run_file.hpp"
#include "training/trainer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/recording_model.hpp"
#include "support/test_support.hpp"

namespace multitask_tests {

namespace fs = std::filesystem;
using lmlab::ByteTokenizer;
using lmlab::test::RecordingModel;

namespace {

constexpr std::int64_t V = ByteTokenizer::byte_vocab_size;

toml::array list(const std::vector<std::string>& names) {
  toml::array out;
  for (const auto& n : names) out.push_back(n);
  return out;
}

std::shared_ptr<lmlab::Objective> make(const toml::table& options) {
  return lmlab::test::make_objective("multitask", options, V);
}

// A bigram model with random logits, so that different tasks have clearly different losses and
// every table entry a task reads gets a gradient.
std::unique_ptr<RecordingModel> random_model(std::uint64_t seed) {
  auto model = std::make_unique<RecordingModel>(V, lmlab::Capabilities{.generates = true}, at::kDouble);
  at::manual_seed(seed);
  at::NoGradGuard no_grad;
  model->table.copy_(at::randn({V, V}, at::kDouble));
  return model;
}

at::Tensor ids(std::initializer_list<std::int64_t> values) {
  return at::tensor(std::vector<std::int64_t>(values), at::kLong);
}

std::map<std::string, double> values(const lmlab::LossOutput& out) {
  std::map<std::string, double> m;
  for (const auto& c : out.components) m[c.name] = c.value.item<double>();
  return m;
}

// An objective that says nothing of which positions it predicts: its logits cannot be split
// into predicted and ignored positions.
class NoTargets final : public lmlab::Objective {
 public:
  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    const at::Tensor logits = model.forward(lmlab::ModelInput{block}).logits;  // (B, T+1, V)
    lmlab::LossOutput out;
    out.loss = logits.logsumexp(-1).mean();  // ()
    out.nll_sum = out.loss.detach();        // ()
    out.correct = at::zeros({}, at::kLong);  // ()
    out.tokens = 1;
    out.logits = logits;
    return out;
  }
};

}  // namespace

TEST_CASE("multitask: sum is the weighted mean of the tasks' losses, and so is its gradient", "[multitask]") {
  at::manual_seed(2);
  const at::Tensor block = at::randint(ByteTokenizer::n_bytes, {4, 13}, at::kLong);  // (B, T+1)
  const auto model = random_model(1);
  // A random split, so that the draws must also be the ones the task makes on its own: the
  // mixture runs its tasks in the listed order from the same generator.
  const toml::table prefix{{"split", "random"}};
  const auto mixture = make(toml::table{
      {"tasks", list({"causal_lm", "prefix_lm"})}, {"weights", toml::array{1.0, 0.25}}, {"prefix_lm", prefix}});
  at::manual_seed(11);
  const lmlab::LossOutput mixed = mixture->compute(*model, block);
  mixed.loss.backward();
  const at::Tensor mixed_grad = model->table.grad().clone();  // (V, V)
  model->table.mutable_grad().zero_();

  at::manual_seed(11);
  const lmlab::LossOutput a = lmlab::test::make_objective("causal_lm", {}, V)->compute(*model, block);
  const lmlab::LossOutput b = lmlab::test::make_objective("prefix_lm", prefix, V)->compute(*model, block);
  // The tasks must differ, or a wrong weighting would go unseen.
  REQUIRE(std::abs(a.loss.item<double>() - b.loss.item<double>()) > 0.01);  // ~1e4 times the tolerance
  const at::Tensor expected = (1.0 * a.loss + 0.25 * b.loss) / 1.25;  // ()
  CHECK(mixed.loss.item<double>() == Approx(expected.item<double>()).margin(1e-6));
  expected.backward();
  REQUIRE(model->table.grad().abs().sum().item<double>() > 0.0);
  CHECK(at::allclose(mixed_grad, model->table.grad(), /*rtol=*/0.0, /*atol=*/1e-9));

  // Perplexity's counts are over both tasks' predicted tokens.
  CHECK(mixed.tokens == a.tokens + b.tokens);
  CHECK(mixed.nll_sum.item<double>() == Approx((a.nll_sum + b.nll_sum).item<double>()).margin(1e-6));
  CHECK(mixed.correct.item<std::int64_t>() == (a.correct + b.correct).item<std::int64_t>());

  // No weights: every task counts 1.
  at::manual_seed(11);
  const lmlab::LossOutput equal = make(toml::table{{"tasks", list({"causal_lm", "prefix_lm"})}, {"prefix_lm", prefix}})
                                      ->compute(*model, block);
  CHECK(equal.loss.item<double>() == Approx(((a.loss + b.loss) / 2.0).item<double>()).margin(1e-6));
}

TEST_CASE("multitask: sample draws tasks in proportion to their weights, and evaluation runs them all",
          "[multitask]") {
  const at::Tensor block = ids({10, 11, 12, 13, 14, 15}).unsqueeze(0);  // (1, 6)
  const auto model = random_model(3);
  const toml::table options{{"tasks", list({"causal_lm", "prefix_lm"})},
                            {"weights", toml::array{1.0, 3.0}},
                            {"mixing", "sample"},
                            {"prefix_lm", toml::table{{"split", "fixed"}}}};
  const auto mixture = make(options);
  const double causal = lmlab::test::make_objective("causal_lm", {}, V)->compute(*model, block).loss.item<double>();
  const double prefix = lmlab::test::make_objective("prefix_lm", toml::table{{"split", "fixed"}}, V)
                            ->compute(*model, block)
                            .loss.item<double>();
  REQUIRE(std::abs(causal - prefix) > 0.01);

  model->train();
  auto draws = [&](std::uint64_t seed, int n) {
    at::manual_seed(seed);
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      const lmlab::LossOutput r = mixture->compute(*model, block);
      REQUIRE(r.components.size() == 1);  // only the drawn task ran
      const std::string& task = r.components.front().name;
      // The loss is the drawn task's own, not scaled by its weight.
      CHECK(r.loss.item<double>() == Approx(task == "causal_lm" ? causal : prefix).margin(1e-9));
      out.push_back(task);
    }
    return out;
  };
  const std::vector<std::string> many = draws(7, 2000);
  const auto prefix_draws = std::count(many.begin(), many.end(), "prefix_lm");
  // p = 0.75; the standard deviation of the share over 2000 draws is ~0.01.
  CHECK(static_cast<double>(prefix_draws) / 2000.0 == Approx(0.75).margin(0.04));
  // From LibTorch's default generator: the same seed draws the same tasks.
  CHECK(draws(7, 50) == std::vector<std::string>(many.begin(), many.begin() + 50));

  // Evaluation runs every task, so validation covers all of them whatever the draws.
  model->eval();
  const lmlab::LossOutput evaluated = mixture->compute(*model, block);
  CHECK(values(evaluated).size() == 2);
  CHECK(evaluated.loss.item<double>() == Approx((1.0 * causal + 3.0 * prefix) / 4.0).margin(1e-9));
}

TEST_CASE("multitask: each task's loss and its own components are declared and reported", "[multitask]") {
  at::manual_seed(4);
  const at::Tensor block = at::randint(ByteTokenizer::n_bytes, {2, 9}, at::kLong);  // (B, T+1)
  const auto model = random_model(5);
  const toml::table ul{{"alpha", 0.5}};
  const auto mixture =
      make(toml::table{{"tasks", list({"causal_lm", "unlikelihood_token"})}, {"unlikelihood_token", ul}});
  CHECK(mixture->components() ==
        std::vector<std::string>{"causal_lm", "unlikelihood_token", "unlikelihood_token.mle", "unlikelihood_token.ul"});
  const lmlab::LossOutput mixed = mixture->compute(*model, block);
  std::vector<std::string> reported;
  for (const auto& c : mixed.components) reported.push_back(c.name);
  CHECK(reported == mixture->components());

  const lmlab::LossOutput a = lmlab::test::make_objective("causal_lm", {}, V)->compute(*model, block);
  const lmlab::LossOutput b = lmlab::test::make_objective("unlikelihood_token", ul, V)->compute(*model, block);
  const auto got = values(mixed), own = values(b);
  CHECK(got.at("causal_lm") == Approx(a.loss.item<double>()).margin(1e-9));
  CHECK(got.at("unlikelihood_token") == Approx(b.loss.item<double>()).margin(1e-9));
  CHECK(got.at("unlikelihood_token.mle") == Approx(own.at("mle")).margin(1e-9));
  CHECK(got.at("unlikelihood_token.ul") == Approx(own.at("ul")).margin(1e-9));
  REQUIRE(own.at("ul") > 0.0);  // the two components differ, so a swap would show
  CHECK(own.at("ul") != Approx(own.at("mle")));
}

TEST_CASE("multitask: regularisers get the predicted positions of every task that names them", "[multitask]") {
  const at::Tensor block = ids({10, 11, 12, 13, 14, 15, 16, 17, 18}).unsqueeze(0);  // (1, 9)
  const auto model = random_model(6);
  const auto mixture = make(toml::table{{"tasks", list({"causal_lm", "prefix_lm"})},
                             {"prefix_lm", toml::table{{"split", "fixed"}, {"fraction", 0.5}}}});
  const lmlab::LossOutput out = mixture->compute(*model, block);
  // causal_lm: positions 0..7 predict 11..18; prefix_lm (prefix of 5): positions 4..7 predict 15..18.
  const at::Tensor targets = ids({11, 12, 13, 14, 15, 16, 17, 18, 15, 16, 17, 18}).unsqueeze(0);  // (1, 12)
  REQUIRE(out.targets.defined());
  CHECK(at::equal(out.targets, targets));
  // A bigram model's logits at a position are the table's row of the token read there.
  const at::Tensor read = ids({10, 11, 12, 13, 14, 15, 16, 17, 14, 15, 16, 17});  // (12)
  REQUIRE(out.logits.sizes().equals({1, 12, V}));
  CHECK(at::allclose(out.logits[0], model->table.index_select(0, read)));

  // A task without targets: its positions cannot be told apart, so its logits are left out.
  static const ByteTokenizer tokenizer;
  const auto& registry = lmlab::test::builtin_plugins();
  const toml::table resolved =
      lmlab::resolve_plugin<lmlab::Objective>(registry, "multitask",
                                              toml::table{{"tasks", list({"bare", "causal_lm"})}}, "objective");
  lmlab::ObjectiveContext context{V, &tokenizer, {}};
  context.tasks = {{"bare", std::make_shared<NoTargets>()},
                   {"causal_lm", lmlab::test::make_objective("causal_lm", {}, V)}};
  const lmlab::LossOutput partial =
      lmlab::make_plugin<lmlab::Objective>(registry, "multitask", resolved, context)->compute(*model, block);
  CHECK(at::equal(partial.targets, targets.narrow(1, 0, 8)));
  CHECK(partial.tokens == 1 + 8);
}

TEST_CASE("multitask: refuses to be built without its tasks, or with a weight per task missing", "[multitask]") {
  static const ByteTokenizer tokenizer;
  const auto& registry = lmlab::test::builtin_plugins();
  const toml::table resolved = lmlab::resolve_plugin<lmlab::Objective>(registry, "multitask", {}, "objective");
  // Outside the host nobody builds the tasks.
  CHECK_THROWS_WITH(lmlab::make_plugin<lmlab::Objective>(registry, "multitask", resolved,
                                                         lmlab::ObjectiveContext{V, &tokenizer, {}}),
                    Catch::Contains("multitask needs its tasks built by the host"));
  const toml::table three_weights = lmlab::resolve_plugin<lmlab::Objective>(
      registry, "multitask", toml::table{{"weights", toml::array{1.0, 2.0, 3.0}}}, "objective");
  lmlab::ObjectiveContext context{V, &tokenizer, {}};
  context.tasks = {{"causal_lm", lmlab::test::make_objective("causal_lm", {}, V)}};
  CHECK_THROWS_WITH(lmlab::make_plugin<lmlab::Objective>(registry, "multitask", three_weights, context),
                    Catch::Contains("3 weights for 1 tasks"));
  CHECK_NOTHROW(lmlab::make_plugin<lmlab::Objective>(registry, "multitask", resolved, context));
}

namespace {

// A multitask experiment; `objective` replaces the [objective] section.
std::string experiment(const fs::path& corpus, const fs::path& results, const std::string& objective) {
  return lmlab::test::SmallExperiment{.corpus = corpus,
                                      .results = results,
                                      .name = "multitask_test",
                                      .seed = 5,
                                      .n_layers = 2,
                                      .objective = objective,
                                      .regularisers = "[[regularisers]]\nname = \"z_loss\"\n",
                                      .decoding = std::nullopt,
                                      .steps = 40,
                                      .batch_size = 8,
                                      .lr = 3e-3,
                                      .warmup = 3,
                                      .eval_every = 40,
                                      .eval_batches = 2,
                                      .prompts = 0,
                                      .prompt_tokens = std::nullopt,
                                      .max_new_tokens = 0}
      .text();
}

const char* good_objective = R"([objective]
name = "multitask"
tasks = ["causal_lm", "span_corruption"]
weights = [1.0, 0.5]
mixing = "sum"

[objective.span_corruption]
noise_density = 0.2
)";

struct Files {
  lmlab::test::TempDir dir;
  lmlab::Registry registry;
  lmlab::PluginLoader loader{registry};

  std::vector<lmlab::Experiment> load(const std::string& objective, const std::vector<std::string>& overrides = {}) {
    lmlab::test::write_file(dir / "mt.toml", text(objective));
    return lmlab::load_runs(dir / "mt.toml", overrides, loader, registry);
  }
  std::string text(const std::string& objective) const {
    return experiment(dir / "corpus", dir / "results", objective);
  }
  // The 1-based line of `needle` in the experiment file, as errors name it.
  int line_of(const std::string& objective, const std::string& needle) const {
    const std::string t = text(objective);
    return 1 + static_cast<int>(std::count(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.find(needle)), '\n'));
  }
};

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  return text.replace(text.find(from), from.size(), to);
}

}  // namespace

TEST_CASE("multitask: experiment files are validated task by task", "[multitask]") {
  Files f;
  const auto runs = f.load(good_objective);
  REQUIRE(runs.size() == 1);
  const lmlab::PluginChoice& objective = runs.front().objective;
  REQUIRE(objective.tasks.size() == 2);
  CHECK(objective.tasks[0].name == "causal_lm");
  CHECK(objective.tasks[1].name == "span_corruption");
  CHECK(objective.tasks[1].options["noise_density"].value<double>() == 0.2);
  CHECK(objective.tasks[1].options["mean_span_length"].value<double>() == 3.0);  // defaults filled in
  CHECK(objective.options["mixing"].value<std::string>() == "sum");
  CHECK(objective.options["tasks"].as_array() != nullptr);

  SECTION("a task the architecture cannot run names it and the architectures that can") {
    const std::string bad = replaced(replaced(good_objective, "span_corruption\"]", "masked_lm\"]"),
                                     "[objective.span_corruption]\nnoise_density = 0.2\n", "");
    REQUIRE_THROWS_AS(f.load(bad), lmlab::ConfigError);
    REQUIRE_THROWS_WITH(f.load(bad), Catch::Contains(fmt::format("mt.toml:{}:", f.line_of(bad, "tasks ="))) &&
                                         Catch::Contains("objective.tasks") &&
                                         Catch::Contains("objective 'masked_lm' needs") &&
                                         Catch::Contains("compatible architectures: encoder_only"));
  }
  SECTION("a weights list of the wrong length") {
    const std::string bad = replaced(good_objective, "[1.0, 0.5]", "[1.0]");
    REQUIRE_THROWS_AS(f.load(bad), lmlab::ConfigError);
    REQUIRE_THROWS_WITH(f.load(bad), Catch::Contains("mt.toml:") && Catch::Contains("objective") &&
                                         Catch::Contains("one weight per task"));
    CHECK_THROWS_WITH(f.load(replaced(good_objective, "[1.0, 0.5]", "[0.0, 0.0]")), Catch::Contains("not all be 0"));
    CHECK_THROWS_WITH(f.load(replaced(good_objective, "[1.0, 0.5]", "[1.0, -0.5]")),
                      Catch::Contains("objective.weights"));
  }
  SECTION("a task listed twice") {
    const std::string bad =
        replaced(good_objective, "\"causal_lm\", \"span_corruption\"", "\"causal_lm\", \"causal_lm\"");
    CHECK_THROWS_WITH(f.load(bad),
                      Catch::Contains("objective.tasks[1]") && Catch::Contains("'causal_lm' is listed twice"));
  }
  SECTION("an unknown task, with the known ones") {
    const std::string bad = replaced(good_objective, "\"causal_lm\",", "\"causal_lm2\",");
    CHECK_THROWS_WITH(f.load(bad), Catch::Contains("objective.tasks[0]") && Catch::Contains("'causal_lm2'") &&
                                       Catch::Contains("prefix_lm") && Catch::Contains("masked_lm"));
  }
  SECTION("a misspelt key in a task's table names the file, its line and the key") {
    const std::string bad = replaced(good_objective, "noise_density = 0.2", "noise_densty = 0.2");
    CHECK_THROWS_WITH(f.load(bad), Catch::Contains(fmt::format("mt.toml:{}:", f.line_of(bad, "noise_densty"))) &&
                                       Catch::Contains("objective.span_corruption.noise_densty") &&
                                       Catch::Contains("noise_density"));
  }
}

TEST_CASE("multitask: a short run learns and logs each task's loss", "[multitask]") {
  Files f;
  lmlab::test::write_generated_corpus(f.dir / "corpus");
  std::ostringstream log;
  lmlab::RunOptions quiet;
  quiet.out = &log;
  quiet.live = false;

  const auto run = f.load(good_objective).front();
  const lmlab::RunSummary s = lmlab::run_experiment(run, f.registry, quiet);
  INFO(log.str());
  REQUIRE(s.status == lmlab::RunStatus::complete);
  CHECK(std::isfinite(s.val_loss));
  const auto loss = lmlab::run_file::read_floats(s.run_file, "train/loss");
  const auto causal = lmlab::run_file::read_floats(s.run_file, "train/loss.causal_lm");
  const auto span = lmlab::run_file::read_floats(s.run_file, "train/loss.span_corruption");
  const auto z = lmlab::run_file::read_floats(s.run_file, "train/loss.z_loss");
  REQUIRE(loss.size() == 40);
  REQUIRE(causal.size() == 40);
  REQUIRE(span.size() == 40);
  REQUIRE(z.size() == 40);
  for (std::size_t i = 0; i < loss.size(); ++i) {
    // Logged every step: the step's loss is the weighted mean of its tasks' plus the z-loss,
    // which saw the logits the mixture handed on.
    CHECK(loss[i] == Approx((causal[i] + 0.5 * span[i]) / 1.5 + z[i]).epsilon(1e-5));
    CHECK(z[i] > 0.0);
  }
  auto mean = [](const std::vector<double>& v, std::size_t from, std::size_t n) {
    double sum = 0;
    for (std::size_t i = from; i < from + n; ++i) sum += v[i];
    return sum / static_cast<double>(n);
  };
  INFO("loss " << mean(loss, 0, 5) << " -> " << mean(loss, 35, 5));
  CHECK(mean(loss, 35, 5) < 0.8 * mean(loss, 0, 5));
  CHECK(mean(causal, 35, 5) < mean(causal, 0, 5));
  CHECK(mean(span, 35, 5) < mean(span, 0, 5));

  // Sampled: each step trains one task, so each row has exactly one of the two columns.
  const auto sampled =
      f.load(good_objective, {"objective.mixing=sample", "train.steps=16", "experiment.name=sampled"}).front();
  const lmlab::RunSummary t = lmlab::run_experiment(sampled, f.registry, quiet);
  REQUIRE(t.status == lmlab::RunStatus::complete);
  const auto c2 = lmlab::run_file::read_floats(t.run_file, "train/loss.causal_lm");
  const auto s2 = lmlab::run_file::read_floats(t.run_file, "train/loss.span_corruption");
  REQUIRE(c2.size() == 16);
  REQUIRE(s2.size() == 16);
  int causal_steps = 0;
  for (std::size_t i = 0; i < c2.size(); ++i) {
    CHECK(std::isfinite(c2[i]) != std::isfinite(s2[i]));
    causal_steps += std::isfinite(c2[i]) ? 1 : 0;
  }
  CHECK(causal_steps > 0);
  CHECK(causal_steps < 16);
}

}  // namespace multitask_tests
