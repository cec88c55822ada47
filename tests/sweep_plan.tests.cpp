#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "results/run_file.hpp"
#include "sweeps/sweep_plan.hpp"
#include "training/trainer.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace sweep_plan_tests {

using Catch::Matchers::Contains;
using lmlab::RunAction;
namespace fs = std::filesystem;

namespace {

lmlab::Experiment run_named(const fs::path& results, const std::string& name) {
  lmlab::Experiment e;
  e.experiment.results_dir = results.string();
  e.experiment.name = "exp";
  e.run_name = name;
  e.train.steps = 100;
  return e;
}

// A run file left by an earlier sweep, and optionally its checkpoint.
void leave(const lmlab::Experiment& e, const std::string& status, bool checkpoint, const std::string& reason = "") {
  lmlab::RunFile file = lmlab::RunFile::create(lmlab::run_file_path(e));
  file.set_attribute("status", status);
  file.set_attribute("status_reason", reason);
  file.append("train", {{"step", std::int64_t{40}}, {"loss", 1.0}});
  if (checkpoint) lmlab::test::write_file(lmlab::checkpoint_path(e), "checkpoint");
}

}  // namespace

TEST_CASE("sweep plan: each run's action follows from its files on disk", "[sweep_plan]") {
  lmlab::test::TempDir tmp;
  std::vector<lmlab::Experiment> runs;
  for (const char* name : {"new", "complete", "failed", "killed", "killed-early", "stopped"}) runs.push_back(run_named(tmp.path(), name));
  leave(runs[1], "complete", true);
  leave(runs[2], "failed", true, "loss is NaN at step 40");
  leave(runs[3], "running", true);
  leave(runs[4], "running", false);
  leave(runs[5], "stopped", true);
  lmlab::SweepPoint excluded;
  excluded.label = "n_layers=4,seed=1";
  excluded.excluded = "sweep.exclude[0] = { \"model.n_layers\" = 4 }";

  const auto plan = lmlab::plan_sweep(runs, {excluded}, {});
  REQUIRE(plan.size() == 7);
  CHECK(plan[0].action == RunAction::start);
  CHECK(plan[0].why == "new");
  CHECK(plan[1].action == RunAction::complete);
  CHECK(plan[2].action == RunAction::failed);
  CHECK_THAT(plan[2].why, Contains("loss is NaN at step 40") && Contains("--retry-failed reruns it"));
  CHECK(plan[3].action == RunAction::resume);
  CHECK(plan[3].why == "interrupted at step 40 of 100: resumes from its checkpoint");
  CHECK(plan[4].action == RunAction::start);
  CHECK_THAT(plan[4].why, Contains("without a checkpoint"));
  CHECK(plan[5].action == RunAction::resume);
  CHECK_THAT(plan[5].why, Contains("stopped at step 40"));
  CHECK(plan[6].action == RunAction::excluded);
  CHECK(plan[6].run == nullptr);
  CHECK(plan[0].run == &runs[0]);
  CHECK(std::count_if(plan.begin(), plan.end(), lmlab::runs) == 4);

  lmlab::SweepPlanOptions retry;
  retry.retry_failed = true;
  CHECK(lmlab::plan_sweep(runs, {}, retry)[2].action == RunAction::start);

  std::ostringstream out;
  lmlab::print_plan(out, plan);
  CHECK_THAT(out.str(), Contains("skip     complete") && Contains("resume   killed ") &&
                            Contains("excluded n_layers=4,seed=1") && Contains("7 run(s): 1 excluded, 2 resume, 2 skip, 2 start"));
}

TEST_CASE("sweep plan: an unreadable run file beside a checkpoint is left alone unless --retry-failed", "[sweep_plan]") {
  lmlab::test::TempDir tmp;
  const auto run = run_named(tmp.path(), "broken");
  lmlab::test::write_file(lmlab::run_file_path(run), "not hdf5");
  lmlab::test::write_file(lmlab::checkpoint_path(run), "checkpoint");
  const auto plan = lmlab::plan_sweep({run}, {}, {});
  CHECK(plan[0].action == RunAction::failed);
  CHECK_THAT(plan[0].why, Contains("cannot be read") && Contains("--retry-failed starts it afresh"));
  lmlab::SweepPlanOptions retry;
  retry.retry_failed = true;
  CHECK(lmlab::plan_sweep({run}, {}, retry)[0].action == RunAction::start);
  fs::remove(lmlab::checkpoint_path(run));
  CHECK(lmlab::plan_sweep({run}, {}, {})[0].action == RunAction::start);  // nothing to lose
}

TEST_CASE("sweep plan: shards i/N cover every run exactly once", "[sweep_plan]") {
  lmlab::test::TempDir tmp;
  std::vector<lmlab::Experiment> runs;
  for (int i = 0; i < 7; ++i) runs.push_back(run_named(tmp.path(), fmt::format("run{}", i)));
  for (const std::int64_t shards : {1, 2, 3, 7, 9}) {
    std::multiset<std::string> covered;
    for (std::int64_t shard = 0; shard < shards; ++shard) {
      lmlab::SweepPlanOptions options;
      options.shard = shard;
      options.shards = shards;
      for (const auto& p : lmlab::plan_sweep(runs, {}, options)) {
        if (lmlab::runs(p)) covered.insert(p.name);
        else CHECK(p.action == RunAction::other_shard);
      }
    }
    CHECK(covered.size() == runs.size());
    CHECK(std::set<std::string>(covered.begin(), covered.end()).size() == runs.size());
  }
  CHECK(lmlab::parse_shard("1/4") == std::pair<std::int64_t, std::int64_t>{1, 4});
  CHECK(lmlab::parse_shard("0/1") == std::pair<std::int64_t, std::int64_t>{0, 1});
  for (const char* bad : {"4/4", "-1/2", "1", "a/b", "1/0", "1/2x", "/2"}) {
    CHECK_THROWS_WITH(lmlab::parse_shard(bad), Contains(std::string("'") + bad + "' is not a shard") && Contains("i/N"));
  }
}

}  // namespace sweep_plan_tests
