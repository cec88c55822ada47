// `lmlab run FILE`: trains and evaluates the file's experiment in this process. With --point it
// runs one run of a sweep file: that is how `lmlab sweep` runs each of its runs in a child.
#include <algorithm>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands/command.hpp"
#include "experiment/experiment_loader.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_loader.hpp"
#include "reporting/report.hpp"
#include "results/run_status.hpp"
#include "training/trainer.hpp"
#include "util/error_text.hpp"
#include "util/run_lock.hpp"

namespace lmlab::commands {
namespace {

struct RunArgs {
  ExperimentFileArgs experiment;
  bool resume = false;
  std::int64_t stop_after = 0;
  std::string point;         // one run of a sweep file, by its run name
  std::int64_t threads = 0;  // when the config leaves them open
};

// The run --point names, or nullptr (after saying which runs the file has).
const Experiment* find_point(const RunArgs& a, const std::vector<Experiment>& runs) {
  const auto it = std::find_if(runs.begin(), runs.end(), [&](const Experiment& r) { return r.run_name == a.point; });
  if (it != runs.end()) return &*it;
  std::vector<std::string> names;
  for (const auto& r : runs) names.push_back(r.run_name);
  std::cerr << fmt::format("error: {}: --point {}: no such run; the file's runs: {}\n", a.experiment.file, a.point,
                           fmt::join(names, ", "));
  return nullptr;
}

// Trains the runs one after another. A run that fails is recorded in its run file (exit 1); a
// stop (SIGINT/SIGTERM, --stop-after) leaves a checkpoint that --resume continues (exit 130).
int train(const RunArgs& a, const std::vector<Experiment>& runs, const Registry& registry) {
  std::vector<RunSummary> summaries;
  std::vector<std::string> failures;
  for (const auto& run : runs) {
    if (stop_requested()) continue;
    RunOptions options;
    options.resume = a.resume;
    options.stop_after = a.stop_after;
    options.threads = a.threads;
    try {
      summaries.push_back(run_experiment(run, registry, options));
    } catch (const LockHeld&) {
      throw;  // another process runs it: not this run's failure (main exits 3, busy)
    } catch (const std::exception& e) {
      std::cerr << fmt::format("run {} failed: {}\n", run.run_name, error_text(e));
      failures.push_back(run.run_name);
      continue;
    }
    if (summaries.back().status == RunStatus::stopped) break;
  }
  // A sweep's child leaves the index to the sweep.
  if (a.point.empty()) rebuild_index_of(runs);
  if (!summaries.empty()) print_summary(std::cout, summaries);
  if (!failures.empty()) {
    std::cerr << fmt::format("{} of {} run(s) failed: {}\n", failures.size(), runs.size(), fmt::join(failures, ", "));
    return exit_failed;
  }
  const bool stopped = stop_requested() || (!summaries.empty() && summaries.back().status == RunStatus::stopped);
  return stopped ? exit_stopped : 0;
}

// Errors found while reading the file and loading plugins are bad input (exit 2), reported while
// the plugins that raised them are still loaded.
int run(const RunArgs& a) {
  install_stop_handler();
  Registry registry;
  PluginLoader loader(registry);
  std::vector<Experiment> runs;
  try {
    runs = load_runs(a.experiment.file, a.experiment.overrides, loader, registry);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_bad_input;
  }
  if (!a.point.empty()) {
    const Experiment* point = find_point(a, runs);
    if (!point) return exit_bad_input;
    runs = {*point};
  }
  if (runs.size() > 1) {
    std::cerr << fmt::format("error: {}: [sweep] defines {} runs; run them with `lmlab sweep {}`\n", a.experiment.file,
                             runs.size(), a.experiment.file);
    return exit_bad_input;
  }
  return train(a, runs, registry);
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* sub = app.add_subcommand("run", "train and evaluate one experiment");
  add_experiment_file(*sub, args->experiment);
  sub->add_flag("--resume", args->resume, "continue the run from its checkpoint");
  sub->add_option("--stop-after", args->stop_after, "stop with a checkpoint after this step (as if interrupted)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--point", args->point, "run only this run of the file's [sweep], by its run name");
  sub->add_option("--threads", args->threads, "intra-op threads when the config leaves them open (experiment.threads = 0)")
      ->check(CLI::PositiveNumber);
  return {sub, [args] { return run(*args); }};
}

}  // namespace lmlab::commands
