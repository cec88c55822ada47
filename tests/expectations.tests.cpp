// [[expect]]: reading the claims (and refusing malformed ones with their line), judging them on
// runs with hand-set final values, and `lmlab check` on a real tiny sweep.
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "results/expectations.hpp"
#include "support/config_fixtures.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace expectations_tests {

using Catch::Contains;
using lmlab::test::config_error_of;
using lmlab::test::parse_exp;

namespace {

lmlab::RunRecord run(const std::string& arm, std::int64_t seed, double value, const std::string& status = "complete") {
  lmlab::RunRecord r;
  r.name = fmt::format("arm={},seed={}", arm, seed);
  r.status = status;
  r.seed = seed;
  r.axes = {{"arm", arm}};
  r.finals = {{"generation.greedy.words.seq_rep_4", value}, {"eval.val_ppl", 5.0 + value}};
  return r;
}

lmlab::Expectation only(const std::string& toml_text) {
  const auto all = lmlab::read_expectations(parse_exp(toml_text));
  REQUIRE(all.size() == 1);
  return all.front();
}

const std::string ul_below_mle = R"([[expect]]
claim = "UL repeats less than MLE"
metric = "generation.greedy.words.seq_rep_4"
runs = { arm = "ul" }
below = { arm = "mle" }
by = 0.05
)";

}  // namespace

TEST_CASE("a comparison holds only when it clears the margin in every seed") {
  const auto e = only(ul_below_mle);
  CHECK(e.where == "exp.toml:1:1");
  // Welleck et al.'s direction: MLE .442, UL .283, in both seeds.
  std::vector<lmlab::RunRecord> runs{run("mle", 1, 0.442), run("ul", 1, 0.283), run("mle", 2, 0.40), run("ul", 2, 0.30)};
  auto v = lmlab::judge(e, runs);
  CHECK(v.holds);
  CHECK_THAT(v.evidence.at(0), Contains("seed 1: 0.283 vs 0.442"));
  // Seed 2 within the margin (0.36 vs 0.40: a difference of -0.04, not <= -0.05) fails it all.
  runs[3] = run("ul", 2, 0.36);
  v = lmlab::judge(e, runs);
  CHECK_FALSE(v.holds);
  CHECK_THAT(v.evidence.at(1), Contains("seed 2") && Contains("<- fails"));
  // Over the means instead: (0.283 + 0.36) / 2 = 0.3215 against 0.421 clears 0.05.
  auto means = e;
  means.per_seed = false;
  CHECK(lmlab::judge(means, runs).holds);
}

TEST_CASE("runs that are not complete or current, missing seeds and unknown metrics fail the claim, saying why") {
  const auto e = only(ul_below_mle);
  std::vector<lmlab::RunRecord> runs{run("mle", 1, 0.442), run("ul", 1, 0.283), run("mle", 2, 0.40),
                                     run("ul", 2, 0.10, "failed")};
  auto v = lmlab::judge(e, runs);
  CHECK_FALSE(v.holds);
  CHECK_THAT(fmt::format("{}", fmt::join(v.evidence, "\n")), Contains("seed 2: no run of arm=ul to compare"));
  runs[3] = run("ul", 2, 0.10);
  runs[3].superseded = true;
  CHECK_FALSE(lmlab::judge(e, runs).holds);
  // Two runs of one seed under one selector cannot be paired.
  runs = {run("mle", 1, 0.442), run("ul", 1, 0.283), run("ul", 1, 0.2)};
  CHECK_THAT(lmlab::judge(e, runs).evidence.at(0), Contains("matches two runs of seed 1"));
  // Nothing selected, and a metric no run has (with the closest name).
  CHECK_THAT(lmlab::judge(e, {run("mle", 1, 0.4)}).evidence.at(0), Contains("no complete run matches arm=ul"));
  auto typo = e;
  typo.metric = "generation.greedy.words.seq_rep4";
  CHECK_THAT(lmlab::judge(typo, runs).evidence.at(0),
             Contains("no run reports generation.greedy.words.seq_rep4 (did you mean generation.greedy.words.seq_rep_4?)"));
}

TEST_CASE("bounds hold for every selected run, and above works like below") {
  const auto bounds = only("[[expect]]\nclaim = \"sane\"\nmetric = \"eval.val_ppl\"\nmin = 1.0\nmax = 5.4\n");
  CHECK(lmlab::judge(bounds, {run("mle", 1, 0.3), run("ul", 1, 0.4)}).holds);
  const auto v = lmlab::judge(bounds, {run("mle", 1, 0.3), run("ul", 1, 0.5)});
  CHECK_FALSE(v.holds);
  CHECK_THAT(v.evidence.at(1), Contains("arm=ul,seed=1: 5.5  <- fails"));
  const auto above = only("[[expect]]\nclaim = \"c\"\nmetric = \"eval.val_ppl\"\nruns = { arm = \"mle\" }\n"
                          "above = { arm = \"ul\" }\nby = 0.1\n");
  CHECK(lmlab::judge(above, {run("mle", 1, 0.442), run("ul", 1, 0.283)}).holds);
  CHECK_FALSE(lmlab::judge(above, {run("mle", 1, 0.35), run("ul", 1, 0.283)}).holds);
}

TEST_CASE("a comparison with another metric of the same runs, and --metrics-only") {
  // Holtzman et al.'s direction on one checkpoint: greedy text is far likelier than nucleus text.
  const auto e = only(R"([[expect]]
claim = "greedy text is likelier"
metric = "generation.greedy.perplexity"
runs = { arm = "mle" }
below = { metric = "generation.nucleus.perplexity" }
by = 2
)");
  CHECK(e.reference_metric == "generation.nucleus.perplexity");
  REQUIRE(e.below);
  CHECK(*e.below == e.runs);  // no axes: the same runs
  const auto with = [](std::int64_t seed, double greedy, double nucleus) {
    lmlab::RunRecord r = run("mle", seed, 0.4);
    r.finals.emplace_back("generation.greedy.perplexity", greedy);
    r.finals.emplace_back("generation.nucleus.perplexity", nucleus);
    return r;
  };
  auto v = lmlab::judge(e, {with(1, 1.5, 13.1), with(2, 1.6, 12.0)});
  CHECK(v.holds);
  CHECK_THAT(v.evidence.at(0), Contains("arm=mle,seed=1: 1.5 vs 13.1"));
  CHECK_THAT(v.evidence.back(), Contains("generation.greedy.perplexity minus generation.nucleus.perplexity: need a "
                                         "difference <= -2 in every run"));
  CHECK_FALSE(lmlab::judge(e, {with(1, 1.5, 13.1), with(2, 11.0, 12.0)}).holds);  // seed 2: -1 does not clear -2
  // Each run is its own reference, so two runs of one seed (another axis) are no ambiguity.
  auto deeper = with(1, 2.0, 9.0);
  deeper.name = "arm=mle,n_layers=4,seed=1";
  CHECK(lmlab::judge(e, {with(1, 1.5, 13.1), deeper}).holds);
  deeper = with(1, 8.0, 9.0);
  CHECK_FALSE(lmlab::judge(e, {with(1, 1.5, 13.1), deeper}).holds);
  // The reference metric must exist too.
  CHECK_THAT(lmlab::judge(e, {run("mle", 1, 0.4)}).evidence.at(0), Contains("no run reports generation.greedy.perplexity"));

  // --metrics-only: values are not judged, but every selected run must report both metrics.
  CHECK(lmlab::judge(e, {with(1, 11.0, 12.0)}, /*metrics_only=*/true).holds);
  lmlab::RunRecord partial = run("mle", 2, 0.4);
  partial.finals.emplace_back("generation.greedy.perplexity", 2.0);
  const auto missing = lmlab::judge(e, {with(1, 11.0, 12.0), partial}, true);
  CHECK_FALSE(missing.holds);
  CHECK_THAT(fmt::format("{}", fmt::join(missing.evidence, "\n")),
             Contains("arm=mle,seed=2: does not report generation.nucleus.perplexity  <- fails"));
  CHECK_THAT(lmlab::judge(only(ul_below_mle), {run("mle", 1, 0.4)}, true).evidence.at(0),
             Contains("no complete run matches arm=ul"));
}

TEST_CASE("malformed [[expect]] entries are refused with their line, key and what is accepted") {
  const auto error = [](const std::string& text) {
    return config_error_of([&] { lmlab::read_expectations(parse_exp(text)); });
  };
  CHECK_THAT(error("[[expect]]\nmetric = \"m\"\nmin = 0\n"), Contains("exp.toml:1:1: expect[0]: has no claim"));
  CHECK_THAT(error("[[expect]]\nclaim = \"c\"\nmetric = \"m\"\n"), Contains("says nothing to check"));
  CHECK_THAT(error("[[expect]]\nclaim = \"c\"\nmetric = \"m\"\nmin = 0\nbelow = { arm = \"a\" }\n"),
             Contains("mixes a comparison (below/above) with bounds"));
  CHECK_THAT(error("[[expect]]\nclaim = \"c\"\nmetric = \"m\"\nbelow = {}\nabove = {}\n"), Contains("both below and above"));
  CHECK_THAT(error("[[expect]]\nclaim = \"c\"\nmetric = \"m\"\nbelow = {}\nbyy = 1\n"),
             Contains("expect[0].byy") && Contains("did you mean 'by'"));
  CHECK_THAT(error("[[expect]]\nclaim = \"c\"\nmetric = \"m\"\nbelow = {}\nby = -1\n"), Contains("expect[0].by"));
  CHECK_THAT(error("[[expect]]\nclaim = \"c\"\nmetric = \"m\"\nmin = 0\nby = 1\n"), Contains("belong to a comparison"));
  CHECK_THAT(error("[[expect]]\nclaim = \"c\"\nmetric = \"m\"\nbelow = { arm = { x = 1 } }\n"),
             Contains("expect[0].below.arm: a selector value is one axis value"));
  // An array value selects as the sweep labels it: a decoding chain is "top_p+sample".
  const auto chain = lmlab::read_expectations(
      parse_exp("[[expect]]\nclaim = \"c\"\nmetric = \"m\"\nmin = 0\nruns = { \"decoding.chain\" = [\"top_p\", \"sample\"] }\n"));
  CHECK(chain.at(0).runs == lmlab::RunSelector{{"decoding.chain", "top_p+sample"}});
  CHECK_THAT(error("[expect]\nclaim = \"c\"\n"), Contains("expect") && Contains("[[expect]]"));
  CHECK(lmlab::read_expectations(parse_exp("[model]\narch = \"x\"\n")).empty());
}

TEST_CASE("lmlab check judges a real sweep's runs, from the folder or the file, and exits 1 on a failed claim") {
  lmlab::test::TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus", 20000);
  const std::string file = (dir / "exp.toml").string();
  lmlab::test::write_file(dir / "exp.toml", lmlab::test::tiny_experiment(dir / "corpus", dir / "results") + R"(
[sweep]
seeds = [1, 2]
[[sweep.arm]]
name = "short"
set = { "train.steps" = 2 }
[[sweep.arm]]
name = "long"

[[expect]]
claim = "more steps, lower validation loss"
metric = "eval.val_loss"
runs = { arm = "long" }
below = { arm = "short" }

[[expect]]
claim = "perplexity is a perplexity"
metric = "eval.val_ppl"
min = 1.0
)");
  const auto host = [](const std::string& args) { return fmt::format("{} {}", lmlab::test::lmlab_binary(), args); };
  const auto swept = lmlab::test::run_command(host("sweep " + file));
  REQUIRE(swept.exit_code == 0);
  const std::string folder = (dir / "results" / "cli").string();
  // From the folder, the file is found through the runs' own record of it.
  const auto checked = lmlab::test::run_command(host("check " + folder));
  INFO(checked.output);
  CHECK(checked.exit_code == 0);
  CHECK_THAT(checked.output, Contains("PASS  more steps, lower validation loss") && Contains("2 of 2 expectation(s) hold"));
  // A claim that does not hold: exit 1, and the failing seed shown.
  lmlab::test::write_file(dir / "wrong.toml", "[[expect]]\nclaim = \"backwards\"\nmetric = \"eval.val_loss\"\n"
                                              "runs = { arm = \"short\" }\nbelow = { arm = \"long\" }\n");
  const auto wrong = lmlab::test::run_command(host(fmt::format("check {} --file {}", folder, (dir / "wrong.toml").string())));
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.output, Contains("FAIL  backwards") && Contains("<- fails") && Contains("0 of 1"));
  // A malformed entry is bad input (exit 2), before anything is judged.
  lmlab::test::write_file(dir / "bad.toml", "[[expect]]\nclaim = \"c\"\nmetric = \"m\"\n");
  const auto bad = lmlab::test::run_command(host(fmt::format("check {} --file {}", folder, (dir / "bad.toml").string())));
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Contains("bad.toml:1:1: expect[0]: says nothing to check"));
}

}  // namespace expectations_tests
