#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"
#include "reporting/experiment_report.hpp"
#include "results/run_file.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace experiment_report_tests {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// A finished run file with two sweep axes, reduced to what the report reads.
void fake_run(const fs::path& folder, const std::string& a, int b, std::int64_t seed, double val_loss) {
  const std::string point = fmt::format("a={},b={}", a, b);
  lmlab::RunFile run = lmlab::RunFile::create(folder / fmt::format("{},seed={}-0000000{}.h5", point, seed, seed));
  run.set_attribute("config_hash", "0123456789abcdef");
  run.set_attribute("status", "complete");
  run.set_attribute("seed", seed);
  run.set_attribute("sweep_point", fmt::format("{},seed={}", point, seed));
  run.set_attribute("sweep.model.a", a);
  run.set_attribute("sweep.model.b", std::to_string(b));
  run.append("eval", {{"step", std::int64_t{10}}, {"val_loss", val_loss}});
}

}  // namespace

TEST_CASE("report: mean and sample standard deviation skip NaN", "[report]") {
  const double nan = std::nan("");
  const auto three = lmlab::mean_std({1.0, 2.0, nan, 3.0});
  CHECK(three.n == 3);
  CHECK(three.mean == 2.0);
  CHECK(three.std == 1.0);  // sqrt((1 + 0 + 1) / (3 - 1))
  const auto one = lmlab::mean_std({5.0});
  CHECK(one.mean == 5.0);
  CHECK(std::isnan(one.std));
  CHECK(lmlab::mean_std({nan}).n == 0);
}

TEST_CASE("report: per axis, each seed averages the other axes first, then mean ± std over seeds", "[report]") {
  lmlab::test::TempDir tmp;
  const fs::path folder = tmp / "exp";
  // val_loss = (a == y ? 10 : 0) + b + seed.
  for (const std::string a : {"x", "y"}) {
    for (int b : {0, 1}) {
      for (std::int64_t seed : {1, 2}) fake_run(folder, a, b, seed, (a == "y" ? 10.0 : 0.0) + b + static_cast<double>(seed));
    }
  }
  lmlab::ReportOptions options;
  options.plots = false;
  const auto result = lmlab::write_report(folder, options);
  CHECK(result.runs.size() == 8);
  CHECK(fs::exists(folder / "index.h5"));
  const std::string md = lmlab::test::read_file(result.markdown);
  INFO(md);
  // a = x: seed 1 averages 1 and 2 (1.5), seed 2 averages 2 and 3 (2.5): 2 ± 0.71.
  CHECK_THAT(md, Contains("## By `model.a`") &&
                     Contains("| metric | a=x (2 seeds) | a=y (2 seeds) |\n|---|---|---|\n| `eval.val_loss` | 2 ± 0.71 | 12 ± 0.71 |"));
  // b = 0: seed 1 averages 1 and 11 (6), seed 2 averages 2 and 12 (7).
  CHECK_THAT(md, Contains("| `eval.val_loss` | 6.5 ± 0.71 | 7.5 ± 0.71 |"));
  // Each point over its two seeds.
  CHECK_THAT(md, Contains("## By sweep point") && Contains("| a=x,b=0 (2 seeds) |") && Contains("| 1.5 ± 0.71 |"));
  CHECK_THAT(md, Contains("No plots: `--no-plots` was given."));
}

TEST_CASE("report: without gnuplot, report.md is still written and the error says how to get it", "[report]") {
  lmlab::test::TempDir tmp;
  fake_run(tmp.path(), "x", 0, 1, 2.0);
  lmlab::ReportOptions options;
  options.gnuplot = (tmp / "no-such-gnuplot").string();
  CHECK_THROWS_WITH(lmlab::write_report(tmp.path(), options),
                    Contains("was not found") && Contains("gnuplot-nox") && Contains("--no-plots"));
  CHECK_THAT(lmlab::test::read_file(tmp / "report.md"), Contains("No plots: gnuplot") && Contains("| 2 |"));
  CHECK_THROWS_WITH(lmlab::write_report(tmp / "absent"), Contains("absent") && Contains("does not exist"));
}

TEST_CASE("report: a 2 x 2 toy sweep gives report.md and valid, non-trivial PNG plots", "[report]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_generated_corpus(tmp / "corpus", 8000);
  std::string text = lmlab::test::tiny_experiment(tmp / "corpus", tmp / "results");
  text.replace(text.find("name = \"cli\""), 12, "name = \"toy\"");
  text.replace(text.find("steps = 6"), 9, "steps = 8");
  text.replace(text.find("eval_every = 3"), 14, "eval_every = 4");
  text.replace(text.find("max_new_tokens = 4"), 18, "max_new_tokens = 12");
  text += R"(
[[regularisers]]
name = "grad_monitor"

[sweep]
grid = { "model.n_layers" = [1, 2] }
seeds = [1, 2]
)";
  lmlab::test::write_file(tmp / "toy.toml", text);
  const std::string host = lmlab::test::lmlab_binary();
  const auto sweep = lmlab::test::run_command(host + " sweep " + (tmp / "toy.toml").string());
  INFO(sweep.output);
  REQUIRE(sweep.exit_code == 0);
  const fs::path folder = tmp / "results" / "toy";
  CHECK(fs::exists(folder / "index.h5"));  // the sweep rebuilt it

  const auto report = lmlab::test::run_command(host + " report " + folder.string());
  INFO(report.output);
  REQUIRE(report.exit_code == 0);
  const std::string md = lmlab::test::read_file(folder / "report.md");
  INFO(md);
  CHECK_THAT(md, Contains("## By `model.n_layers`") && Contains("n_layers=1 (2 seeds)") &&
                     Contains("n_layers=2 (2 seeds)") && Contains("| `eval.val_loss` |") &&
                     Contains("| `generation.default.tokens.seq_rep_4` |") && Contains(" ± "));
  std::vector<std::string> pngs;
  // (No seq_rep_words: an untrained byte model's few words leave seq-rep-n on words undefined.)
  for (const std::string name : {"loss", "entropy", "seq_rep_tokens", "grad_flow-n_layers=1", "grad_flow-n_layers=2"}) {
    const fs::path png = folder / "plots" / (name + ".png");
    CHECK(fs::exists(png));
    CHECK_THAT(md, Contains(fmt::format("](plots/{}.png)", name)));
    if (fs::exists(png)) pngs.push_back(fmt::format("'{}'", png.string()));
  }
  std::string command = fmt::format("/usr/bin/python3 {}/tests/png_check.py", lmlab::test_paths::source_dir);
  for (const auto& p : pngs) command += fmt::format(" {}", p);
  const auto check = lmlab::test::run_command(command);
  INFO(check.output);
  CHECK(check.exit_code == 0);
}

}  // namespace experiment_report_tests
