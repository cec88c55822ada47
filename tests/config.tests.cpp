// Experiment files: loading, `base =` inheritance, validation of every section and plugin, the
// resolved config and its hash. Overrides are in overrides.tests.cpp, [sweep] in sweep.tests.cpp.
#include "support/catch.hpp"

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "experiment/config.hpp"
#include "experiment/experiment_schema.hpp"
#include "support/config_fixtures.hpp"
#include "support/test_support.hpp"

namespace config_tests {

using Catch::Contains;
using lmlab::test::config_error_of;
using lmlab::test::make_registry;
using lmlab::test::minimal;
using lmlab::test::resolve;
using lmlab::test::resolve_error;
using lmlab::test::TempDir;
using lmlab::test::write_file;

namespace {

std::vector<std::string> strings(const toml::node* node) {
  std::vector<std::string> out;
  for (const auto& e : *node->as_array()) out.push_back(e.value<std::string>().value());
  return out;
}

}  // namespace

TEST_CASE("a minimal file resolves with every default filled in", "[config]") {
  const TempDir dir;
  const lmlab::Experiment e = resolve(dir, minimal);
  CHECK(e.model.name == "toy_arch");
  CHECK(e.objective.name == "toy_lm");
  CHECK(e.train.steps == 1000);
  CHECK(e.data.block_size == 256);
  CHECK(e.experiment.device == "auto");
  CHECK(e.regularisers.empty());
  REQUIRE(e.decoding.size() == 1);
  CHECK(e.decoding[0].name == "greedy");
  CHECK(e.source == (dir / "exp.toml").string());

  const toml::table& r = e.resolved;
  CHECK(r["model"]["arch"].value<std::string>() == "toy_arch");
  CHECK(r["model"]["d_model"].value<std::int64_t>() == 64);
  CHECK(r["model"]["dropout"].value<double>() == 0.0);
  CHECK(r["objective"]["name"].value<std::string>() == "toy_lm");
  CHECK(r["objective"]["label_smoothing"].value<double>() == 0.0);
  CHECK(r["train"]["lr"].value<double>() == 1e-3);
  CHECK(r["train"]["schedule"].value<std::string>() == "cosine");
  CHECK(r["eval"]["max_new_tokens"].value<std::int64_t>() == 64);
  CHECK(r["experiment"]["plugin_paths"].as_array()->empty());
  CHECK(r["data"]["tokenizer"].value<std::string>() == "byte");
  CHECK(r["regularisers"].as_array()->empty());
  CHECK(strings(r["decoding"]["chain"].node()) == std::vector<std::string>{"greedy"});
  CHECK(r["decoding"]["greedy"].is_table());
  CHECK_FALSE(r.contains("sweep"));

  CHECK(e.config_hash.size() == 16);
  CHECK(e.config_hash.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(e.run_name == "seed0-" + e.config_hash.substr(0, 8));
}

TEST_CASE("sections and plugin options are read", "[config]") {
  const TempDir dir;
  const lmlab::Experiment e = resolve(dir, R"(
[experiment]
name = "ablation"
seed = 7
device = "cuda:1"
precision = "bf16"
plugin_paths = ["build/plugins"]

[data]
corpus = "corpora/tiny"
block_size = 64

[train]
lr = 1          # an integer where a float is expected
schedule = "linear"

[eval]
prompts = 0

[model]
arch = "toy_arch"
n_layers = 6
d_model = 128

[objective]
name = "toy_lm"
label_smoothing = 0.1
)");
  CHECK(e.experiment.name == "ablation");
  CHECK(e.experiment.device == "cuda:1");
  CHECK(e.experiment.precision == "bf16");
  CHECK(e.experiment.plugin_paths == std::vector<std::string>{"build/plugins"});
  CHECK(e.data.corpus == "corpora/tiny");
  CHECK(e.data.block_size == 64);
  CHECK(e.train.lr == 1.0);
  CHECK(e.train.schedule == "linear");
  CHECK(e.eval.prompts == 0);
  CHECK(e.model.options["n_layers"].value<std::int64_t>() == 6);
  CHECK(e.model.options["d_model"].value<std::int64_t>() == 128);
  CHECK_FALSE(e.model.options.contains("arch"));
  CHECK(e.objective.options["label_smoothing"].value<double>() == 0.1);
  CHECK(e.run_name.rfind("seed7-", 0) == 0);
}

TEST_CASE("an unknown plugin option names its line and the closest option", "[config]") {
  const std::string text = R"([objective]
name = "toy_lm"

[model]
arch = "toy_arch"
n_layers = 2
d_modle = 32
)";
  CHECK_THAT(resolve_error(text), Contains("exp.toml:7:1") && Contains("model.d_modle: unknown key") &&
                                      Contains("did you mean 'd_model'") &&
                                      Contains("accepted: d_model, dropout, n_heads, n_layers"));
}

TEST_CASE("a syntax error gives file:line:column and the parser's description", "[config]") {
  CHECK_THAT(resolve_error(minimal + "\n[train]\nsteps = [1,\n"), Contains("exp.toml:8:13: Error while parsing array"));
  CHECK_THAT(resolve_error(minimal + "[model]\n"), Contains("exp.toml:6:") && Contains("model"));
}

TEST_CASE("values of the wrong type or out of range are rejected with what is accepted", "[config]") {
  CHECK_THAT(resolve_error(minimal + "\n[train]\nsteps = 2.5\n"),
             Contains("exp.toml:8:9: train.steps: expected an integer, got float 2.5"));
  CHECK_THAT(resolve_error("[model]\narch = \"toy_arch\"\nn_layers = \"four\"\n[objective]\nname = \"toy_lm\"\n"),
             Contains("exp.toml:3:12: model.n_layers: expected an integer, got string \"four\""));
  CHECK_THAT(resolve_error(minimal + "\n[train]\nsteps = -1\n"),
             Contains("exp.toml:8:9: train.steps: -1 is out of range; accepted: >= 0"));
  // No steps evaluates the starting model, which a fresh one is not worth.
  CHECK_THAT(resolve_error(minimal + "\n[train]\nsteps = 0\n"),
             Contains("train: steps = 0 trains nothing and evaluates the starting model, so it needs init_from"));
  CHECK_THAT(resolve_error(minimal + "\n[train]\nlr = 0.0\n"),
             Contains("train.lr: 0.0 is out of range; accepted: > 0"));
  CHECK_THAT(resolve_error(minimal + "\n[train]\nbeta2 = 1.0\n"),
             Contains("train.beta2: 1.0 is out of range; accepted: >= 0 and < 1"));
  CHECK_THAT(resolve_error(minimal + "\n[data]\nblock_size = 4\n"), Contains("data.block_size: 4 is out of range"));
  CHECK_THAT(resolve_error(minimal + "\n[experiment]\nthreads = -1\n"), Contains("experiment.threads: -1"));
  CHECK_THAT(resolve_error("train = 3\n" + minimal), Contains("exp.toml:1:9: train: expected a table, got integer 3"));
}

TEST_CASE("train.lr = inf is refused like nan and -inf, with its line and the accepted range", "[config]") {
  for (const std::string value : {"inf", "+inf", "-inf", "nan"}) {
    CHECK_THAT(resolve_error(minimal + "\n[train]\nlr = " + value + "\n"),
               Contains("exp.toml:8:6: train.lr:") && Contains("not a finite number") &&
                   Contains("accepted: finite and > 0"));
  }
  CHECK_THAT(resolve_error(minimal, {"train.lr=inf"}), Contains("--set: train.lr: inf is out of range"));
}

TEST_CASE("experiment.name is one safe folder name under results_dir", "[config]") {
  const auto name_error = [](const std::string& name) {
    return resolve_error("[experiment]\nname = " + name + "\n" + minimal);
  };
  CHECK_THAT(name_error("\"../escaped\""),
             Contains("exp.toml:2:8: experiment.name: \"../escaped\" is not one folder name: it contains '/'") &&
                 Contains("accepted: 1 to 100 bytes, not '.', without '/', '\\', '..' or control characters"));
  CHECK_THAT(name_error("\"\""), Contains("experiment.name: \"\" is not one folder name: it is empty"));
  CHECK_THAT(name_error("\".\""), Contains("it names the folder itself"));
  CHECK_THAT(name_error("\"..\""), Contains("it contains '..'"));
  CHECK_THAT(name_error("'a\\b'"), Contains("it contains '\\'"));
  CHECK_THAT(name_error("\"a\\u0007b\""), Contains("\"a\\x07b\"") && Contains("control character \\x07"));
  CHECK_THAT(resolve_error(minimal, {"experiment.name=/tmp/x"}), Contains("--set: experiment.name:"));

  // A megabyte name is refused in a message of bounded size that still gives its length.
  const std::string huge = name_error("\"" + std::string(1 << 20, 'n') + "\"");
  CHECK_THAT(huge, Contains("it is 1048576 bytes long") && Contains("...\" (1048576 bytes)"));
  CHECK(huge.size() < 1000);

  const TempDir dir;
  CHECK(resolve(dir, "[experiment]\nname = \"v1.2_base-line é\"\n" + minimal).experiment.name == "v1.2_base-line é");
  CHECK(resolve(dir, "[experiment]\nname = \"" + std::string(100, 'n') + "\"\n" + minimal).experiment.name.size() ==
        100);
}

TEST_CASE("a long string value is quoted cut to a bounded length in type and choice errors", "[config]") {
  const std::string long_value(1 << 20, 'v');
  const std::string type = resolve_error(minimal + "\n[train]\nsteps = \"" + long_value + "\"\n");
  CHECK_THAT(type, Contains("train.steps: expected an integer, got string \"vvv") && Contains("(1048576 bytes)"));
  CHECK(type.size() < 1000);
  const std::string choice = resolve_error(minimal + "\n[train]\nschedule = \"" + long_value + "\"\n");
  CHECK_THAT(choice, Contains("train.schedule: unknown value \"vvv") && Contains("accepted: cosine, linear"));
  CHECK(choice.size() < 1000);
}

TEST_CASE("an integer past 64 bits is reported out of range with its key and line, in a file and in --set",
          "[config]") {
  const std::string range = "accepted: integers from -9223372036854775808 to 9223372036854775807";
  CHECK_THAT(resolve_error(minimal + "\n[train]\nsteps = 99999999999999999999\n"),
             Contains("exp.toml:8:") &&
                 Contains("train.steps: 99999999999999999999 is out of range for a 64-bit integer; " + range));
  CHECK_THAT(resolve_error(minimal + "\n[train]\n# note\nwarmup = -9223372036854775809  # too low\n"),
             Contains("exp.toml:9:") && Contains("train.warmup: -9223372036854775809 is out of range"));
  CHECK_THAT(resolve_error("steps = 0x1_0000_0000_0000_0000\n" + minimal),
             Contains("exp.toml:1:") && Contains(": steps: 0x1_0000_0000_0000_0000 is out of range for a 64-bit"));
  const std::string long_digits = resolve_error(minimal + "\n[train]\nsteps = " + std::string(100000, '9') + "\n");
  CHECK_THAT(long_digits, Contains("train.steps: 9999") && Contains("... (100000 characters) is out of range"));
  CHECK(long_digits.size() < 1000);

  CHECK(resolve_error(minimal, {"train.steps=99999999999999999999"}) ==
        "--set: train.steps: 99999999999999999999 is out of range for a 64-bit integer; " + range);
  CHECK_THAT(resolve_error(minimal, {"train.steps=-1_000_000_000_000_000_000_000"}),
             Contains("--set: train.steps: -1_000_000_000_000_000_000_000 is out of range"));
  const TempDir dir;
  CHECK(resolve(dir, minimal, {"train.steps=9223372036854775807"}).train.steps == 9223372036854775807);
  CHECK(resolve(dir, minimal, {"experiment.name=007"}).experiment.name == "007");
}

TEST_CASE("a bad choice lists the accepted values", "[config]") {
  CHECK_THAT(resolve_error(minimal + "\n[experiment]\nprecision = \"bf-16\"\n"),
             Contains("exp.toml:8:13: experiment.precision: unknown value \"bf-16\" (did you mean 'bf16'?)") &&
                 Contains("accepted: fp32, bf16"));
  CHECK_THAT(resolve_error(minimal + "\n[train]\nschedule = \"cosin\"\n"),
             Contains("did you mean 'cosine'") && Contains("accepted: cosine, linear, constant"));
  CHECK_THAT(resolve_error(minimal + "\n[data]\ntokenizer = \"bpe\"\n"),
             Contains("exp.toml:8:13: data.tokenizer: unknown tokenizer 'bpe'") && Contains("known tokenizer plugins: byte"));
}

TEST_CASE("devices follow auto|cpu|cuda|cuda:<index>", "[config]") {
  const TempDir dir;
  for (const char* ok : {"auto", "cpu", "cuda", "cuda:0", "cuda:12"}) {
    CHECK(resolve(dir, minimal + "\n[experiment]\ndevice = \"" + ok + "\"\n").experiment.device == ok);
  }
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU"}) {
    CHECK_THAT(resolve_error(minimal + "\n[experiment]\ndevice = \"" + bad + "\"\n"),
               Contains("exp.toml:8:10: experiment.device: \"" + std::string(bad) + "\" is not a device") &&
                   Contains("accepted: auto, cpu, cuda, cuda:<index>"));
  }
}

TEST_CASE("unknown sections are rejected with the closest one", "[config]") {
  CHECK_THAT(resolve_error(minimal + "\n[modle]\nn_layers = 2\n"),
             Contains("exp.toml:7:1: modle: unknown section (did you mean 'model'?)") &&
                 Contains("accepted: base, data, decoding, distributed, eval, expect, experiment, metrics, model, objective, "
                          "regularisers, slurm, sweep, tokenizer, train"));
}

TEST_CASE("[model] and [objective] are required and name a known plugin", "[config]") {
  CHECK_THAT(resolve_error("[objective]\nname = \"toy_lm\"\n"), Contains("exp.toml: model: missing [model] section") &&
                                                                    Contains("arch") && Contains("accepted: toy_arch"));
  CHECK_THAT(resolve_error("[model]\narch = \"toy_arch\"\n"),
             Contains("exp.toml: objective: missing [objective] section") && Contains("accepted: toy_lm"));
  CHECK_THAT(resolve_error("[model]\nn_layers = 2\n[objective]\nname = \"toy_lm\"\n"),
             Contains("exp.toml:1:1: model.arch: missing") && Contains("accepted: toy_arch"));
  CHECK_THAT(resolve_error("[model]\narch = 3\n[objective]\nname = \"toy_lm\"\n"),
             Contains("exp.toml:2:8: model.arch: expected a string, got integer 3"));
}

TEST_CASE("an unknown plugin name is located and lists the known names", "[config]") {
  CHECK_THAT(resolve_error("[objective]\nname = \"toy_lm\"\n\n[model]\narch = \"toy_arc\"\n"),
             Contains("exp.toml:5:8: model.arch: unknown architecture 'toy_arc' (did you mean 'toy_arch'?)") &&
                 Contains("known architecture plugins: toy_arch"));
  CHECK_THAT(resolve_error("[model]\narch = \"toy_arch\"\n[objective]\nname = \"greedy\"\n"),
             Contains("exp.toml:4:8: objective.name") && Contains("'greedy' is a decoding plugin"));
}

TEST_CASE("a plugin's cross-field check points at its table", "[config]") {
  CHECK_THAT(resolve_error("[objective]\nname = \"toy_lm\"\n[model]\narch = \"toy_arch\"\nd_model = 66\n"),
             Contains("exp.toml:3:1: model: d_model must be divisible by n_heads"));
}

TEST_CASE("[[regularisers]] resolve in order", "[config]") {
  const TempDir dir;
  const lmlab::Experiment e = resolve(dir, minimal + R"(
[[regularisers]]
name = "toy_reg"
strength = 0.5

[[regularisers]]
name = "toy_reg"
)");
  REQUIRE(e.regularisers.size() == 2);
  CHECK(e.regularisers[0].options["strength"].value<double>() == 0.5);
  CHECK(e.regularisers[1].options["strength"].value<double>() == 0.1);
  const toml::array& resolved = *e.resolved["regularisers"].as_array();
  REQUIRE(resolved.size() == 2);
  CHECK(resolved[0].as_table()->at_path("name").value<std::string>() == "toy_reg");

  CHECK_THAT(resolve_error(minimal + "\n[[regularisers]]\nname = \"toy_reg\"\n\n[[regularisers]]\nname = "
                                     "\"toy_reg\"\nstrenght = 1\n"),
             Contains("exp.toml:12:1: regularisers[1].strenght: unknown key (did you mean 'strength'?)"));
  CHECK_THAT(resolve_error(minimal + "\n[[regularisers]]\nstrength = 1\n"),
             Contains("regularisers[0].name: missing") && Contains("toy_reg"));
  CHECK_THAT(resolve_error(minimal + "\n[regularisers]\nname = \"toy_reg\"\n"),
             Contains("regularisers: expected an array of tables ([[regularisers]]), got table"));
}

TEST_CASE("[decoding] is a chain of steps, each with its own options table", "[config]") {
  const TempDir dir;
  const lmlab::Experiment e = resolve(dir, minimal + R"(
[decoding]
chain = ["temperature", "sample"]

[decoding.temperature]
value = 0.7
)");
  REQUIRE(e.decoding.size() == 2);
  CHECK(e.decoding[0].name == "temperature");
  CHECK(e.decoding[0].options["value"].value<double>() == 0.7);
  CHECK(e.decoding[1].name == "sample");
  CHECK(strings(e.resolved["decoding"]["chain"].node()) == std::vector<std::string>{"temperature", "sample"});
  CHECK(e.resolved["decoding"]["temperature"]["value"].value<double>() == 0.7);
  CHECK(e.resolved["decoding"]["sample"].is_table());

  // A step without its table takes its defaults.
  const lmlab::Experiment d = resolve(dir, minimal + "\n[decoding]\nchain = [\"temperature\", \"sample\"]\n");
  CHECK(d.decoding[0].options["value"].value<double>() == 1.0);

  CHECK_THAT(resolve_error(minimal + "\n[decoding]\nchain = [\"temperature\", \"sampel\"]\n"),
             Contains("exp.toml:8:25: decoding.chain[1]: unknown decoding step 'sampel' (did you mean 'sample'?)"));
  CHECK_THAT(resolve_error(minimal + "\n[decoding]\nchain = [\"sample\"]\n[decoding.temperature]\nvalue = 2.0\n"),
             Contains("exp.toml:9:11: decoding.temperature: unknown key") && Contains("accepted: chain, eval, sample"));
  CHECK_THAT(resolve_error(minimal + "\n[decoding]\nchain = [\"temperature\", \"sample\"]\ntemperature = 0.5\n"),
             Contains("decoding.temperature: expected a table, got float 0.5"));
  CHECK_THAT(resolve_error(minimal + "\n[decoding]\nchain = [\"temperature\", \"sample\"]\n[decoding.temperature]\n"
                                     "value = 0\n"),
             Contains("exp.toml:10:9: decoding.temperature.value: 0.0 is out of range; accepted: > 0"));
}

TEST_CASE("[[decoding.eval]] adds named configurations, each a chain with its own tables", "[config]") {
  const TempDir dir;
  const std::string two = R"(
[[decoding.eval]]
name = "hot"
chain = ["temperature", "sample"]
temperature = { value = 1.5 }

[[decoding.eval]]
name = "cold"
chain = ["temperature", "sample"]
)";
  // Without [decoding].chain only the named configurations run.
  const lmlab::Experiment e = resolve(dir, minimal + two);
  CHECK(e.decoding.empty());
  REQUIRE(e.decoding_eval.size() == 2);
  CHECK(e.decoding_eval[0].name == "hot");
  CHECK(e.decoding_eval[0].chain[0].options["value"].value<double>() == 1.5);
  CHECK(e.decoding_eval[1].name == "cold");
  CHECK(e.decoding_eval[1].chain[0].options["value"].value<double>() == 1.0);
  const toml::array* resolved = e.resolved["decoding"]["eval"].as_array();
  REQUIRE(resolved);
  REQUIRE(resolved->size() == 2);
  CHECK(resolved->get(0)->as_table()->at_path("temperature.value").value<double>() == 1.5);
  CHECK(resolved->get(1)->as_table()->at_path("name").value<std::string>() == "cold");

  // With it, it is configuration "default", besides the named ones; the hash says which run.
  const lmlab::Experiment both = resolve(dir, minimal + "\n[decoding]\nchain = [\"greedy\"]\n" + two);
  CHECK(both.decoding.size() == 1);
  CHECK(both.decoding_eval.size() == 2);
  CHECK(both.config_hash != e.config_hash);
  // No [[decoding.eval]]: the resolved config has no eval key, so older hashes still hold.
  CHECK_FALSE(resolve(dir, minimal).resolved["decoding"]["eval"]);

  CHECK_THAT(resolve_error(minimal + "\n[[decoding.eval]]\nchain = [\"greedy\"]\n"),
             Contains("decoding.eval[0]: each [[decoding.eval]] needs a `name` and a `chain`"));
  CHECK_THAT(resolve_error(minimal + "\n[[decoding.eval]]\nname = \"a b\"\nchain = [\"greedy\"]\n"),
             Contains("decoding.eval[0].name: 'a b' is not a plain name"));
  CHECK_THAT(resolve_error(minimal + "\n[decoding]\nchain = [\"greedy\"]\n[[decoding.eval]]\nname = \"default\"\n"
                                     "chain = [\"greedy\"]\n"),
             Contains("decoding.eval[0].name: 'default' is taken") && Contains("accepted: a name not among: default"));
  CHECK_THAT(resolve_error(minimal + "\n[[decoding.eval]]\nname = \"x\"\nchain = [\"greedy\"]\ntop_p = { p = 0.5 }\n"),
             Contains("decoding.eval[0].top_p: unknown key") && Contains("accepted: chain, greedy, name"));
  CHECK_THAT(resolve_error(minimal + "\n[[decoding.eval]]\nname = \"x\"\nchain = [\"gredy\"]\n"),
             Contains("decoding.eval[0].chain[0]: unknown decoding step 'gredy' (did you mean 'greedy'?)"));
}

TEST_CASE("a misspelt decoding step or metric is named as such with the closest names, not as an unknown key",
          "[config]") {
  const std::string chain =
      minimal + "\n[decoding]\nchain = [\"temperatur\", \"sample\"]\n[decoding.temperature]\nvalue = 0.8\n";
  const std::string step = resolve_error(chain);
  CHECK_THAT(step, Contains("exp.toml:8:10: decoding.chain[0]: unknown decoding step 'temperatur' (did you mean "
                            "'temperature'?); known decoding step plugins: greedy, sample, temperature"));
  CHECK_THAT(step, !Contains("unknown key"));
  const std::string eval = minimal +
                           "\n[[decoding.eval]]\nname = \"warm\"\nchain = [\"temperatur\", \"sample\"]\n"
                           "[decoding.eval.temperature]\nvalue = 0.8\n";
  CHECK_THAT(resolve_error(eval), Contains("decoding.eval[0].chain[0]: unknown decoding step 'temperatur'"));
  const std::string metric =
      resolve_error(minimal + "\n[metrics]\nnames = [\"toy_cont\"]\n[metrics.toy_count]\nmax_n = 3\n");
  CHECK_THAT(metric,
             Contains("exp.toml:8:10: metrics.names[0]: unknown metric 'toy_cont' (did you mean 'toy_count'?)"));
  CHECK_THAT(metric, !Contains("unknown key"));
  // Objectives, architectures and regularisers were named as such already; kept so.
  CHECK_THAT(resolve_error("[model]\narch = \"toy_ach\"\n[objective]\nname = \"toy_lm\"\n"),
             Contains("model.arch: unknown architecture 'toy_ach' (did you mean 'toy_arch'?)"));
  CHECK_THAT(resolve_error("[model]\narch = \"toy_arch\"\n[objective]\nname = \"toy_ln\"\n"),
             Contains("objective.name: unknown objective 'toy_ln' (did you mean 'toy_lm'?)"));
  CHECK_THAT(resolve_error(minimal + "\n[[regularisers]]\nname = \"toy_rge\"\n"),
             Contains("regularisers[0].name: unknown regulariser 'toy_rge' (did you mean 'toy_reg'?)"));
}

TEST_CASE("[metrics] names the metrics with their options; by default every loaded metric", "[config]") {
  const TempDir dir;
  const lmlab::Experiment all = resolve(dir, minimal);
  REQUIRE(all.metrics.size() == 2);
  CHECK(all.metrics[0].name == "toy_count");
  CHECK(all.metrics[1].options["max_n"].value<std::int64_t>() == 2);
  CHECK(strings(all.resolved["metrics"]["names"].node()) == std::vector<std::string>{"toy_count", "toy_rep"});

  const lmlab::Experiment one = resolve(dir, minimal + "\n[metrics]\nnames = [\"toy_rep\"]\ntoy_rep = { max_n = 4 }\n");
  REQUIRE(one.metrics.size() == 1);
  CHECK(one.metrics[0].options["max_n"].value<std::int64_t>() == 4);
  CHECK(resolve(dir, minimal + "\n[metrics]\nnames = []\n").metrics.empty());
  // Sweepable like any plugin option.
  CHECK(resolve(dir, minimal, {"metrics.toy_rep.max_n=3"}).metrics[1].options["max_n"].value<std::int64_t>() == 3);

  CHECK_THAT(resolve_error(minimal + "\n[metrics]\nnames = [\"toy_cuont\"]\n"),
             Contains("exp.toml:8:10: metrics.names[0]: unknown metric 'toy_cuont' (did you mean 'toy_count'?)"));
  CHECK_THAT(resolve_error(minimal + "\n[metrics]\nnames = [\"toy_rep\", \"toy_rep\"]\n"),
             Contains("metrics.names[1]: 'toy_rep' is listed twice"));
  CHECK_THAT(resolve_error(minimal + "\n[metrics]\nnames = [\"toy_rep\"]\ntoy_count = { max_n = 2 }\n"),
             Contains("metrics.toy_count: unknown key") && Contains("accepted: names, toy_rep"));
  CHECK_THAT(resolve_error(minimal + "\n[metrics]\ntoy_rep = { max_n = 0 }\n"),
             Contains("metrics.toy_rep.max_n: 0 is out of range; accepted: >= 1"));
}

TEST_CASE("without [decoding] the chain is greedy, or empty if no greedy step is loaded", "[config]") {
  const TempDir dir;
  CHECK(resolve(dir, minimal, {}, make_registry(false)).decoding.empty());
}

TEST_CASE("base files inherit two levels deep; the including file wins", "[config]") {
  const TempDir dir;
  write_file(dir / "common/base.toml", R"([model]
arch = "toy_arch"
d_model = 32
n_heads = 2

[objective]
name = "toy_lm"

[train]
lr = 0.01
steps = 100
)");
  write_file(dir / "common/mid.toml", R"(base = "base.toml"
[model]
n_layers = 3
[train]
steps = 50
warmup = 5
)");
  write_file(dir / "exp/run.toml", "base = \"../common/mid.toml\"\n[train]\nsteps = 20\n");
  const toml::table config = lmlab::load_experiment_file(dir / "exp/run.toml");
  CHECK_FALSE(config.contains("base"));
  const lmlab::Experiment e = lmlab::resolve_experiment(config, make_registry(), "run.toml");
  CHECK(e.train.steps == 20);
  CHECK(e.train.warmup == 5);
  CHECK(e.train.lr == 0.01);
  CHECK(e.model.options["n_layers"].value<std::int64_t>() == 3);
  CHECK(e.model.options["d_model"].value<std::int64_t>() == 32);
  CHECK(e.model.options["n_heads"].value<std::int64_t>() == 2);
}

TEST_CASE("errors in inherited values point into the file they came from", "[config]") {
  const TempDir dir;
  write_file(dir / "base.toml", "[objective]\nname = \"toy_lm\"\n\n[model]\narch = \"toy_arch\"\nd_modle = 32\n");
  write_file(dir / "exp.toml", "base = \"base.toml\"\n[model]\nn_layers = 0\n");
  const toml::table config = lmlab::load_experiment_file(dir / "exp.toml");
  CHECK_THAT(config_error_of([&] { lmlab::resolve_experiment(config, make_registry(), "exp.toml"); }),
             Contains("base.toml:6:1: model.d_modle: unknown key"));

  write_file(dir / "base.toml", "[objective]\nname = \"toy_lm\"\n\n[model]\narch = \"toy_arch\"\n");
  const toml::table fixed = lmlab::load_experiment_file(dir / "exp.toml");
  CHECK_THAT(config_error_of([&] { lmlab::resolve_experiment(fixed, make_registry(), "exp.toml"); }),
             Contains("exp.toml:3:12: model.n_layers: 0 is out of range"));
}

TEST_CASE("base cycles, missing and malformed base files are reported", "[config]") {
  const TempDir dir;
  write_file(dir / "a.toml", "base = \"b.toml\"\n");
  write_file(dir / "b.toml", "\nbase = \"a.toml\"\n");
  CHECK_THAT(config_error_of([&] { lmlab::load_experiment_file(dir / "a.toml"); }),
             Contains("b.toml:2:8: base: inheritance cycle:") && Contains("a.toml -> ") && Contains("b.toml -> "));

  write_file(dir / "self.toml", "base = \"self.toml\"\n");
  CHECK_THAT(config_error_of([&] { lmlab::load_experiment_file(dir / "self.toml"); }), Contains("inheritance cycle"));

  write_file(dir / "orphan.toml", "base = \"missing.toml\"\n");
  CHECK_THAT(config_error_of([&] { lmlab::load_experiment_file(dir / "orphan.toml"); }),
             Contains("orphan.toml:1:8: base: cannot read experiment file") && Contains("missing.toml"));

  write_file(dir / "typed.toml", "base = 3\n");
  CHECK_THAT(config_error_of([&] { lmlab::load_experiment_file(dir / "typed.toml"); }),
             Contains("typed.toml:1:8: base: expected a string, got integer 3"));

  CHECK_THAT(config_error_of([&] { lmlab::load_experiment_file(dir / "nowhere.toml"); }),
             Contains("cannot read experiment file") && Contains("nowhere.toml"));
  CHECK_THAT(config_error_of([&] { lmlab::load_experiment_file(dir / "nowhere.toml"); }),
             Contains("nowhere.toml': no such file"));
  CHECK_THAT(config_error_of([&] { lmlab::load_experiment_file(dir / "orphan.toml"); }),
             Contains("missing.toml': no such file"));

  write_file(dir / "folder.toml", "\nbase = \"sub\"\n");
  write_file(dir / "sub/inner.toml", "");
  CHECK_THAT(config_error_of([&] { lmlab::load_experiment_file(dir / "folder.toml"); }),
             Contains("folder.toml:2:8: base: cannot read experiment file") && Contains("not a regular file"));
}

TEST_CASE("plugin_paths_of reads experiment.plugin_paths early, with type checks", "[config]") {
  CHECK(lmlab::plugin_paths_of(toml::table{}).empty());
  CHECK(lmlab::plugin_paths_of(toml::parse("[experiment]\nplugin_paths = [\"a\", \"b/c\"]\n")) ==
        std::vector<std::string>{"a", "b/c"});
  CHECK_THAT(config_error_of([] { lmlab::plugin_paths_of(toml::parse("[experiment]\nplugin_paths = \"a\"\n")); }),
             Contains("experiment.plugin_paths: expected an array of strings"));
  CHECK_THAT(config_error_of([] { lmlab::plugin_paths_of(toml::parse("experiment = 1\n")); }),
             Contains("experiment: expected a table"));
}

TEST_CASE("hash_text is 64-bit FNV-1a in 16 hex digits", "[config]") {
  CHECK(lmlab::hash_text("") == "cbf29ce484222325");
  CHECK(lmlab::hash_text("a") == "af63dc4c8601ec8c");
}

TEST_CASE("the config hash ignores layout and spelled-out defaults, and follows values", "[config]") {
  const TempDir dir;
  const std::string base = resolve(dir, minimal + "\n[train]\nlr = 0.001\nsteps = 500\n").config_hash;
  const std::string reordered = resolve(dir, R"(# the same experiment, laid out differently
[train]
steps = 500   # fewer steps
lr = 1e-3
warmup = 100  # the default, spelled out

[objective]
name = "toy_lm"

[model]
d_model = 64
arch = "toy_arch"
)")
                                    .config_hash;
  CHECK(reordered == base);
  const std::string inline_tables = resolve(dir,
                                            "model = { arch = \"toy_arch\", d_model = 64 }\n"
                                            "objective = { name = \"toy_lm\" }\n"
                                            "train = { steps = 500, lr = 1e-3 }\n")
                                        .config_hash;
  CHECK(inline_tables == base);
  CHECK(resolve(dir, minimal, {"train.steps=500", "train.lr=0.001"}).config_hash == base);

  CHECK(resolve(dir, minimal + "\n[train]\nlr = 0.001\nsteps = 501\n").config_hash != base);
  CHECK(resolve(dir, minimal + "\n[train]\nlr = 0.002\nsteps = 500\n").config_hash != base);
  CHECK(resolve(dir, minimal + "\n[train]\nlr = 0.001\nsteps = 500\n", {"model.n_layers=3"}).config_hash != base);
  CHECK(resolve(dir, minimal + "\n[train]\nlr = 0.001\nsteps = 500\n", {"experiment.seed=1"}).config_hash != base);
}

TEST_CASE("train.global_batch_size splits over the processes and keeps the run's identity", "[config]") {
  const TempDir dir;
  const auto at_world = [&](const std::string& train, std::int64_t world) {
    write_file(dir / "exp.toml", minimal + "\n[train]\n" + train);
    return lmlab::resolve_experiment(lmlab::load_experiment_file(dir / "exp.toml"), make_registry(),
                                     (dir / "exp.toml").string(), world);
  };
  const lmlab::Experiment per_process = at_world("batch_size = 8\n", 1);
  const lmlab::Experiment one = at_world("global_batch_size = 8\n", 1), four = at_world("global_batch_size = 8\n", 4);
  CHECK(one.train.batch_size == 8);
  CHECK(four.train.batch_size == 2);
  // The same rows per step are the same run, however the file states them and on any world size.
  CHECK(one.config_hash == per_process.config_hash);
  CHECK(four.config_hash == per_process.config_hash);
  CHECK(at_world("batch_size = 2\n", 4).config_hash == per_process.config_hash);
  CHECK(at_world("global_batch_size = 16\n", 4).config_hash != per_process.config_hash);
  // The resolved config says how the file stated it; a file without it reads as before.
  CHECK(four.resolved["train"]["global_batch_size"].value<std::int64_t>() == 8);
  CHECK_FALSE(per_process.resolved["train"].as_table()->contains("global_batch_size"));
  // The resolved config, as a checkpoint stores it, resolves again (generate and export do so) to
  // the same run on any world size.
  for (const std::int64_t world : {1, 4}) {
    const lmlab::Experiment again = lmlab::resolve_experiment(four.resolved, make_registry(), "ckpt:config", world);
    CHECK(again.train.batch_size == 8 / world);
    CHECK(again.config_hash == per_process.config_hash);
  }

  CHECK_THAT(config_error_of([&] { at_world("global_batch_size = 8\n", 3); }),
             Contains("exp.toml:8:21: train.global_batch_size: 8 rows do not split evenly over 3 processes") &&
                 Contains("accepted: a multiple of 3"));
  CHECK_THAT(config_error_of([&] { at_world("global_batch_size = 8\nbatch_size = 4\n", 1); }),
             Contains("exp.toml:9:14: train.batch_size: given with train.global_batch_size (8, at ") &&
                 Contains("give one of the two"));
  CHECK_THAT(resolve_error(minimal + "\n[train]\nglobal_batch_size = -1\n"), Contains("train.global_batch_size"));
}

}  // namespace config_tests
