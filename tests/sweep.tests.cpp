// [sweep] expansion: the grid's product times the seeds, labels, and the shape checks.
#include "support/catch.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "experiment/config.hpp"
#include "experiment/experiment_schema.hpp"
#include "experiment/sweep.hpp"
#include "lmlab/options.hpp"
#include "support/config_fixtures.hpp"

namespace sweep_tests {

using Catch::Contains;
using lmlab::test::config_error_of;
using lmlab::test::make_registry;
using lmlab::test::minimal;
using lmlab::test::parse_exp;
using lmlab::test::resolve_error;

namespace {

std::string sweep_error(const std::string& sweep) {
  return config_error_of([&] { lmlab::expand_sweep(parse_exp(minimal + "\n[sweep]\n" + sweep)); });
}

}  // namespace

TEST_CASE("a file without [sweep] is a single run", "[sweep]") {
  const auto points = lmlab::expand_sweep(parse_exp(minimal));
  REQUIRE(points.size() == 1);
  CHECK(points[0].overrides.empty());
  CHECK(points[0].label.empty());
}

TEST_CASE("[sweep] is the grid's product in key order, times the seeds", "[sweep]") {
  const std::string text = minimal + R"(
[sweep]
grid = { "train.lr" = [1e-3, 3e-4], "model.n_layers" = [2, 4] }
seeds = [1, 2]
)";
  const auto points = lmlab::expand_sweep(parse_exp(text));
  REQUIRE(points.size() == 8);
  CHECK(points[0].label == "n_layers=2,lr=0.001,seed=1");
  CHECK(points[0].overrides == std::vector<std::string>{"model.n_layers=2", "train.lr=0.001", "experiment.seed=1"});
  CHECK(points[1].label == "n_layers=2,lr=0.001,seed=2");
  CHECK(points[2].label == "n_layers=2,lr=0.0003,seed=1");
  CHECK(points[7].label == "n_layers=4,lr=0.0003,seed=2");

  // Each point's overrides, applied to the file, give the values its label names.
  std::vector<std::string> hashes;
  for (const auto& point : points) {
    toml::table config = parse_exp(text);
    lmlab::apply_overrides(config, point.overrides);
    const lmlab::Experiment e = lmlab::resolve_experiment(config, make_registry(), "exp.toml");
    const std::string label = "n_layers=" + std::to_string(e.model.options["n_layers"].value<std::int64_t>().value()) +
                              ",lr=" + lmlab::detail::format_float(e.train.lr) +
                              ",seed=" + std::to_string(e.experiment.seed);
    CHECK(label == point.label);
    hashes.push_back(e.config_hash);
  }
  std::sort(hashes.begin(), hashes.end());
  CHECK(std::unique(hashes.begin(), hashes.end()) == hashes.end());
}

TEST_CASE("sweep values of any TOML type round-trip; clashing label keys stay whole", "[sweep]") {
  const std::string text = minimal + R"(
[sweep.grid]
"train.schedule" = ["linear", "constant"]
"decoding.chain" = [["greedy"], ["temperature", "sample"]]
"train.batch_size" = [8]
"eval.batch_size" = [0]
)";
  const auto points = lmlab::expand_sweep(parse_exp(text));
  REQUIRE(points.size() == 4);
  CHECK(points[0].label == "chain=greedy,eval.batch_size=0,train.batch_size=8,schedule=linear");
  CHECK(points[3].label == "chain=temperature+sample,eval.batch_size=0,train.batch_size=8,schedule=constant");
  toml::table config = parse_exp(text);
  lmlab::apply_overrides(config, points[3].overrides);
  const lmlab::Experiment e = lmlab::resolve_experiment(config, make_registry(), "exp.toml");
  CHECK(e.train.schedule == "constant");
  REQUIRE(e.decoding.size() == 2);
  CHECK(e.decoding[1].name == "sample");
  CHECK(e.train.batch_size == 8);
}

TEST_CASE("badly shaped [sweep] tables are rejected with their position", "[sweep]") {
  CHECK_THAT(sweep_error("gird = {}\n"), Contains("exp.toml:8:1: sweep.gird: unknown key (did you mean 'grid'?); "
                                                 "accepted: arm, exclude, grid, seeds, zip"));
  CHECK_THAT(sweep_error("grid = 3\n"), Contains("exp.toml:8:8: sweep.grid: expected a table, got integer 3"));
  CHECK_THAT(sweep_error("grid = { \"model.n_layers\" = [] }\n"),
             Contains("sweep.grid.\"model.n_layers\": has no values"));
  CHECK_THAT(sweep_error("grid = { \"model.n_layers\" = 2 }\n"),
             Contains("sweep.grid.\"model.n_layers\": expected a non-empty array of values, got integer 2"));
  CHECK_THAT(sweep_error("grid = { layers = [1, 2] }\n"), Contains("sweep.grid.layers: an axis is the dotted path"));
  CHECK_THAT(sweep_error("grid = { \"model.n_layers\" = [2, 2] }\n"), Contains("[1]: 2 appears twice"));
  CHECK_THAT(sweep_error("seeds = [1, \"2\"]\n"),
             Contains("exp.toml:8:13: sweep.seeds[1]: expected an integer, got string \"2\""));
  CHECK_THAT(sweep_error("seeds = []\n"), Contains("sweep.seeds: has no seeds"));
  CHECK_THAT(sweep_error("seeds = [1, 1]\n"), Contains("sweep.seeds[1]: 1 appears twice"));
  CHECK_THAT(sweep_error("seeds = 1\n"), Contains("sweep.seeds: expected a non-empty array of integers"));
  CHECK_THAT(sweep_error("seeds = [1]\ngrid = { \"experiment.seed\" = [1, 2] }\n"), Contains("already a grid axis"));
  CHECK_THAT(config_error_of([] { lmlab::expand_sweep(parse_exp("sweep = 3\n")); }),
             Contains("sweep: expected a table"));
}

TEST_CASE("resolving checks that every sweep axis names an option", "[sweep]") {
  CHECK_THAT(resolve_error(minimal + "\n[sweep]\ngrid = { \"model.n_layrs\" = [2, 4] }\n"),
             Contains("exp.toml:8:28: sweep.grid.\"model.n_layrs\": 'model.n_layrs' is not an option") &&
                 Contains("did you mean 'n_layers'?") && Contains("accepted: arch, d_model, dropout, from, n_heads"));
  CHECK_THAT(resolve_error(minimal + "\n[sweep]\ngrid = { \"decoding.temperature.valeu\" = [0.5] }\n"),
             Contains("'decoding.temperature.valeu' is not an option") && Contains("did you mean 'value'?"));
  CHECK_THAT(resolve_error(minimal + "\n[sweep]\ngrid = { \"regularisers.strength\" = [0.5] }\n"),
             Contains("sweep.grid.\"regularisers.strength\": 'regularisers.strength' is not an option"));
  CHECK_THAT(resolve_error(minimal + "\n[sweep]\nseeds = [-1]\n"), Contains("sweep.seeds[0]: -1 is out of range"));

  // A sweep point's config already holds the bad axis; the error still points into [sweep].
  const toml::table file = parse_exp(minimal + "\n[sweep]\ngrid = { \"model.n_layrs\" = [2, 4] }\n");
  toml::table point = parse_exp(minimal + "\n[sweep]\ngrid = { \"model.n_layrs\" = [2, 4] }\n");
  lmlab::apply_overrides(point, lmlab::expand_sweep(file).front().overrides);
  CHECK_THAT(config_error_of([&] { lmlab::resolve_experiment(point, make_registry(), "exp.toml"); }),
             Contains("exp.toml:8:28: sweep.grid.\"model.n_layrs\""));

  const lmlab::Experiment e = lmlab::resolve_experiment(
      parse_exp(minimal +
                "\n[sweep]\ngrid = { \"model.arch\" = [\"toy_arch\"], \"decoding.chain\" = [[\"sample\"]] }\n"),
      make_registry(), "exp.toml");
  CHECK(e.model.name == "toy_arch");
}

TEST_CASE("file_safe_label keeps label characters and replaces the rest", "[sweep]") {
  CHECK(lmlab::file_safe_label("") == "");
  CHECK(lmlab::file_safe_label("n_layers=4,lr=0.0003,seed=2") == "n_layers=4,lr=0.0003,seed=2");
  CHECK(lmlab::file_safe_label("chain=temperature+sample,eval.batch_size=0") ==
        "chain=temperature+sample,eval.batch_size=0");
  CHECK(lmlab::file_safe_label("a/b\\c") == "a_b_c");
  CHECK(lmlab::file_safe_label(std::string("a\0b", 3)) == "a_b");
  CHECK(lmlab::file_safe_label("tab\there\nnl\x7f") == "tab_here_nl_");
  CHECK(lmlab::file_safe_label(".hidden") == "_hidden");
  CHECK(lmlab::file_safe_label("..") == "_.");
  CHECK(lmlab::file_safe_label("a b:c*?\"<>|") == "a_b_c______");
  CHECK(lmlab::file_safe_label("caf\xc3\xa9") == "caf__");
  CHECK(lmlab::file_safe_label(std::string(200, 'x')) == std::string(lmlab::max_label_bytes, 'x'));
  CHECK(lmlab::max_label_bytes == 120);
}

TEST_CASE("sweep labels cannot make folders or hidden files; long ones are cut, hashes stay apart", "[sweep]") {
  // data.corpus is a free string (a folder or a corpus name), so every value resolves.
  const std::string long_a(150, 'a');
  const std::string text = minimal + R"(
[sweep.grid]
"data.corpus" = ["../../etc/passwd", "a\\b", "tab\there\u001Fx", "caf\u00E9 x:y", ")" + long_a + R"(1", ")" +
                       long_a + R"(2"]
)";
  const auto points = lmlab::expand_sweep(parse_exp(text));
  REQUIRE(points.size() == 6);
  CHECK(points[0].label == "corpus=.._.._etc_passwd");
  CHECK(points[1].label == "corpus=a_b");
  CHECK(points[2].label == "corpus=tab_here_x");
  CHECK(points[3].label == "corpus=caf___x_y");
  CHECK(points[4].label == "corpus=" + std::string(lmlab::max_label_bytes - 7, 'a'));
  CHECK(points[5].label == points[4].label);
  for (const auto& point : points) {
    CHECK(point.label.size() <= lmlab::max_label_bytes);
    CHECK(point.label.find_first_of(std::string("/\\\0", 3)) == std::string::npos);
  }

  // Only the label is sanitised: the override still sets the value as written.
  CHECK(points[0].overrides == std::vector<std::string>{"data.corpus='../../etc/passwd'"});
  std::vector<std::string> corpora, hashes;
  for (const auto& point : points) {
    toml::table config = parse_exp(text);
    lmlab::apply_overrides(config, point.overrides);
    const lmlab::Experiment e = lmlab::resolve_experiment(config, make_registry(), "exp.toml");
    corpora.push_back(e.data.corpus);
    hashes.push_back(e.config_hash);
  }
  CHECK(corpora[0] == "../../etc/passwd");
  CHECK(corpora[1] == "a\\b");
  CHECK(corpora[3] == "caf\xc3\xa9 x:y");
  CHECK(corpora[5] == long_a + "2");
  // The truncated labels coincide; the config hash in the file name keeps the runs apart.
  CHECK(hashes[4] != hashes[5]);
  std::sort(hashes.begin(), hashes.end());
  CHECK(std::unique(hashes.begin(), hashes.end()) == hashes.end());
}

TEST_CASE("a swept experiment.name is checked at each point as one folder name", "[sweep]") {
  const std::string text = minimal + R"(
[sweep.grid]
"experiment.name" = ["fine", "../../etc/passwd"]
)";
  const auto points = lmlab::expand_sweep(parse_exp(text));
  REQUIRE(points.size() == 2);
  toml::table good = parse_exp(text);
  lmlab::apply_overrides(good, points[0].overrides);
  CHECK(lmlab::resolve_experiment(good, make_registry(), "exp.toml").experiment.name == "fine");
  toml::table bad = parse_exp(text);
  lmlab::apply_overrides(bad, points[1].overrides);
  CHECK_THAT(config_error_of([&] { lmlab::resolve_experiment(bad, make_registry(), "exp.toml"); }),
             Contains("experiment.name: \"../../etc/passwd\" is not one folder name"));
}

TEST_CASE("arms x grid x zip x seeds: counts, order and labels", "[sweep]") {
  const std::string text = minimal + R"(
[sweep]
grid = { "train.schedule" = ["linear", "constant"] }
zip = { "model.n_layers" = [2, 4, 8], "train.lr" = [1e-3, 5e-4, 2.5e-4] }
seeds = [1, 2]

[[sweep.arm]]
name = "mle"

[[sweep.arm]]
name = "ul"
set = { "objective.alpha" = 1.0, "decoding.chain" = ["greedy"] }
)";
  const auto points = lmlab::expand_sweep(parse_exp(text));
  REQUIRE(points.size() == 2 * 2 * 3 * 2);  // arms x grid x zip levels x seeds
  CHECK(points[0].label == "arm=mle,schedule=linear,n_layers=2,lr=0.001,seed=1");
  CHECK(points[0].overrides ==
        std::vector<std::string>{"train.schedule='linear'", "model.n_layers=2", "train.lr=0.001", "experiment.seed=1"});
  // Zipped axes move together: never n_layers=2 with lr=0.0005.
  CHECK(points[2].label == "arm=mle,schedule=linear,n_layers=4,lr=0.0005,seed=1");
  CHECK(points[12].label == "arm=ul,schedule=linear,n_layers=2,lr=0.001,seed=1");
  // An arm's settings first (in key order), then the axes.
  CHECK(points[12].overrides == std::vector<std::string>{"decoding.chain=['greedy']", "objective.alpha=1.0",
                                                         "train.schedule='linear'", "model.n_layers=2",
                                                         "train.lr=0.001", "experiment.seed=1"});
  CHECK(points[12].axes.front() == std::pair<std::string, std::string>{"arm", "ul"});
  CHECK(points[23].label == "arm=ul,schedule=constant,n_layers=8,lr=0.00025,seed=2");
  for (const auto& p : points) CHECK(p.excluded.empty());
}

TEST_CASE("exclude marks the points it matches and names itself; bad entries are errors", "[sweep]") {
  const std::string text = minimal + R"(
[sweep]
grid = { "model.n_layers" = [2, 4], "train.lr" = [1e-3, 3e-4] }
seeds = [1, 2]
exclude = [{ "model.n_layers" = 4, "train.lr" = 1e-3 }, { arm = "b", "model.n_layers" = 2 }]

[[sweep.arm]]
name = "a"

[[sweep.arm]]
name = "b"
set = { "train.schedule" = "constant" }
)";
  const auto points = lmlab::expand_sweep(parse_exp(text));
  REQUIRE(points.size() == 16);
  std::size_t kept = 0;
  for (const auto& p : points) {
    kept += p.excluded.empty();
    if (p.label.starts_with("arm=b,n_layers=2")) CHECK_THAT(p.excluded, Contains("sweep.exclude[1]"));
    if (p.label.starts_with("arm=a,n_layers=4,lr=0.001")) CHECK_THAT(p.excluded, Contains("sweep.exclude[0] = {"));
  }
  CHECK(kept == 16 - 4 - 4);  // entry 0: both arms x 2 seeds; entry 1: 2 learning rates x 2 seeds
  CHECK_THAT(sweep_error("grid = { \"model.n_layers\" = [2, 4] }\nexclude = [{ \"model.n_layer\" = 2 }]\n"),
             Contains("sweep.exclude[0].\"model.n_layer\": is not an axis of this sweep; accepted: model.n_layers"));
  CHECK_THAT(sweep_error("grid = { \"model.n_layers\" = [2, 4] }\nexclude = [{ \"model.n_layers\" = 3 }]\n"),
             Contains("sweep.exclude[0].\"model.n_layers\": 3 is not one of the axis's values; accepted: 2, 4"));
  CHECK_THAT(sweep_error("grid = { \"model.n_layers\" = [2, 4] }\nexclude = [{}]\n"),
             Contains("sweep.exclude[0]: is empty"));
  CHECK_THAT(sweep_error("zip = { \"model.n_layers\" = [2, 4], \"train.lr\" = [0.1, 0.2] }\n"
                         "exclude = [{ \"model.n_layers\" = 2, \"train.lr\" = 0.2 }]\n"),
             Contains("sweep.exclude[0]: matches no run of the sweep"));
  CHECK_THAT(sweep_error("grid = { \"model.n_layers\" = [2, 4] }\nexclude = [{ arm = \"x\" }]\n"),
             Contains("sweep.exclude[0].arm: there are no [[sweep.arm]] tables"));
}

TEST_CASE("zip, arms and their clashes are checked with positions", "[sweep]") {
  CHECK_THAT(sweep_error("zip = { \"model.n_layers\" = [2, 4], \"train.lr\" = [0.1] }\n"),
             Contains("sweep.zip.\"train.lr\": has 1 values but model.n_layers has 2"));
  CHECK_THAT(sweep_error("grid = { \"train.lr\" = [0.1] }\nzip = { \"train.lr\" = [0.2] }\n"),
             Contains("sweep.zip.\"train.lr\": train.lr is also set by sweep.grid.\"train.lr\"; use one"));
  CHECK_THAT(sweep_error("grid = { \"train.lr\" = [0.1] }\n[[sweep.arm]]\nname = \"a\"\nset = { \"train.lr\" = 0.2 }\n"),
             Contains("sweep.arm[0].set: train.lr is also sweep.grid.\"train.lr\"; an arm cannot set a swept option"));
  CHECK_THAT(sweep_error("[[sweep.arm]]\nname = \"a\"\n[[sweep.arm]]\nname = \"a\"\n"),
             Contains("sweep.arm[1].name: arm 'a' appears twice"));
  CHECK_THAT(sweep_error("[[sweep.arm]]\nname = \"a b\"\n"), Contains("sweep.arm[0].name: 'a b' is not a plain name"));
  CHECK_THAT(sweep_error("[[sweep.arm]]\nset = {}\n"), Contains("sweep.arm[0]: has no name"));
  CHECK_THAT(sweep_error("[[sweep.arm]]\nname = \"a\"\nsett = {}\n"), Contains("sweep.arm[0].sett: unknown key"));
  CHECK_THAT(sweep_error("[[sweep.arm]]\nname = \"a\"\nset = { lr = 1 }\n"),
             Contains("sweep.arm[0].set.lr: a key is the dotted path of an option"));
  CHECK_THAT(resolve_error(minimal + "\n[sweep]\nzip = { \"model.n_layrs\" = [2] }\n"),
             Contains("sweep.zip.\"model.n_layrs\": 'model.n_layrs' is not an option"));
  CHECK_THAT(resolve_error(minimal + "\n[[sweep.arm]]\nname = \"a\"\nset = { \"train.lrr\" = 1.0 }\n"),
             Contains("sweep.arm[0].set.\"train.lrr\": 'train.lrr' is not an option") && Contains("did you mean 'lr'?"));
}

}  // namespace sweep_tests
