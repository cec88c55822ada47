// The lmlab host: runs, validates and sweeps experiment files and lists the loaded plugins.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <tuple>
#include <iostream>
#include <optional>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include "lmlab/build_info.hpp"
#include "lmlab/config.hpp"
#include "lmlab/error.hpp"
#include "lmlab/experiment_index.hpp"
#include "lmlab/experiment_report.hpp"
#include "lmlab/expectations.hpp"
#include "lmlab/experiment_loader.hpp"
#include "lmlab/generate_command.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/slurm.hpp"
#include "lmlab/sweep_plan.hpp"
#include "lmlab/sweep_runner.hpp"
#include "lmlab/report.hpp"
#include "lmlab/scaffold.hpp"
#include "lmlab/trainer.hpp"
#include "lmlab/watch.hpp"

namespace {

namespace fs = std::filesystem;

// Exit codes, so scripts can tell a bad file from a failed run.
constexpr int exit_failed = 1;
constexpr int exit_bad_input = 2;
constexpr int exit_stopped = 130;

void on_signal(int) { lmlab::request_stop(); }

// The first SIGINT/SIGTERM asks the run to stop after its step, with a checkpoint; the handler
// then resets itself, so a second one ends the process at once.
void install_stop_handler() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

struct Options {
  std::string file;
  std::vector<std::string> overrides;
  bool resume = false;
  std::int64_t stop_after = 0;
  std::vector<std::string> plugin_paths;
  bool dry_run = false;
  bool retry_failed = false;
  std::string shard = "0/1";
  std::int64_t jobs = 1;
  std::string emit_slurm;   // `sweep --emit-slurm PATH`
  std::string point;        // `run --point NAME`: one run of a sweep file
  std::int64_t threads = 0; // `run --threads N`: when the config leaves them open
};

// The experiment's index, rebuilt from every run file in its folder (those of earlier sweeps
// and other shards included); a run's outcome does not depend on it.
void rebuild_index_of(const std::vector<lmlab::Experiment>& runs) {
  if (runs.empty()) return;
  const fs::path folder = fs::path(runs.front().experiment.results_dir) / runs.front().experiment.name;
  try {
    if (fs::is_directory(folder)) lmlab::rebuild_index(folder);
  } catch (const std::exception& e) {
    std::cerr << fmt::format("warning: cannot rebuild {}: {}\n", (folder / "index.h5").string(), e.what());
  }
}

// The sbatch script of a sweep: one array task per shard.
int emit_slurm(const Options& o, const std::vector<lmlab::Experiment>& runs) {
  lmlab::SlurmJob job;
  job.binary = fs::read_symlink("/proc/self/exe");
  job.file = fs::absolute(o.file);
  job.working_dir = fs::current_path();
  job.overrides = o.overrides;
  job.runs = static_cast<std::int64_t>(runs.size());
  job.name = runs.empty() ? "lmlab" : runs.front().experiment.name;
  job.log_dir = runs.empty() ? fs::current_path() : fs::absolute(fs::path(runs.front().experiment.results_dir) / job.name);
  const auto options = lmlab::read_slurm(lmlab::load_experiment_file(o.file));
  fs::create_directories(job.log_dir);  // Slurm opens its log files before the script runs
  const std::string script = lmlab::slurm_script(options, job);
  std::ofstream out(o.emit_slurm);
  out << script;
  if (!out) throw lmlab::DataError("cannot write " + o.emit_slurm);
  std::cout << fmt::format("{}: an sbatch job array for {} run(s); submit it with `sbatch {}`\n", o.emit_slurm, runs.size(), o.emit_slurm);
  return 0;
}

// A sweep's runs, each in a child process (`lmlab run FILE --point NAME`), `--jobs` at a time.
int run_children(const Options& o, const std::vector<lmlab::PlannedRun>& plan, const std::vector<lmlab::Experiment>& runs) {
  lmlab::SweepRunOptions options;
  options.binary = fs::read_symlink("/proc/self/exe").string();
  options.file = o.file;
  options.overrides = o.overrides;
  options.jobs = o.jobs;
  options.out = &std::cerr;
  options.live = isatty(STDERR_FILENO) == 1;
  std::vector<std::string> failed_before;
  for (const auto& p : plan) {
    if (p.action == lmlab::RunAction::failed) failed_before.push_back(p.name);
  }
  const lmlab::SweepOutcome outcome = lmlab::run_sweep(plan, options);
  rebuild_index_of(runs);
  std::cerr << fmt::format("sweep: {} complete, {} stopped, {} failed this time\n", outcome.complete.size(),
                           outcome.stopped.size(), outcome.failed.size());
  for (const auto& [name, reason] : outcome.failed) std::cerr << fmt::format("  failed {}: {}\n", name, reason);
  if (!failed_before.empty()) {
    std::cerr << fmt::format("{} run(s) failed in an earlier sweep and were skipped (--retry-failed reruns them): {}\n",
                             failed_before.size(), fmt::join(failed_before, ", "));
  }
  if (!outcome.failed.empty() || !failed_before.empty()) return exit_failed;
  return outcome.stopped.empty() && !lmlab::stop_requested() ? 0 : exit_stopped;
}

// Errors found while reading the file and loading plugins are bad input (exit 2); a run that
// fails afterwards is recorded in its run file, and the others of a sweep still run (exit 1).
int run_all(const Options& o, bool sweep) {
  install_stop_handler();
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  std::vector<lmlab::Experiment> runs;
  std::vector<lmlab::SweepPoint> excluded;
  std::vector<lmlab::PlannedRun> plan;
  try {
    runs = lmlab::load_runs(o.file, o.overrides, loader, registry, &excluded);
    if (sweep) {
      lmlab::SweepPlanOptions plan_options;
      plan_options.retry_failed = o.retry_failed;
      std::tie(plan_options.shard, plan_options.shards) = lmlab::parse_shard(o.shard);
      plan = lmlab::plan_sweep(runs, excluded, plan_options);
    }
  } catch (const lmlab::Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_bad_input;
  }
  if (!o.point.empty()) {
    const auto it = std::find_if(runs.begin(), runs.end(), [&](const lmlab::Experiment& r) { return r.run_name == o.point; });
    if (it == runs.end()) {
      std::vector<std::string> names;
      for (const auto& r : runs) names.push_back(r.run_name);
      std::cerr << fmt::format("error: {}: --point {}: no such run; the file's runs: {}\n", o.file, o.point,
                               fmt::join(names, ", "));
      return exit_bad_input;
    }
    runs = {*it};
  }
  if (!sweep && runs.size() > 1) {
    std::cerr << fmt::format("error: {}: [sweep] defines {} runs; run them with `lmlab sweep {}`\n", o.file,
                             runs.size(), o.file);
    return exit_bad_input;
  }
  if (sweep && !o.emit_slurm.empty()) return emit_slurm(o, runs);
  if (sweep) {
    lmlab::print_plan(std::cout, plan);
    if (o.dry_run) return 0;
    return run_children(o, plan, runs);
  } else {
    for (const auto& run : runs) plan.push_back({run.run_name, o.resume ? lmlab::RunAction::resume : lmlab::RunAction::start, "", &run});
  }
  std::vector<lmlab::RunSummary> summaries;
  std::vector<std::string> failures;
  std::size_t to_run = 0, done = 0;
  for (const auto& p : plan) to_run += lmlab::runs(p);
  for (const auto& planned : plan) {
    if (!lmlab::runs(planned) || lmlab::stop_requested()) continue;
    lmlab::RunOptions run_options;
    run_options.resume = planned.action == lmlab::RunAction::resume;
    run_options.stop_after = o.stop_after;
    run_options.threads = o.threads;
    if (to_run > 1) std::cerr << fmt::format("\n== run {}/{}: {} ({})\n", ++done, to_run, planned.name, planned.why);
    try {
      summaries.push_back(lmlab::run_experiment(*planned.run, registry, run_options));
    } catch (const std::exception& e) {
      std::cerr << fmt::format("run {} failed: {}\n", planned.name, e.what());
      failures.push_back(planned.name);
      continue;
    }
    if (summaries.back().status == "stopped") break;
  }
  // A sweep's child leaves the index to the sweep.
  if (o.point.empty()) rebuild_index_of(runs);
  if (!summaries.empty()) lmlab::print_summary(std::cout, summaries);
  if (!failures.empty()) {
    std::cerr << fmt::format("{} of {} run(s) failed: {}\n", failures.size(), to_run, fmt::join(failures, ", "));
    return exit_failed;
  }
  const bool stopped = lmlab::stop_requested() || (!summaries.empty() && summaries.back().status == "stopped");
  return stopped ? exit_stopped : 0;
}

int validate(const Options& o) {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const auto runs = lmlab::load_runs(o.file, o.overrides, loader, registry);
  for (const auto& run : runs) std::cout << fmt::format("ok  {}  {}\n", run.run_name, run.config_hash);
  std::cout << fmt::format("{}: {} run(s) valid\n", o.file, runs.size());
  return 0;
}

int generate(const Options& o, lmlab::GenerateRequest request, const std::vector<std::string>& inline_prompts,
             const std::string& prompts_file) {
  request.prompts = inline_prompts;
  if (!prompts_file.empty()) {
    const auto more = lmlab::read_prompts(prompts_file);
    request.prompts.insert(request.prompts.end(), more.begin(), more.end());
  }
  request.overrides = o.overrides;
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  loader.load_standard(o.plugin_paths, std::filesystem::current_path(), "--plugin-path");
  lmlab::run_generate(request, loader, registry, std::cout, std::cerr);
  return 0;
}

int index(const std::string& folder) {
  const auto runs = lmlab::rebuild_index(folder);
  std::cout << fmt::format("{}: {} run(s)\n", (fs::path(folder) / "index.h5").string(), runs.size());
  return 0;
}

int report(const std::string& folder, const lmlab::ReportOptions& options) {
  const auto result = lmlab::write_report(folder, options);
  std::cout << fmt::format("{} ({} runs, {} plots)\n", result.markdown.string(), result.runs.size(), result.plots.size());
  for (const auto& png : result.plots) std::cout << "  " << png.string() << '\n';
  return 0;
}

int list_plugins(const Options& o) {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  loader.load_standard(o.plugin_paths, std::filesystem::current_path(), "--plugin-path");
  lmlab::print_plugins(std::cout, registry.all());
  return 0;
}

// `lmlab check`: the expectations of an experiment file against its results folder. Given a
// folder, the file is the one its latest run was made from.
int check_results(const std::string& target, const std::string& file_option, bool metrics_only) {
  fs::path file = file_option, folder;
  std::error_code ec;
  const bool from_folder = fs::is_directory(target, ec);
  if (from_folder) folder = target;
  if (file.empty()) file = from_folder ? lmlab::experiment_file_of(folder) : fs::path(target);
  const toml::table config = lmlab::load_experiment_file(file);
  if (!from_folder) {
    // Where `lmlab run` writes (the defaults are the [experiment] section's).
    folder = fs::path(config["experiment"]["results_dir"].value_or(std::string("results"))) /
             config["experiment"]["name"].value_or(std::string("experiment"));
  }
  const auto expectations = lmlab::read_expectations(config);
  if (expectations.empty()) {
    std::cerr << fmt::format("error: {} has no [[expect]] entries to check\n", file.string());
    return exit_bad_input;
  }
  if (!fs::is_directory(folder, ec)) {
    std::cerr << fmt::format("error: {} does not exist: run the experiment first ({})\n", folder.string(), file.string());
    return exit_bad_input;
  }
  std::cout << fmt::format("{}: {} expectation(s) against {}\n", file.string(), expectations.size(), folder.string());
  return lmlab::check_expectations(expectations, lmlab::rebuild_index(folder), std::cout, metrics_only) == 0 ? 0 : exit_failed;
}

// Where find_package(lmlab) finds this host's package, when it is installed.
std::optional<fs::path> installed_package_dir() {
  const fs::path libdir = lmlab::PluginLoader::builtin_folder().parent_path().parent_path();
  const fs::path dir = libdir / "cmake" / "lmlab";
  std::error_code ec;
  if (fs::is_regular_file(dir / "lmlabConfig.cmake", ec)) return dir;
  return std::nullopt;
}

int new_plugin(lmlab::ScaffoldRequest request) {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  loader.load_folder(lmlab::PluginLoader::builtin_folder());
  if (request.corpus.empty()) request.corpus = fs::path(lmlab::build_info::source_dir) / "data" / "brown";
  const auto files = lmlab::write_scaffold(request, registry);
  const fs::path dir = files.front().parent_path();
  const bool vowel = std::string_view("aeiou").find(request.kind.front()) != std::string_view::npos;
  std::cout << fmt::format("{} {} plugin project '{}' in {}:\n", vowel ? "an" : "a", request.kind, request.name,
                           dir.string());
  for (const auto& f : files) std::cout << "  " << f.filename().string() << '\n';
  const auto package = installed_package_dir();
  const std::string where = package ? fmt::format("-Dlmlab_DIR={}", package->string())
                                    : std::string("-DCMAKE_PREFIX_PATH=<prefix>");
  std::cout << fmt::format("next:\n  cd {}\n  cmake -S . -B build {}\n  cmake --build build && ctest --test-dir build\n"
                           "  LMLAB_PLUGIN_PATH=$PWD/build/plugins lmlab run experiment.toml\n",
                           dir.string(), where);
  if (!package) {
    std::cout << fmt::format("(this lmlab is not installed: `cmake --install {} --prefix <prefix>` first; see "
                             "docs/writing-plugins.md)\n",
                             fs::path(lmlab::build_info::plugin_dir).parent_path().string());
  }
  std::error_code ec;
  if (!fs::is_directory(request.corpus, ec)) {
    std::cout << fmt::format("note: the corpus {} does not exist yet; fetch it or set data.corpus in experiment.toml\n",
                             request.corpus.string());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lmlab: language-model ablations from TOML experiment files"};
  app.set_version_flag("--version", std::string("lmlab ") + lmlab::build_info::version);
  app.require_subcommand(1);
  Options o;

  auto add_file = [&](CLI::App* c) {
    c->add_option("file", o.file, "experiment file (TOML)")->required()->check(CLI::ExistingFile);
    c->add_option("--set", o.overrides, "override a value: section.key=value (repeatable)");
  };
  auto* run = app.add_subcommand("run", "train and evaluate one experiment");
  add_file(run);
  run->add_flag("--resume", o.resume, "continue the run from its checkpoint");
  run->add_option("--stop-after", o.stop_after, "stop with a checkpoint after this step (as if interrupted)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--point", o.point, "run only this run of the file's [sweep], by its run name");
  run->add_option("--threads", o.threads, "intra-op threads when the config leaves them open (experiment.threads = 0)")
      ->check(CLI::PositiveNumber);
  auto* sweep = app.add_subcommand("sweep", "run every point of the file's [sweep], skipping complete runs and "
                                             "resuming interrupted ones");
  add_file(sweep);
  sweep->add_flag("--dry-run", o.dry_run, "list the runs and what would happen to each, run nothing");
  sweep->add_flag("--retry-failed", o.retry_failed, "rerun runs that failed before (otherwise skipped)");
  sweep->add_option("--shard", o.shard, "run every N-th run starting at i (i/N, 0-based), e.g. 1/4");
  sweep->add_option("--emit-slurm", o.emit_slurm, "write an sbatch job-array script for the sweep ([slurm] table) to this file");
  sweep->add_option("--jobs", o.jobs, "runs at once, each in its own process, sharing the CPUs")->check(CLI::PositiveNumber);
  auto* check = app.add_subcommand("validate", "check an experiment file (and each sweep point) without running it");
  add_file(check);
  auto* plugins = app.add_subcommand("plugins", "list the loaded plugins and their options");
  plugins->add_option("--plugin-path", o.plugin_paths, "another plugin folder or library (repeatable)");

  auto* gen = app.add_subcommand("generate", "continue prompts with a trained checkpoint");
  lmlab::GenerateRequest request;
  std::vector<std::string> inline_prompts;
  std::string prompts_file, checkpoint;
  std::int64_t max_new_tokens = -1, seed = -1;
  bool no_cache = false;
  gen->add_option("--checkpoint", checkpoint, "a .ckpt file, or a results folder holding one")->required();
  gen->add_option("--prompt", inline_prompts, "a prompt (repeatable; all are decoded as one batch)");
  gen->add_option("--prompts", prompts_file, "a file of prompts, one per line")->check(CLI::ExistingFile);
  gen->add_option("--set", o.overrides, "override the run's config: decoding.top_p.p=0.9 (repeatable)");
  gen->add_option("--decoding", request.decoding, "which configuration: default or a [[decoding.eval]] name");
  gen->add_option("--max-new-tokens", max_new_tokens, "tokens to generate (default: the run's eval.max_new_tokens)")
      ->check(CLI::NonNegativeNumber);
  gen->add_option("--seed", seed, "sampling seed (default: the run's experiment.seed)")->check(CLI::NonNegativeNumber);
  gen->add_option("--device", request.device, "auto, cpu, cuda or cuda:<index> (default: the run's)");
  gen->add_flag("--no-cache", no_cache, "re-read the window at every step instead of using the key/value cache");
  gen->add_option("--plugin-path", o.plugin_paths, "another plugin folder or library (repeatable)");

  std::string results_folder;
  auto* idx = app.add_subcommand("index", "rebuild results/<experiment>/index.h5 from the run files there");
  idx->add_option("folder", results_folder, "an experiment's results folder")->required()->check(CLI::ExistingDirectory);
  auto* rep = app.add_subcommand("report", "write report.md and plots for an experiment's results folder");
  rep->add_option("folder", results_folder, "an experiment's results folder")->required()->check(CLI::ExistingDirectory);
  lmlab::ReportOptions report_options;
  bool no_plots = false;
  rep->add_flag("--no-plots", no_plots, "tables only (no gnuplot needed)");
  rep->add_option("--gnuplot", report_options.gnuplot, "the gnuplot program");
  auto* watch = app.add_subcommand("watch", "follow a run's file while it trains (until it ends)");
  std::string watched;
  lmlab::WatchOptions watch_options;
  bool plain = false;
  watch->add_option("run", watched, "a run file (.h5); waits for it to appear")->required();
  watch->add_option("--interval", watch_options.interval_s, "seconds between reads")->check(CLI::PositiveNumber);
  watch->add_flag("--once", watch_options.once, "print one view and exit");
  watch->add_flag("--plain", plain, "print each changed view instead of redrawing the screen");

  auto* chk = app.add_subcommand("check", "judge an experiment's [[expect]] claims against its run files (exit 1 if any fails)");
  std::string check_target, check_file;
  chk->add_option("target", check_target, "a results folder (results/<experiment>) or an experiment file")->required();
  bool check_metrics_only = false;
  chk->add_flag("--metrics-only", check_metrics_only,
                "only check that every run a claim selects reports its metric (for scaled-down runs)");
  chk->add_option("--file", check_file, "the experiment file whose [[expect]] to check (default: the one the runs were made from)");
  auto* scaffold = app.add_subcommand("new-plugin", "write a ready-to-build plugin project (see docs/writing-plugins.md)");
  lmlab::ScaffoldRequest scaffold_request;
  std::string scaffold_dir, scaffold_corpus;
  scaffold->add_option("kind", scaffold_request.kind, "architecture, objective, decoding, regulariser or metric")->required();
  scaffold->add_option("name", scaffold_request.name, "the plugin's name (lower case, digits, _)")->required();
  scaffold->add_option("--dir", scaffold_dir, "the project folder (default: ./NAME); must not exist or be empty");
  scaffold->add_option("--corpus", scaffold_corpus, "the corpus folder experiment.toml trains on (default: lmlab's data/brown)");

  CLI11_PARSE(app, argc, argv);
  scaffold_request.dir = scaffold_dir;
  scaffold_request.corpus = scaffold_corpus.empty() ? fs::path() : fs::absolute(scaffold_corpus);
  report_options.plots = !no_plots;
  watch_options.redraw = !plain && isatty(STDOUT_FILENO) == 1;
  request.checkpoint = checkpoint;
  if (max_new_tokens >= 0) request.max_new_tokens = max_new_tokens;
  if (seed >= 0) request.seed = seed;
  request.use_cache = !no_cache;
  try {
    if (*run) return run_all(o, false);
    if (*sweep) return run_all(o, true);
    if (*check) return validate(o);
    if (*gen) return generate(o, request, inline_prompts, prompts_file);
    if (*idx) return index(results_folder);
    if (*rep) return report(results_folder, report_options);
    if (*watch) return lmlab::watch(watched, watch_options, std::cout);
    if (*scaffold) return new_plugin(scaffold_request);
    if (*chk) return check_results(check_target, check_file, check_metrics_only);
    return list_plugins(o);
  } catch (const lmlab::Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_bad_input;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_failed;
  } catch (...) {
    std::cerr << "error: unknown exception\n";
    return exit_failed;
  }
}
