// From a file to validated runs: sweep points, run names and override order.
#include "support/catch.hpp"

#include <algorithm>
#include <set>

#include "experiment/experiment_loader.hpp"
#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"
#include "support/test_support.hpp"

namespace experiment_loader_tests {

namespace fs = std::filesystem;

namespace {
const char* sweep_file = R"([experiment]
name = "sweep"
seed = 3

[model]
arch = "causal_decoder"

[objective]
name = "causal_lm"

[sweep]
grid = { "model.n_layers" = [2, 4], "train.lr" = [1e-3, 3e-4] }
seeds = [1, 2]
)";
}  // namespace

TEST_CASE("a sweep expands to grid x seeds runs, each validated and named by its point") {
  lmlab::test::TempDir dir;
  lmlab::test::write_file(dir / "sweep.toml", sweep_file);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const auto runs = lmlab::load_runs(dir / "sweep.toml", {}, loader, registry);
  REQUIRE(runs.size() == 8);
  std::set<std::string> names, hashes;
  for (const auto& r : runs) {
    names.insert(r.run_name);
    hashes.insert(r.config_hash);
    CHECK(r.run_name.ends_with(std::string("-").append(r.run_id, 0, 8)));
  }
  CHECK(names.size() == 8);
  CHECK(hashes.size() == 8);
  CHECK(runs.front().run_name.starts_with("n_layers=2,lr=0.001,seed=1-"));
  CHECK(runs.front().model.options["n_layers"].value<std::int64_t>() == 2);

  // The command line has the last word over the file, but may not override a sweep axis: the
  // points of that axis would all be one run under different names.
  const auto forced = lmlab::load_runs(dir / "sweep.toml", {"model.d_model=64"}, loader, registry);
  for (const auto& r : forced) CHECK(r.model.options["d_model"].value<std::int64_t>() == 64);
  REQUIRE_THROWS_WITH(lmlab::load_runs(dir / "sweep.toml", {"model.n_layers=6"}, loader, registry),
                      Catch::Contains("model.n_layers") && Catch::Contains("[sweep] axis"));
}

TEST_CASE("a run's identity covers its config and its plugin libraries, not the file's key order or layout") {
  lmlab::test::TempDir dir;
  lmlab::test::write_file(dir / "sweep.toml", sweep_file);
  // The same sweep written differently: other key order, inline tables, comments, float spelling.
  lmlab::test::write_file(dir / "same.toml", R"(# the same experiment
[sweep]
seeds = [1, 2]
grid = { "train.lr" = [0.001, 3.0e-4], "model.n_layers" = [2, 4] }

[objective]
name = "causal_lm"   # the default objective

[model]
arch = "causal_decoder"

[experiment]
seed = 3
name = "sweep"
)");
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const auto runs = lmlab::load_runs(dir / "sweep.toml", {}, loader, registry);
  const auto same = lmlab::load_runs(dir / "same.toml", {}, loader, registry);
  REQUIRE(same.size() == runs.size());
  std::set<std::string> a, b;
  for (const auto& r : runs) a.insert(r.run_name + " " + r.run_id);
  for (const auto& r : same) b.insert(r.run_name + " " + r.run_id);
  CHECK(a == b);
  const lmlab::Experiment& run = runs.front();
  CHECK(run.run_id.size() == 16);
  CHECK(run.run_id != run.config_hash);
  // One line per plugin used, each with its library's content hash.
  REQUIRE_FALSE(run.plugin_hashes.empty());
  const auto architecture = std::find_if(run.plugin_hashes.begin(), run.plugin_hashes.end(),
                                         [](const std::string& l) { return l.starts_with("architecture causal_decoder "); });
  REQUIRE(architecture != run.plugin_hashes.end());
  CHECK(architecture->size() == std::string("architecture causal_decoder ").size() + 16);
  CHECK(std::any_of(run.plugin_hashes.begin(), run.plugin_hashes.end(),
                    [](const std::string& l) { return l.starts_with("objective causal_lm "); }));
  // Another value gives another identity.
  const auto other = lmlab::load_runs(dir / "sweep.toml", {"model.d_model=64"}, loader, registry);
  CHECK(other.front().run_id != run.run_id);
}

TEST_CASE("points an exclude entry matches are left out, and handed back for a dry run") {
  lmlab::test::TempDir dir;
  std::string text = sweep_file;
  text += "exclude = [{ \"model.n_layers\" = 4, \"train.lr\" = 3e-4 }]\n";
  lmlab::test::write_file(dir / "sweep.toml", text);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  std::vector<lmlab::SweepPoint> excluded;
  const auto runs = lmlab::load_runs(dir / "sweep.toml", {}, loader, registry, &excluded);
  CHECK(runs.size() == 6);
  REQUIRE(excluded.size() == 2);
  CHECK(excluded[0].label == "n_layers=4,lr=0.0003,seed=1");
  CHECK_THAT(excluded[0].excluded, Catch::Contains("sweep.exclude[0] = {"));
}

TEST_CASE("a decoding chain that cannot pick a token is refused at validation") {
  lmlab::test::TempDir dir;
  std::string text = sweep_file;
  text = text.substr(0, text.find("[sweep]")) + "[decoding]\nchain = [\"temperature\"]\n";
  lmlab::test::write_file(dir / "chain.toml", text);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  REQUIRE_THROWS_AS(lmlab::load_runs(dir / "chain.toml", {}, loader, registry), lmlab::ConfigError);
  REQUIRE_THROWS_WITH(lmlab::load_runs(dir / "chain.toml", {}, loader, registry),
                      Catch::Contains("chain.toml: decoding.chain:") && Catch::Contains("temperature"));
}

TEST_CASE("a bad sweep point fails before any run starts") {
  lmlab::test::TempDir dir;
  std::string text = sweep_file;
  text.replace(text.find("[2, 4]"), 6, "[2, -4]");
  lmlab::test::write_file(dir / "sweep.toml", text);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  CHECK_THROWS_AS(lmlab::load_runs(dir / "sweep.toml", {}, loader, registry), lmlab::ConfigError);
}

TEST_CASE("a sweep point whose experiment.name would leave results_dir is refused before any run starts") {
  lmlab::test::TempDir dir;
  std::string text = sweep_file;
  text.replace(text.find("seeds = [1, 2]"), 14, "seeds = [1, 2]\narm = [{name = \"a\", set = {\"experiment.name\" = \"../up\"}}]");
  lmlab::test::write_file(dir / "sweep.toml", text);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  REQUIRE_THROWS_WITH(lmlab::load_runs(dir / "sweep.toml", {}, loader, registry),
                      Catch::Contains("experiment.name: \"../up\" is not one folder name: it contains '/'"));
}

TEST_CASE("an objective or a decoding chain the architecture cannot serve is refused at validation") {
  lmlab::test::TempDir dir;
  std::string text = sweep_file;
  text = text.substr(0, text.find("[sweep]"));
  text.replace(text.find("causal_decoder"), 14, "encoder_only");
  lmlab::test::write_file(dir / "bidirectional.toml", text);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  // causal_lm on a model that sees the future would learn to copy: the error says which
  // architectures it can train, and where the objective was chosen.
  REQUIRE_THROWS_AS(lmlab::load_runs(dir / "bidirectional.toml", {}, loader, registry), lmlab::ConfigError);
  REQUIRE_THROWS_WITH(lmlab::load_runs(dir / "bidirectional.toml", {}, loader, registry),
                      Catch::Contains("bidirectional.toml:9:8:") && Catch::Contains("objective.name") &&
                          Catch::Contains("objective 'causal_lm' needs an architecture that generates, has no encoder and takes no prefix lengths") &&
                          Catch::Contains("'encoder_only' does not generate") &&
                          Catch::Contains("compatible architectures: causal_decoder"));
  REQUIRE_THROWS_WITH(lmlab::load_runs(dir / "bidirectional.toml", {"model.arch=encoder_decoder"}, loader, registry),
                      Catch::Contains("'encoder_decoder' has an encoder"));
  REQUIRE_THROWS_WITH(lmlab::load_runs(dir / "bidirectional.toml", {"model.arch=prefix_decoder"}, loader, registry),
                      Catch::Contains("'prefix_decoder' takes prefix lengths"));
  CHECK(lmlab::load_runs(dir / "bidirectional.toml", {"model.arch=causal_decoder"}, loader, registry).size() == 1);
}

TEST_CASE("an arm that picks another objective or architecture may set that plugin's options") {
  lmlab::test::TempDir dir;
  const std::string arms = R"(
[[sweep.arm]]
name = "mle"
[[sweep.arm]]
name = "ul"
set = { "objective.name" = "unlikelihood_token", "objective.alpha" = 0.5 }
[[sweep.arm]]
name = "prefix"
set = { "model.arch" = "prefix_decoder", "model.n_layers" = 1, "objective.name" = "prefix_lm" }
)";
  lmlab::test::write_file(dir / "arms.toml", std::string(sweep_file).substr(0, std::string(sweep_file).find("[sweep]")) + arms);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const auto runs = lmlab::load_runs(dir / "arms.toml", {}, loader, registry);
  REQUIRE(runs.size() == 3);
  // An arm that picks a composite objective may set its tasks' options.
  lmlab::test::write_file(dir / "tasks.toml", std::string(sweep_file).substr(0, std::string(sweep_file).find("[sweep]")) +
                                                  "[[sweep.arm]]\nname = \"mix\"\nset = { \"objective.name\" = \"multitask\", "
                                                  "\"objective.tasks\" = [\"causal_lm\", \"unlikelihood_token\"], "
                                                  "\"objective.unlikelihood_token\" = { alpha = 0.25 } }\n");
  const auto mixed = lmlab::load_runs(dir / "tasks.toml", {}, loader, registry);
  REQUIRE(mixed.size() == 1);
  CHECK(mixed.front().objective.tasks.at(1).options["alpha"].value<double>() == 0.25);
  // Without picking it, the option is the file's objective's, which has none by that name.
  lmlab::test::write_file(dir / "bad.toml", std::string(sweep_file).substr(0, std::string(sweep_file).find("[sweep]")) +
                                                "[[sweep.arm]]\nname = \"a\"\nset = { \"objective.alpha\" = 0.5 }\n");
  CHECK_THROWS_WITH(lmlab::load_runs(dir / "bad.toml", {}, loader, registry),
                    Catch::Contains("sweep.arm[0].set.\"objective.alpha\": 'objective.alpha' is not an option"));
}

TEST_CASE("init_from = '@arm=...' names the same-seed run of another arm, whose checkpoint starts it") {
  lmlab::test::TempDir dir;
  const std::string head = std::string(sweep_file).substr(0, std::string(sweep_file).find("[sweep]"));
  const std::string arms = R"(
[sweep]
grid = { "train.lr" = [1e-3, 3e-4] }
seeds = [1, 2]
[[sweep.arm]]
name = "tuned"
set = { "train.init_from" = "@arm=mle" }
[[sweep.arm]]
name = "mle"
[[sweep.arm]]
name = "twice"
set = { "train.init_from" = "@arm=tuned,lr=0.001" }
)";
  lmlab::test::write_file(dir / "stages.toml", head + arms);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const auto runs = lmlab::load_runs(dir / "stages.toml", {}, loader, registry);
  REQUIRE(runs.size() == 12);
  const auto named = [&](const std::string& point) -> const lmlab::Experiment& {
    const auto it = std::find_if(runs.begin(), runs.end(), [&](const auto& r) { return r.run_name.starts_with(point + "-"); });
    REQUIRE(it != runs.end());
    return *it;
  };
  // Sweep order is kept although "tuned" comes first and is resolved after "mle".
  CHECK(runs.front().run_name.starts_with("arm=tuned,lr=0.001,seed=1-"));
  const auto& mle = named("arm=mle,lr=0.0003,seed=2");
  const auto& tuned = named("arm=tuned,lr=0.0003,seed=2");
  CHECK(tuned.train.init_from == (fs::path("results") / "sweep" / (mle.run_name + ".ckpt")).string());
  // Axes the reference does not name keep the run's own value; those it names take the given one.
  CHECK(named("arm=twice,lr=0.0003,seed=1").train.init_from ==
        (fs::path("results") / "sweep" / (named("arm=tuned,lr=0.001,seed=1").run_name + ".ckpt")).string());
  // The base run's identity is in the path, so another base gives the fine-tuned run another identity.
  const auto other = lmlab::load_runs(dir / "stages.toml", {"model.d_model=64"}, loader, registry);
  CHECK(other.front().run_id != runs.front().run_id);

  const auto refused = [&](const std::string& set, const std::string& grid) {
    lmlab::test::write_file(dir / "bad.toml", head + "[sweep]\n" + grid + "seeds = [1]\n[[sweep.arm]]\nname = \"a\"\n" +
                                                  "set = { \"train.init_from\" = \"" + set + "\" }\n[[sweep.arm]]\nname = \"b\"\n");
    try {
      lmlab::load_runs(dir / "bad.toml", {}, loader, registry);
    } catch (const lmlab::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // Errors point at the arm's entry in the file, and list the values the named axes have.
  CHECK_THAT(refused("@arm=c", ""), Catch::Contains("bad.toml:") &&
                                        Catch::Contains("train.init_from: '@arm=c' from run arm=a,seed=1: no run of this "
                                                        "sweep has those values") &&
                                        Catch::Contains("accepted: arm = a | b"));
  CHECK_THAT(refused("@depth=2", ""), Catch::Contains("'depth' is not an axis of this sweep") && Catch::Contains("arm"));
  CHECK_THAT(refused("@arm=a", ""), Catch::Contains("names this run itself"));
  CHECK_THAT(refused("@arm", ""), Catch::Contains("write '@axis=value[,axis=value]'"));
  // Two arms starting from each other.
  lmlab::test::write_file(dir / "cycle.toml", head + "[sweep]\n[[sweep.arm]]\nname = \"a\"\nset = { \"train.init_from\" = \"@arm=b\" }\n"
                                                     "[[sweep.arm]]\nname = \"b\"\nset = { \"train.init_from\" = \"@arm=a\" }\n");
  CHECK_THROWS_WITH(lmlab::load_runs(dir / "cycle.toml", {}, loader, registry), Catch::Contains("in a cycle"));
  // Without a sweep there is no run to name.
  lmlab::test::write_file(dir / "single.toml", head + "[train]\ninit_from = \"@arm=mle\"\n");
  CHECK_THROWS_WITH(lmlab::load_runs(dir / "single.toml", {}, loader, registry),
                    Catch::Contains("single.toml:") && Catch::Contains("names a run of a sweep, but") && Catch::Contains("has no [sweep]"));
}

}  // namespace experiment_loader_tests
