// Model FLOPs utilisation: the formula on numbers worked by hand, and a run's file and summary
// (/train/mfu, the peak attributes, the summary table's column), fresh and resumed.
#include "support/catch.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "experiment/experiment_loader.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_loader.hpp"
#include "reporting/report.hpp"
#include "results/run_file.hpp"
#include "support/test_support.hpp"
#include "training/mfu.hpp"
#include "training/trainer.hpp"

namespace mfu_tests {

namespace fs = std::filesystem;
using lmlab::test::TempDir;

namespace {

struct Fixture {
  TempDir dir;
  lmlab::Registry registry;
  lmlab::PluginLoader loader{registry};
  Fixture() { lmlab::test::write_generated_corpus(dir / "corpus"); }

  lmlab::Experiment load(const std::vector<std::string>& overrides = {}) {
    const fs::path file = dir / "mfu.toml";
    lmlab::test::write_file(file, lmlab::test::SmallExperiment{.corpus = dir / "corpus",
                                                              .results = dir / "results",
                                                              .name = "mfu",
                                                              .steps = 8,
                                                              .eval_every = 4,
                                                              .log_every = 2}
                                      .text());
    auto runs = lmlab::load_runs(file, overrides, loader, registry);
    REQUIRE(runs.size() == 1);
    return runs.front();
  }

  // Trains `e` to step 4 of 8 and stops there, checkpointed, for a resume to continue.
  lmlab::RunSummary stop_after_4(const lmlab::Experiment& e, std::ostringstream& log) {
    lmlab::RunOptions stop = lmlab::test::quiet_run(log);
    stop.stop_after = 4;
    lmlab::RunSummary first = lmlab::run_experiment(e, registry, stop);
    REQUIRE(first.status == lmlab::RunStatus::stopped);
    return first;
  }
};

}  // namespace

TEST_CASE("mfu: training FLOPs are three forwards, and MFU is their rate over the peak") {
  CHECK(lmlab::train_flops_per_token(1.0e6) == 3.0e6);
  // 1000 tokens/s × 6 MFLOP per token = 6 GFLOP/s, against 300 GFLOP/s.
  CHECK(lmlab::model_flops_utilisation(1000.0, 6.0e6, 3.0e11) == Approx(0.02));
  // 2 steps/s of 2048 tokens at 6 MFLOP each: 24.576 GFLOP/s against 400 GFLOP/s.
  lmlab::MfuBasis basis{6.0e6, 2048.0, {4.0e11, "given"}};
  REQUIRE(basis.at(2.0));
  CHECK(*basis.at(2.0) == Approx(0.06144));
  basis.peak.flops_per_s = 0.0;  // unknown: a resumed file from before MFU
  CHECK_FALSE(basis.at(2.0));
}

TEST_CASE("mfu: a run's file states its peak and logs /train/mfu on every row; the summary carries it") {
  Fixture f;
  const lmlab::Experiment e = f.load();
  std::ostringstream log;
  const lmlab::RunSummary s = lmlab::run_experiment(e, f.registry, lmlab::test::quiet_run(log));
  INFO(log.str());
  CHECK_THAT(log.str(), Catch::Contains("MFU against a peak of"));
  const fs::path& file = s.run_file;
  const double peak = std::stod(lmlab::run_file::read_attribute(file, "peak_flops"));
  CHECK(peak > 1e8);
  CHECK(lmlab::run_file::read_attribute(file, "peak_flops_source").rfind("measured: ", 0) == 0);
  const double forward = std::stod(lmlab::run_file::read_attribute(file, "model.flops_per_token"));
  const double train = std::stod(lmlab::run_file::read_attribute(file, "train_flops_per_token"));
  CHECK(train == 3 * forward);
  const auto mfu = lmlab::run_file::read_floats(file, "train/mfu");
  const auto rate = lmlab::run_file::read_floats(file, "train/tokens_per_s");
  REQUIRE(mfu.size() == lmlab::run_file::read_ints(file, "train/step").size());
  REQUIRE(mfu.size() == 4);
  for (std::size_t i = 0; i < mfu.size(); ++i) {
    CHECK(std::isfinite(mfu[i]));
    CHECK(mfu[i] > 0.0);  // a tiny model uses little of a CPU, but some
    CHECK(mfu[i] <= 1.0);
    // A causal LM scores every window token, so its token rate is the MFU's.
    CHECK(mfu[i] == Approx(rate[i] * train / peak).epsilon(1e-9));
  }
  CHECK(std::isfinite(s.mfu));
  CHECK(s.mfu == Approx(s.tokens_per_s * train / peak).epsilon(1e-9));
}

TEST_CASE("mfu: a resumed run keeps the peak its file states and goes on logging /train/mfu") {
  Fixture f;
  const lmlab::Experiment e = f.load();
  std::ostringstream log;
  const lmlab::RunSummary first = f.stop_after_4(e, log);
  const std::string source = lmlab::run_file::read_attribute(first.run_file, "peak_flops_source");
  lmlab::RunOptions resume = lmlab::test::quiet_run(log);
  resume.resume = true;
  const lmlab::RunSummary second = lmlab::run_experiment(e, f.registry, resume);
  INFO(log.str());
  CHECK(second.status == lmlab::RunStatus::complete);
  CHECK(lmlab::run_file::read_attribute(second.run_file, "peak_flops_source") == source);
  const auto mfu = lmlab::run_file::read_floats(second.run_file, "train/mfu");
  CHECK(mfu.size() == 4);
  CHECK(std::isfinite(second.mfu));
}

TEST_CASE("mfu: a resume whose file states a corrupt peak is a DataError naming the file, attribute and value") {
  Fixture f;
  const lmlab::Experiment e = f.load();
  std::ostringstream log;
  const lmlab::RunSummary first = f.stop_after_4(e, log);
  const auto set_peak = [&](auto value) {
    lmlab::RunFile::resume(first.run_file, 4).set_attribute("peak_flops", value);
  };
  const auto resume_fails_naming = [&](const std::string& value) {
    lmlab::RunOptions resume = lmlab::test::quiet_run(log);
    resume.resume = true;
    INFO("peak_flops = " << value << "\n" << log.str());
    try {
      lmlab::run_experiment(e, f.registry, resume);
      FAIL("the resume went on");
    } catch (const lmlab::DataError& error) {
      CHECK_THAT(std::string(error.what()), Catch::Contains(first.run_file.string()) &&
                                                Catch::Contains("attribute peak_flops") &&
                                                Catch::Contains("\"" + value + "\""));
    }
  };
  // Text where a number belongs, a number with trailing text, and numbers no peak can be.
  set_peak("fast");
  resume_fails_naming("fast");
  set_peak("3e11 FLOP/s");
  resume_fails_naming("3e11 FLOP/s");
  set_peak(std::numeric_limits<double>::quiet_NaN());
  resume_fails_naming("nan");
  set_peak(-1.0);
  resume_fails_naming("-1");
  // The failed resumes touched nothing: the run is still stopped, and with a peak restored it
  // resumes and completes.
  CHECK(lmlab::run_file::read_attribute(first.run_file, "status") == "stopped");
  set_peak(3.0e11);
  lmlab::RunOptions resume = lmlab::test::quiet_run(log);
  resume.resume = true;
  const lmlab::RunSummary second = lmlab::run_experiment(e, f.registry, resume);
  CHECK(second.status == lmlab::RunStatus::complete);
  CHECK(std::isfinite(second.mfu));
}

TEST_CASE("mfu: the summary table prints it as a percentage, '-' when unknown") {
  lmlab::RunSummary known;
  known.run_name = "known";
  known.mfu = 0.41234;
  lmlab::RunSummary unknown;
  unknown.run_name = "unknown";
  std::ostringstream out;
  lmlab::print_summary(out, {known, unknown});
  INFO(out.str());
  CHECK_THAT(out.str(), Catch::Contains(" mfu ") && Catch::Contains("41.2%"));
  std::istringstream lines(out.str());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("unknown ", 0) == 0) CHECK_THAT(line, Catch::Contains(" - "));
  }
}

}  // namespace mfu_tests
