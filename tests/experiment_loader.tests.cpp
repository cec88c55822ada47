// From a file to validated runs: sweep points, run names and override order.
#include "support/catch.hpp"

#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"
#include "lmlab/experiment_loader.hpp"
#include "support/test_support.hpp"

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
    CHECK(r.run_name.ends_with("-" + r.config_hash.substr(0, 8)));
  }
  CHECK(names.size() == 8);
  CHECK(hashes.size() == 8);
  CHECK(runs.front().run_name.starts_with("n_layers=2,lr=0.001,seed=1-"));
  CHECK(runs.front().model.options["n_layers"].value<std::int64_t>() == 2);

  // The command line has the last word, over the sweep point.
  const auto forced = lmlab::load_runs(dir / "sweep.toml", {"model.n_layers=6"}, loader, registry);
  for (const auto& r : forced) CHECK(r.model.options["n_layers"].value<std::int64_t>() == 6);
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
