// `lmlab sweep FILE`: every run of the file's [sweep], planned from the run files already there
// (complete ones skipped, interrupted ones resumed), each run in a child process
// (`lmlab run FILE --point NAME`), `--jobs` at a time; or, with --emit-slurm, an sbatch script.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include "commands/command.hpp"
#include "experiment/config.hpp"
#include "experiment/experiment_loader.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_loader.hpp"
#include "sweeps/slurm.hpp"
#include "sweeps/sweep_plan.hpp"
#include "sweeps/sweep_runner.hpp"
#include "training/trainer.hpp"
#include "util/run_lock.hpp"

namespace lmlab::commands {
namespace {

namespace fs = std::filesystem;

struct SweepArgs {
  ExperimentFileArgs experiment;
  bool dry_run = false;
  bool retry_failed = false;
  std::string shard = "0/1";
  std::int64_t jobs = 1;
  std::string emit_slurm;  // the sbatch script to write instead of running
};

// The sbatch script of a sweep: one array task per shard.
int emit_slurm(const SweepArgs& a, const std::vector<Experiment>& runs) {
  SlurmJob job;
  job.binary = fs::read_symlink("/proc/self/exe");
  job.file = fs::absolute(a.experiment.file);
  job.working_dir = fs::current_path();
  job.overrides = a.experiment.overrides;
  job.runs = static_cast<std::int64_t>(runs.size());
  job.name = runs.empty() ? "lmlab" : runs.front().experiment.name;
  job.log_dir = runs.empty() ? fs::current_path() : fs::absolute(runs.front().experiment.results_folder());
  for (const auto& run : runs) job.run_names.push_back(run.run_name);
  const auto options = read_slurm(load_experiment_file(a.experiment.file));
  fs::create_directories(job.log_dir);  // Slurm opens its log files before the script runs
  const std::string script = slurm_script(options, job);
  std::ofstream out(a.emit_slurm);
  out << script;
  if (!out) throw DataError("cannot write " + a.emit_slurm);
  std::cout << fmt::format("{}: an sbatch job array for {} run(s); submit it with `sbatch {}`\n", a.emit_slurm,
                           runs.size(), a.emit_slurm);
  return 0;
}

// The sweep's lock in its results folder, one per shard: a second sweep of the experiment, or a
// second Slurm task given the same --shard, is refused before it plans anything. (Overlapping
// shards of different counts are caught run by run, by each run's own lock.)
RunLock lock_sweep(const Experiment& first, std::int64_t shard, std::int64_t shards) {
  const std::string name = shards == 1 ? "sweep.lock" : fmt::format("sweep-shard-{}-of-{}.lock", shard, shards);
  return RunLock::acquire(first.experiment.results_folder() / name,
                          shards == 1 ? "the sweep" : fmt::format("shard {}/{} of the sweep", shard, shards),
                          "Two sweeps of one experiment would start the same runs twice, so this one does not start. "
                          "Wait for the other to end, or stop it (Ctrl-C or SIGINT: its runs checkpoint) and run the "
                          "sweep again to resume them; shards of one sweep each need their own --shard i/N.",
                          &std::cerr);
}

// The planned runs, each in a child process, `--jobs` at a time. Runs that failed in an earlier
// sweep are skipped but still fail this one (exit 1), so a script notices them.
int run_children(const SweepArgs& a, const std::vector<PlannedRun>& plan, const std::vector<Experiment>& runs) {
  SweepRunOptions options;
  options.binary = fs::read_symlink("/proc/self/exe").string();
  options.file = a.experiment.file;
  options.overrides = a.experiment.overrides;
  options.jobs = a.jobs;
  options.out = &std::cerr;
  options.live = isatty(STDERR_FILENO) == 1;
  std::vector<std::string> failed_before;
  for (const auto& p : plan) {
    if (p.action == RunAction::failed) failed_before.push_back(p.name);
  }
  const SweepOutcome outcome = run_sweep(plan, options);
  rebuild_index_of(runs);
  std::cerr << fmt::format("sweep: {} complete, {} stopped, {} failed this time\n", outcome.complete.size(),
                           outcome.stopped.size(), outcome.failed.size());
  for (const auto& [name, reason] : outcome.failed) std::cerr << fmt::format("  failed {}: {}\n", name, reason);
  if (!failed_before.empty()) {
    std::cerr << fmt::format("{} run(s) failed in an earlier sweep and were skipped (--retry-failed reruns them): {}\n",
                             failed_before.size(), fmt::join(failed_before, ", "));
  }
  if (!outcome.failed.empty() || !failed_before.empty()) return exit_failed;
  return outcome.stopped.empty() && !stop_requested() ? 0 : exit_stopped;
}

// Errors found while reading the file, loading plugins and planning are bad input (exit 2),
// reported while the plugins that raised them are still loaded.
int sweep(const SweepArgs& a) {
  install_stop_handler();
  Registry registry;
  PluginLoader loader(registry);
  std::vector<Experiment> runs;
  std::vector<SweepPoint> excluded;
  std::vector<PlannedRun> plan;
  std::optional<RunLock> lock;  // held until every child has ended and the index is rebuilt
  try {
    // A job whose runs each train on several Slurm tasks names them as their ranks will.
    const std::int64_t ranks =
        a.emit_slurm.empty() ? 1 : read_slurm(load_experiment_file(a.experiment.file)).tasks_per_run();
    runs = load_runs(a.experiment.file, a.experiment.overrides, loader, registry, &excluded, ranks);
    SweepPlanOptions plan_options;
    plan_options.retry_failed = a.retry_failed;
    std::tie(plan_options.shard, plan_options.shards) = parse_shard(a.shard);
    // Planned under the lock: what another sweep was doing is over by then.
    const bool runs_children = !a.dry_run && a.emit_slurm.empty();
    if (runs_children && !runs.empty()) lock = lock_sweep(runs.front(), plan_options.shard, plan_options.shards);
    plan = plan_sweep(runs, excluded, plan_options);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_bad_input;
  }
  if (!a.emit_slurm.empty()) return emit_slurm(a, runs);
  print_plan(std::cout, plan);
  if (a.dry_run) return 0;
  return run_children(a, plan, runs);
}

}  // namespace

Command add_sweep_command(CLI::App& app) {
  auto args = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand("sweep", "run every point of the file's [sweep], skipping complete runs and "
                                          "resuming interrupted ones");
  add_experiment_file(*sub, args->experiment);
  sub->add_flag("--dry-run", args->dry_run, "list the runs and what would happen to each, run nothing");
  sub->add_flag("--retry-failed", args->retry_failed, "rerun runs that failed before (otherwise skipped)");
  sub->add_option("--shard", args->shard, "run every N-th run starting at i (i/N, 0-based), e.g. 1/4");
  sub->add_option("--emit-slurm", args->emit_slurm,
                  "write an sbatch job-array script for the sweep ([slurm] table) to this file");
  sub->add_option("--jobs", args->jobs, "runs at once, each in its own process, sharing the CPUs")
      ->check(CLI::PositiveNumber);
  return {sub, [args] { return sweep(*args); }};
}

}  // namespace lmlab::commands
