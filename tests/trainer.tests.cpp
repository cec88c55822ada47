// The trainer end to end on a generated corpus with the built-in plugins: learning, exact
// stop/resume, checkpoint contents, the run file, and failures recorded in it.
#include "support/catch.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <streambuf>
#include <tuple>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/serialize/input-archive.h>

#include "experiment/experiment_loader.hpp"
#include "generated/test_paths.hpp"
#include "generation/text_units.hpp"
#include "lmlab/error.hpp"
#include "results/run_file.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"
#include "training/trainer.hpp"

namespace trainer_tests {

namespace fs = std::filesystem;
using lmlab::test::TempDir;

namespace {

// A tiny model on a tiny corpus: a few seconds per run on one core.
const char* default_decoding = R"(chain = ["temperature", "sample"]

[decoding.temperature]
value = 0.9)";

// The grad_clip table that load()'s `regularisers` replaces.
const char* default_regularisers = "[[regularisers]]\nname = \"grad_clip\"\nmax_norm = 1.0\n";

std::string experiment_text(const fs::path& corpus, const fs::path& results, const std::string& decoding,
                            const std::string& plugin_paths, const std::string& regularisers) {
  return lmlab::test::SmallExperiment{.corpus = corpus,
                                      .results = results,
                                      .name = "trainer_test",
                                      .seed = 7,
                                      .plugin_paths = plugin_paths,
                                      .n_layers = 2,
                                      .model_extra = "residual_dropout = 0.1\n",
                                      .regularisers = regularisers,
                                      .decoding = decoding,
                                      .steps = 12,
                                      .batch_size = 8,
                                      .lr = 3e-3,
                                      .warmup = 3,
                                      .eval_every = 4,
                                      .eval_batches = 2,
                                      .prompts = 2,
                                      .max_new_tokens = 8}
      .text();
}

struct Fixture {
  TempDir dir;
  lmlab::Registry registry;
  lmlab::PluginLoader loader{registry};
  Fixture() { lmlab::test::write_generated_corpus(dir / "corpus"); }

  lmlab::Experiment load(const std::string& results, const std::vector<std::string>& overrides = {},
                         const std::string& decoding = default_decoding, const std::string& plugin_paths = "",
                         const std::string& regularisers = "") {
    const fs::path file = dir / (results + ".toml");
    const std::string chosen = regularisers.empty() ? std::string(default_regularisers) : regularisers;
    lmlab::test::write_file(file, experiment_text(dir / "corpus", dir / results, decoding, plugin_paths, chosen));
    auto runs = lmlab::load_runs(file, overrides, loader, registry);
    REQUIRE(runs.size() == 1);
    return runs.front();
  }
};

}  // namespace

TEST_CASE("training on a generated corpus drives the validation loss far below the unigram baseline") {
  Fixture f;
  const auto e = f.load("learn", {"train.steps=400", "train.eval_every=100", "train.log_every=20", "model.residual_dropout=0.0"});
  std::ostringstream log;
  const lmlab::RunSummary s = lmlab::run_experiment(e, f.registry, lmlab::test::quiet_run(log));
  INFO(log.str());
  CHECK(s.status == lmlab::RunStatus::complete);
  CHECK(s.steps == 400);
  CHECK(s.tokens == 400 * 8 * 32);
  // The corpus' unigram perplexity is ~17; its sentences are nearly deterministic word by word.
  CHECK(s.unigram_ppl > 8.0);
  CHECK(s.val_loss < 0.5 * std::log(s.unigram_ppl));
  CHECK(s.val_ppl == Approx(std::exp(s.val_loss)));
  CHECK(s.val_acc > 0.6);
  const auto losses = lmlab::run_file::read_floats(s.run_file, "train/loss");
  REQUIRE(losses.size() == 20);
  CHECK(losses.back() < 0.5 * losses.front());
}

TEST_CASE("a run stopped and resumed logs the same losses, bit for bit, as one that never stopped") {
  // log_every = 5 puts the stop (after step 6) inside a logging window, so the checkpoint must
  // carry the window's loss sum for the resumed run to log the same mean at step 10.
  const std::string log_every = GENERATE(as<std::string>{}, "train.log_every=1", "train.log_every=5");
  INFO(log_every);
  Fixture f;
  std::ostringstream log;
  const auto straight = f.load("straight", {log_every});
  const lmlab::RunSummary a = lmlab::run_experiment(straight, f.registry, lmlab::test::quiet_run(log));
  REQUIRE(a.status == lmlab::RunStatus::complete);

  const auto interrupted = f.load("interrupted", {log_every});
  CHECK(interrupted.config_hash != straight.config_hash);  // results_dir differs, and it is part of the config
  auto stop = lmlab::test::quiet_run(log);
  stop.stop_after = 6;
  const lmlab::RunSummary b1 = lmlab::run_experiment(interrupted, f.registry, stop);
  CHECK(b1.status == lmlab::RunStatus::stopped);
  CHECK(b1.steps == 6);
  CHECK(lmlab::run_file::read_attribute(b1.run_file, "status") == "stopped");
  auto resume = lmlab::test::quiet_run(log);
  resume.resume = true;
  const lmlab::RunSummary b2 = lmlab::run_experiment(interrupted, f.registry, resume);
  CHECK(b2.status == lmlab::RunStatus::complete);

  for (const std::string column : {"train/loss", "train/grad_norm", "train/lr", "eval/val_loss", "eval/val_acc"}) {
    INFO(column);
    const auto x = lmlab::run_file::read_floats(a.run_file, column);
    const auto y = lmlab::run_file::read_floats(b2.run_file, column);
    REQUIRE(x.size() == y.size());
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(x[i] == y[i]);  // exact, not approximate
  }
  CHECK(lmlab::run_file::read_ints(b2.run_file, "train/step") == lmlab::run_file::read_ints(a.run_file, "train/step"));
  CHECK(lmlab::run_file::read_strings(b2.run_file, "generation/default/samples/continuation") ==
        lmlab::run_file::read_strings(a.run_file, "generation/default/samples/continuation"));
}

TEST_CASE("a checkpoint holds the model, optimizer, generators, data position and counters") {
  Fixture f;
  std::ostringstream log;
  const auto e = f.load("ckpt");
  auto stop = lmlab::test::quiet_run(log);
  stop.stop_after = 5;
  const lmlab::RunSummary s = lmlab::run_experiment(e, f.registry, stop);
  REQUIRE(fs::exists(s.checkpoint));

  torch::serialize::InputArchive archive;
  archive.load_from(s.checkpoint.string());
  const auto keys = archive.keys();
  for (const std::string key : {"model", "optimizer", "config_hash", "rng_data", "rng_cpu", "step", "tokens",
                                "loss_sum", "loss_count", "last_eval_step"}) {
    INFO(key);
    CHECK(std::find(keys.begin(), keys.end(), key) != keys.end());
  }
  at::Tensor t;
  archive.read("step", t);
  CHECK(t.item<std::int64_t>() == 5);
  archive.read("tokens", t);
  CHECK(t.item<std::int64_t>() == 5 * 8 * 32);
  archive.read("last_eval_step", t);
  CHECK(t.item<std::int64_t>() == 4);
  c10::IValue hash;
  archive.read("config_hash", hash);
  CHECK(hash.toStringRef() == e.config_hash);
  torch::serialize::InputArchive model;
  archive.read("model", model);
  CHECK_FALSE(model.keys().empty());

  // Another config is another run (its hash is in the name): --resume finds no checkpoint and
  // starts it from step 0.
  const auto other = f.load("ckpt", {"train.lr=1e-3"});
  CHECK(other.run_name != e.run_name);
  auto resume = lmlab::test::quiet_run(log);
  resume.resume = true;
  CHECK(lmlab::run_experiment(other, f.registry, resume).steps == 12);
  CHECK_THAT(log.str(), Catch::Contains("starting " + other.run_name + " from step 0"));
  // A checkpoint written for another config is refused, naming both hashes.
  fs::copy_file(s.checkpoint, lmlab::checkpoint_path(other), fs::copy_options::overwrite_existing);
  REQUIRE_THROWS_WITH(lmlab::run_experiment(other, f.registry, resume),
                      Catch::Contains(e.config_hash) && Catch::Contains(other.config_hash));

  // Resuming a finished run leaves its file alone and reports its last evaluation.
  const auto finished = lmlab::run_experiment(e, f.registry, resume);
  CHECK(finished.status == lmlab::RunStatus::complete);
  CHECK(finished.steps == 12);
  CHECK(finished.val_loss > 0.0);
  const auto again = lmlab::run_experiment(e, f.registry, resume);
  CHECK(again.val_loss == finished.val_loss);
  CHECK(lmlab::run_file::read_ints(again.run_file, "train/step").size() == 12);
}

TEST_CASE("the run file holds the resolved config, provenance and every table") {
  Fixture f;
  std::ostringstream log;
  const auto e = f.load("attrs");
  const lmlab::RunSummary s = lmlab::run_experiment(e, f.registry, lmlab::test::quiet_run(log));
  CHECK(s.run_file == f.dir / "attrs" / "trainer_test" / (e.run_name + ".h5"));
  CHECK(e.run_name == "seed7-" + e.run_id.substr(0, 8));
  using lmlab::run_file::read_attribute;
  CHECK(read_attribute(s.run_file, "status") == "complete");
  CHECK(read_attribute(s.run_file, "config_hash") == e.config_hash);
  CHECK(read_attribute(s.run_file, "run_id") == e.run_id);
  CHECK_THAT(read_attribute(s.run_file, "plugin_hashes"), Catch::Contains("architecture causal_decoder "));
  CHECK(read_attribute(s.run_file, "seed") == "7");
  CHECK(read_attribute(s.run_file, "sweep_point").empty());
  CHECK_THAT(read_attribute(s.run_file, "config"), Catch::Contains("causal_decoder") && Catch::Contains("d_model = 32"));
  CHECK_THAT(read_attribute(s.run_file, "plugin.model"), Catch::Contains("libcausal_decoder.so"));
  CHECK_THAT(read_attribute(s.run_file, "plugin.objective"), Catch::Contains("libcausal_lm.so"));
  CHECK_THAT(read_attribute(s.run_file, "plugin.regulariser.0"), Catch::Contains("libgrad_clip.so"));
  CHECK_THAT(read_attribute(s.run_file, "plugin.decoding.0"), Catch::StartsWith("temperature (") &&
                                                                 Catch::Contains("libtemperature.so"));
  CHECK_THAT(read_attribute(s.run_file, "plugin.decoding.1"), Catch::Contains("libsample.so"));
  CHECK(read_attribute(s.run_file, "threads") == "1");
  // The fixture's device is "auto": the first GPU where there is one.
  CHECK(read_attribute(s.run_file, "device") == (torch::cuda::is_available() ? "cuda:0" : "cpu"));
  // The model's size, as the closed form of a 2-layer causal decoder over 360 byte ids says.
  lmlab::test::ParameterShape shape;
  shape.vocab = 360;
  shape.context = 32;
  shape.d_model = 32;
  shape.heads = 2;
  shape.kv_heads = 2;
  shape.d_ff = 128;
  CHECK(read_attribute(s.run_file, "model.parameters") ==
        std::to_string(lmlab::test::expected_single_stack_parameters(shape, false)));
  CHECK(read_attribute(s.run_file, "model.embedding_parameters") == std::to_string(360 * 32 + 32 * 32));
  // 2 layers of 2 * (4 * 32 * 32 + 2 * 32 * 128) + 4 * 32 keys * 32, and the head's 2 * 360 * 32.
  CHECK(std::stod(read_attribute(s.run_file, "model.flops_per_token")) == 2.0 * (24576 + 4096) + 2.0 * 360 * 32);
  CHECK(read_attribute(s.run_file, "model.capabilities") == "generates");
  for (const std::string a : {"lmlab_version", "git_commit", "git_dirty", "torch_version", "start_time", "end_time"}) {
    INFO(a);
    CHECK_FALSE(read_attribute(s.run_file, a).empty());
  }
  CHECK(lmlab::run_file::read_ints(s.run_file, "train/step").size() == 12);
  CHECK(lmlab::run_file::read_ints(s.run_file, "eval/step") == std::vector<std::int64_t>{4, 8, 12});
  const auto tokens = lmlab::run_file::read_ints(s.run_file, "train/tokens");
  CHECK(tokens.back() == 12 * 8 * 32);
  // Two prompts at each of three evaluations, eight new bytes each at most.
  const auto continuations = lmlab::run_file::read_strings(s.run_file, "generation/default/samples/continuation");
  CHECK(continuations.size() == 6);
  CHECK(lmlab::run_file::read_strings(s.run_file, "generation/default/samples/prompt").size() == 6);
  const auto lr = lmlab::run_file::read_floats(s.run_file, "train/lr");
  CHECK(lr[0] == Approx(1e-3));  // warmup: step 1 of 3
  CHECK(lr[2] == Approx(3e-3));
}

TEST_CASE("each decoding configuration samples under its name, with the entropy of every generated position") {
  Fixture f;
  std::ostringstream log;
  const auto e = f.load("named", {"train.steps=4"},
                        "chain = [\"greedy\"]\n[[decoding.eval]]\nname = \"beam\"\nchain = [\"beam_search\"]\n"
                        "beam_search = { width = 2, n_best = 2 }\n");
  const lmlab::RunSummary s = lmlab::run_experiment(e, f.registry, lmlab::test::quiet_run(log));
  using lmlab::run_file::read_ints;
  using lmlab::run_file::read_strings;
  using lmlab::run_file::read_floats;
  const auto& file = s.run_file;
  CHECK_THAT(lmlab::run_file::read_attribute(file, "plugin.decoding.beam.0"), Catch::Contains("libbeam_search.so"));
  // One evaluation (step 4), two prompts: greedy gives one row each, beam search its 2-best.
  CHECK(read_ints(file, "generation/default/samples/rank") == std::vector<std::int64_t>{0, 0});
  CHECK(read_ints(file, "generation/beam/samples/rank") == std::vector<std::int64_t>{0, 1, 0, 1});
  CHECK(read_ints(file, "generation/beam/samples/prompt_index") == std::vector<std::int64_t>{0, 0, 1, 1});
  const auto beam_score = read_floats(file, "generation/beam/samples/score");
  CHECK(beam_score[0] >= beam_score[1]);  // best first
  for (const std::string name : {"default", "beam"}) {
    INFO(name);
    const std::string group = "generation/" + name + "/";
    const auto new_tokens = read_ints(file, group + "samples/new_tokens");
    const auto rank = read_ints(file, group + "samples/rank");
    const auto mean_entropy = read_floats(file, group + "samples/mean_entropy");
    const auto logprob = read_floats(file, group + "samples/logprob");
    // Position rows: every generated position of each best continuation, averaging to the
    // sample's mean_entropy.
    const auto prompt = read_ints(file, group + "positions/prompt_index");
    const auto entropy = read_floats(file, group + "positions/entropy");
    std::int64_t best_tokens = 0;
    double best_logprob = 0.0, all_entropy = 0.0;
    for (std::size_t i = 0; i < rank.size(); ++i) {
      if (rank[i] == 0) best_tokens += new_tokens[i], best_logprob += logprob[i], all_entropy += mean_entropy[i] * new_tokens[i];
    }
    REQUIRE(static_cast<std::int64_t>(entropy.size()) == best_tokens);
    double sum = 0;
    std::int64_t n = 0;
    for (std::size_t i = 0; i < entropy.size(); ++i) {
      CHECK(entropy[i] >= 0.0);
      CHECK(entropy[i] <= std::log(360.0) + 1e-9);
      if (prompt[i] == 1) sum += entropy[i], ++n;
    }
    const std::size_t second = name == "beam" ? 2 : 1;  // the best row of prompt 1
    REQUIRE(n == new_tokens[second]);
    CHECK(sum / static_cast<double>(n) == Approx(mean_entropy[second]).margin(1e-9));
    // The entropy curve has one row per position, and the metrics row sums it all up.
    CHECK(read_ints(file, group + "entropy_curve/step").size() == 8);  // eval.max_new_tokens, no eos
    CHECK(read_ints(file, group + "metrics/step") == std::vector<std::int64_t>{4});
    CHECK(read_floats(file, group + "metrics/entropy")[0] == Approx(all_entropy / best_tokens).margin(1e-9));
    CHECK(read_floats(file, group + "metrics/perplexity")[0] ==
          Approx(std::exp(-best_logprob / static_cast<double>(best_tokens))).epsilon(1e-9));
  }
  REQUIRE(s.samples.size() == 4);
  CHECK(s.samples[2].decoding == "beam");
}

TEST_CASE("metrics see every validation batch and each configuration's continuations, on tokens and words") {
  Fixture f;
  std::ostringstream log;
  const std::string probe_dir = '"' + (fs::path(lmlab::test_paths::fixture_plugin_dir) / "metric_probe").string() + '"';
  const auto e = f.load("metrics", {"train.steps=4", "metrics.names=[\"probe\"]"}, default_decoding, probe_dir);
  const lmlab::RunSummary s = lmlab::run_experiment(e, f.registry, lmlab::test::quiet_run(log));
  using lmlab::run_file::read_floats;
  CHECK_THAT(lmlab::run_file::read_attribute(s.run_file, "plugin.metric.probe"), Catch::Contains("libmetric_probe.so"));
  // eval.batches = 2 batches of 8 windows of 32 predicted tokens, at the one evaluation.
  CHECK(read_floats(s.run_file, "eval/batches") == std::vector<double>{2.0});
  CHECK(read_floats(s.run_file, "eval/positions") == std::vector<double>{2.0 * 8 * 32});
  // Two prompts, 8 new tokens each, and their words.
  const auto samples = lmlab::run_file::read_strings(s.run_file, "generation/default/samples/continuation");
  REQUIRE(samples.size() == 2);
  CHECK(read_floats(s.run_file, "generation/default/metrics/tokens.ids") == std::vector<double>{16.0});
  CHECK(read_floats(s.run_file, "generation/default/metrics/tokens.vocab") == std::vector<double>{360.0});
  lmlab::WordVocabulary words;
  double word_count = 0;
  for (const auto& text : samples) word_count += static_cast<double>(words.words(text).size());
  CHECK(read_floats(s.run_file, "generation/default/metrics/words.ids") == std::vector<double>{word_count});

  // Two metrics claiming one value name, or a value nobody declared, are refused naming them.
  const auto twins = f.load("twins", {"train.steps=4", "metrics.names=[\"probe\", \"probe_twin\"]"}, default_decoding,
                            probe_dir);
  REQUIRE_THROWS_WITH(lmlab::run_experiment(twins, f.registry, lmlab::test::quiet_run(log)),
                      Catch::Contains("'probe' and 'probe_twin' both report a value named 'ids'"));
  const auto loose = f.load("loose", {"train.steps=4", "metrics.names=[\"probe\"]", "metrics.probe.undeclared=true"},
                            default_decoding, probe_dir);
  REQUIRE_THROWS_WITH(lmlab::run_experiment(loose, f.registry, lmlab::test::quiet_run(log)),
                      Catch::Contains("libmetric_probe.so") && Catch::Contains("'surprise' it does not declare"));
}

TEST_CASE("a plugin failing mid-run marks the run failed, naming the plugin, and keeps the rows") {
  Fixture f;
  std::ostringstream log;
  const std::string library_dir = (fs::path(lmlab::test_paths::fixture_plugin_dir) / "throwing").string();
  const auto e = f.load("failing", {}, "chain = [\"failing\", \"greedy\"]\n[decoding.failing]\nfail_in_factory = false",
                        '"' + library_dir + '"');
  REQUIRE_THROWS_WITH(lmlab::run_experiment(e, f.registry, lmlab::test::quiet_run(log)),
                      Catch::Contains("libthrowing.so") && Catch::Contains("failing step applied"));
  const fs::path h5 = lmlab::run_file_path(e);
  CHECK(lmlab::run_file::read_attribute(h5, "status") == "failed");
  CHECK_THAT(lmlab::run_file::read_attribute(h5, "status_reason"), Catch::Contains("failing step applied"));
  // Rows logged before the failure (steps 1-4) were flushed with it.
  CHECK(lmlab::run_file::read_ints(h5, "train/step").size() == 4);
}

TEST_CASE("resuming from a checkpoint older than the file's last rows drops and relogs them exactly") {
  // checkpoint_every = 4 and eval_every = 6: the run below flushes rows (and an evaluation with its
  // samples) past its last checkpoint, as a run killed between the two would.
  const std::vector<std::string> base = {"train.checkpoint_every=4", "train.eval_every=6"};
  const std::string variant = GENERATE(as<std::string>{}, "train.grad_accum=1", "train.grad_accum=2",
                                       "experiment.precision=bf16");
  INFO(variant);
  std::vector<std::string> overrides = base;
  overrides.push_back(variant);
  Fixture f;
  std::ostringstream log;
  const lmlab::RunSummary a = lmlab::run_experiment(f.load("straight", overrides), f.registry, lmlab::test::quiet_run(log));

  const auto e = f.load("older", overrides);
  auto options = lmlab::test::quiet_run(log);
  options.stop_after = 4;
  const lmlab::RunSummary first = lmlab::run_experiment(e, f.registry, options);
  const fs::path old_checkpoint = f.dir / "step4.ckpt";
  fs::copy_file(first.checkpoint, old_checkpoint);
  options.resume = true;
  options.stop_after = 7;
  lmlab::run_experiment(e, f.registry, options);
  CHECK(lmlab::run_file::read_ints(first.run_file, "train/step").back() == 7);
  CHECK(lmlab::run_file::read_ints(first.run_file, "eval/step") == std::vector<std::int64_t>{6});
  fs::copy_file(old_checkpoint, first.checkpoint, fs::copy_options::overwrite_existing);
  options.stop_after = 0;
  const lmlab::RunSummary b = lmlab::run_experiment(e, f.registry, options);
  REQUIRE(b.status == lmlab::RunStatus::complete);

  for (const std::string column : {"train/loss", "train/grad_norm", "eval/val_loss"}) {
    INFO(column);
    CHECK(lmlab::run_file::read_floats(a.run_file, column) == lmlab::run_file::read_floats(b.run_file, column));
  }
  for (const std::string column : {"train/step", "eval/step", "generation/default/samples/step", "generation/default/metrics/step"}) {
    INFO(column);
    CHECK(lmlab::run_file::read_ints(a.run_file, column) == lmlab::run_file::read_ints(b.run_file, column));
  }
  CHECK(lmlab::run_file::read_strings(a.run_file, "generation/default/samples/continuation") ==
        lmlab::run_file::read_strings(b.run_file, "generation/default/samples/continuation"));
  // Two resumes, each recorded with the step it continued from.
  CHECK(lmlab::run_file::read_ints(b.run_file, "resumes/step") == std::vector<std::int64_t>{4, 4});
}

TEST_CASE("regulariser hooks run in the listed order, only those declared, and their terms are logged") {
  Fixture f;
  std::ostringstream log;
  const std::string library_dir = (fs::path(lmlab::test_paths::fixture_plugin_dir) / "hook_recorder").string();
  const std::string regularisers = R"([[regularisers]]
name = "record_all_hooks"
weight = 0.25

[[regularisers]]
name = "record_loss_hook"
weight = 0.5

[[regularisers]]
name = "record_all_hooks"
weight = 1.0
)";
  const auto e = f.load("hooks", {"train.steps=2", "train.eval_every=2"}, default_decoding, '"' + library_dir + '"',
                        regularisers);
  const lmlab::RunSummary s = lmlab::run_experiment(e, f.registry, lmlab::test::quiet_run(log));
  REQUIRE(s.status == lmlab::RunStatus::complete);

  // The three groups merged by call number: one step's calls, in the order the trainer made them.
  std::vector<std::tuple<std::int64_t, std::int64_t, std::string>> calls;  // (seq, regulariser, hook)
  const std::vector<std::string> groups = {"record_all_hooks.0", "record_loss_hook", "record_all_hooks.2"};
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto seq = lmlab::run_file::read_ints(s.run_file, groups[g] + "/seq");
    const auto hook = lmlab::run_file::read_strings(s.run_file, groups[g] + "/hook");
    const auto step = lmlab::run_file::read_ints(s.run_file, groups[g] + "/step");
    REQUIRE(seq.size() == hook.size());
    for (std::size_t i = 0; i < seq.size(); ++i) {
      if (step[i] == 2) calls.emplace_back(seq[i], static_cast<std::int64_t>(g), hook[i]);
    }
  }
  std::sort(calls.begin(), calls.end());
  std::vector<std::string> order;
  for (const auto& [seq, g, hook] : calls) order.push_back(fmt::format("{}:{}", g, hook));
  CHECK(order == std::vector<std::string>{"0:extra_loss", "1:extra_loss", "2:extra_loss", "0:before_step",
                                          "2:before_step", "0:after_step", "2:after_step", "0:log", "1:log",
                                          "2:log"});
  // Each loss term has its own column, named after the regulariser (numbered when listed twice).
  CHECK(lmlab::run_file::read_floats(s.run_file, "train/loss.record_all_hooks.0") == std::vector<double>{0.25, 0.25});
  CHECK(lmlab::run_file::read_floats(s.run_file, "train/loss.record_loss_hook") == std::vector<double>{0.5, 0.5});
  CHECK(lmlab::run_file::read_floats(s.run_file, "train/loss.record_all_hooks.2") == std::vector<double>{1.0, 1.0});
}

TEST_CASE("init_from starts a run from another run's weights, and refuses a checkpoint of another shape") {
  Fixture f;
  std::ostringstream log;
  const lmlab::RunSummary source = lmlab::run_experiment(f.load("source"), f.registry, lmlab::test::quiet_run(log));
  REQUIRE(source.status == lmlab::RunStatus::complete);
  const std::string from = fmt::format("train.init_from=\"{}\"", source.checkpoint.string());

  // No dropout and a learning rate too small to move anything: the first evaluation of the new run
  // sees exactly the source's final weights.
  const std::vector<std::string> frozen = {from, "train.steps=1", "train.lr=1e-30", "train.warmup=0",
                                           "model.residual_dropout=0.0"};
  const lmlab::RunSummary copy = lmlab::run_experiment(f.load("copy", frozen), f.registry, lmlab::test::quiet_run(log));
  const lmlab::RunSummary fresh =
      lmlab::run_experiment(f.load("fresh", {"train.steps=1", "train.lr=1e-30", "train.warmup=0",
                                             "model.residual_dropout=0.0"}),
                            f.registry, lmlab::test::quiet_run(log));
  CHECK(copy.val_loss == Approx(source.val_loss).epsilon(1e-5));
  CHECK(fresh.val_loss > copy.val_loss + 0.3);
  CHECK(lmlab::run_file::read_attribute(copy.run_file, "init_from.config_hash") ==
        lmlab::run_file::read_attribute(source.run_file, "config_hash"));

  const auto wider = f.load("wider", {from, "model.d_model=64"});
  CHECK_THROWS_WITH(lmlab::run_experiment(wider, f.registry, lmlab::test::quiet_run(log)),
                    Catch::Contains("train.init_from") && Catch::Contains("has shape") && Catch::Contains("x32") &&
                        Catch::Contains("x64"));
  // A results folder with one checkpoint stands for it; with none it is refused.
  const auto by_folder = f.load("by_folder", {fmt::format("train.init_from=\"{}\"", source.checkpoint.parent_path().string()),
                                              "train.steps=1", "train.lr=1e-30", "train.warmup=0",
                                              "model.residual_dropout=0.0"});
  CHECK(lmlab::run_experiment(by_folder, f.registry, lmlab::test::quiet_run(log)).val_loss == Approx(copy.val_loss).epsilon(1e-6));
  const auto empty = f.load("empty", {fmt::format("train.init_from=\"{}\"", f.dir.path().string())});
  CHECK_THROWS_WITH(lmlab::run_experiment(empty, f.registry, lmlab::test::quiet_run(log)),
                    Catch::Contains("train.init_from") && Catch::Contains("holds 0 checkpoints"));
  const auto missing = f.load("missing", {"train.init_from=\"" + (f.dir / "nowhere.ckpt").string() + '"'});
  CHECK_THROWS_WITH(lmlab::run_experiment(missing, f.registry, lmlab::test::quiet_run(log)),
                    Catch::Contains("train.init_from") && Catch::Contains("nowhere.ckpt"));
}

namespace {

// A progress sink that, whenever the run writes to it, reads how many training rows its file
// holds on disk: what `lmlab watch` or a sweep's progress would see at that moment.
class DiskRowsProbe : public std::streambuf {
 public:
  explicit DiskRowsProbe(fs::path h5) : h5_(std::move(h5)) {}
  std::vector<std::size_t> seen;

 protected:
  std::streamsize xsputn(const char*, std::streamsize n) override {
    probe();
    return n;
  }
  int_type overflow(int_type c) override {
    probe();
    return traits_type::not_eof(c);
  }

 private:
  void probe() {
    if (!fs::exists(h5_)) return;
    try {
      seen.push_back(lmlab::run_file::read_ints(h5_, "train/step").size());
    } catch (const lmlab::Error&) {  // no /train group before the first flush
      seen.push_back(0);
    }
  }
  fs::path h5_;
};

// The row counts a reader saw while the run trained, between nothing on disk and all 6 rows.
std::vector<std::size_t> rows_seen_midway(Fixture& f, const std::string& results, std::chrono::milliseconds interval) {
  const auto e = f.load(results, {"train.eval_every=12", "train.log_every=2"});  // one evaluation, at the end
  DiskRowsProbe probe(lmlab::run_file_path(e));
  std::ostream sink(&probe);
  lmlab::RunOptions options = lmlab::test::quiet_run(sink);
  options.flush_interval = interval;
  REQUIRE(lmlab::run_experiment(e, f.registry, options).status == lmlab::RunStatus::complete);
  REQUIRE(lmlab::run_file::read_ints(lmlab::run_file_path(e), "train/step").size() == 6);
  std::vector<std::size_t> midway;
  std::copy_if(probe.seen.begin(), probe.seen.end(), std::back_inserter(midway),
               [](std::size_t rows) { return rows > 0 && rows < 6; });
  return midway;
}

}  // namespace

TEST_CASE("a run's logged rows reach its file between evaluations, once per flush interval") {
  Fixture f;
  // Flushing at every logging step: a reader sees the rows grow while the run trains.
  CHECK_FALSE(rows_seen_midway(f, "every_log", std::chrono::milliseconds(0)).empty());
  // An interval longer than the run: the rows arrive only with the evaluation at the end.
  CHECK(rows_seen_midway(f, "hourly", std::chrono::hours(1)).empty());
}

}  // namespace trainer_tests
