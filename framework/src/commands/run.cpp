// `lmlab run FILE`: trains and evaluates the file's experiment in this process. With --point it
// runs one run of a sweep file: that is how `lmlab sweep` runs each of its runs in a child.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands/command.hpp"
#include "distributed/local_launcher.hpp"
#include "distributed/world.hpp"
#include "experiment/experiment_loader.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_loader.hpp"
#include "reporting/report.hpp"
#include "results/run_status.hpp"
#include "training/bf16_products.hpp"
#include "training/runtime.hpp"
#include "training/trainer.hpp"
#include "util/error_text.hpp"
#include "util/run_lock.hpp"

namespace lmlab::commands {
namespace {

namespace fs = std::filesystem;

struct RunArgs {
  ExperimentFileArgs experiment;
  bool resume = false;
  std::int64_t stop_after = 0;
  std::string point;         // one run of a sweep file, by its run name
  std::int64_t threads = 0;  // when the config leaves them open
  int nproc_per_node = 1;    // > 1: start that many ranks here and wait for them
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
int train(const RunArgs& a, const std::vector<Experiment>& runs, const Registry& registry, bool main_rank) {
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
  // A sweep's child leaves the index to the sweep; ranks other than 0 write nothing.
  if (a.point.empty() && main_rank) rebuild_index_of(runs);
  if (!summaries.empty() && main_rank) print_summary(std::cout, summaries);
  if (!failures.empty()) {
    std::cerr << fmt::format("{} of {} run(s) failed: {}\n", failures.size(), runs.size(), fmt::join(failures, ", "));
    return exit_failed;
  }
  const bool stopped = stop_requested() || (!summaries.empty() && summaries.back().status == RunStatus::stopped);
  return stopped ? exit_stopped : 0;
}

// The command line a rank runs: this one without --nproc-per-node.
std::vector<std::string> rank_arguments(const RunArgs& a) {
  std::vector<std::string> args{"run", a.experiment.file};
  for (const auto& s : a.experiment.overrides) args.insert(args.end(), {"--set", s});
  if (a.resume) args.emplace_back("--resume");
  if (a.stop_after > 0) args.insert(args.end(), {"--stop-after", std::to_string(a.stop_after)});
  if (!a.point.empty()) args.insert(args.end(), {"--point", a.point});
  if (a.threads > 0) args.insert(args.end(), {"--threads", std::to_string(a.threads)});
  return args;
}

// Every rank of a CPU bf16 run multiplies alike, as every run of a sweep does: decided once
// here with a rank's threads, handed on in LMLAB_CPU_BF16_PRODUCTS (a value already set wins).
// The float32 products need no such step: their choice follows the CPU's flags.
void settle_rank_bf16_products(const Experiment& run, int ranks) {
  if (const char* set = std::getenv("LMLAB_CPU_BF16_PRODUCTS"); (set && *set) || run.experiment.precision != "bf16") return;
  if (!resolve_device(run.experiment.device).is_cpu()) return;
  configure_threads(run.experiment.threads > 0 ? run.experiment.threads : std::max(1, available_cpus() / ranks));
  const Bf16ProductsChoice choice = choose_bf16_products(c10::Device(c10::kCPU), true);
  setenv("LMLAB_CPU_BF16_PRODUCTS", environment_value(choice.products).c_str(), 1);
}

// --nproc-per-node: the run, checked here as its ranks will resolve it, trained by that many
// children of this process.
int launch(const RunArgs& a, const Experiment& run) {
  settle_rank_bf16_products(run, a.nproc_per_node);
  distributed::LocalLaunch launch;
  launch.binary = fs::read_symlink("/proc/self/exe").string();
  launch.arguments = rank_arguments(a);
  launch.ranks = a.nproc_per_node;
  launch.run_file = run_file_path(run);
  launch.run_name = run.run_name;
  launch.out = &std::cerr;
  launch.stop_requested = [] { return stop_requested(); };
  return distributed::launch_local_ranks(launch);
}

// Errors found while reading the file and loading plugins are bad input (exit 2), reported while
// the plugins that raised them are still loaded.
int run(const RunArgs& a) {
  install_stop_handler();
  Registry registry;
  PluginLoader loader(registry);
  std::vector<Experiment> runs;
  distributed::World world;
  try {
    world = distributed::world_from_environment();
    if (a.nproc_per_node > 1 && world.distributed()) {
      throw ConfigError(fmt::format("--nproc-per-node {}: this process is already rank {} of {} ({}'s environment)",
                                    a.nproc_per_node, world.rank, world.world_size, world.source));
    }
    const std::int64_t ranks = a.nproc_per_node > 1 ? a.nproc_per_node : world.world_size;
    runs = load_runs(a.experiment.file, a.experiment.overrides, loader, registry, nullptr, ranks);
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
  if (a.nproc_per_node > 1) return launch(a, runs.front());
  return train(a, runs, registry, world.is_main());
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
  sub->add_option("--nproc-per-node", args->nproc_per_node,
                  "train with this many processes here (data parallel: each takes train.batch_size rows of every "
                  "micro-step and its share of the CPUs); see docs/distributed.md")
      ->check(CLI::Range(1, 1024));
  return {sub, [args] { return run(*args); }};
}

}  // namespace lmlab::commands
