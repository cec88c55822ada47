// The lmlab host: runs, validates and sweeps experiment files and lists the loaded plugins.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "lmlab/build_info.hpp"
#include "lmlab/error.hpp"
#include "lmlab/experiment_loader.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/report.hpp"
#include "lmlab/trainer.hpp"

namespace {

// Exit codes, so scripts can tell a bad file from a failed run.
constexpr int exit_failed = 1;
constexpr int exit_bad_input = 2;
constexpr int exit_stopped = 130;

void on_signal(int) { lmlab::request_stop(); }

struct Options {
  std::string file;
  std::vector<std::string> overrides;
  bool resume = false;
  std::int64_t stop_after = 0;
  std::vector<std::string> plugin_paths;
};

int run_all(const Options& o, bool sweep) {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const auto runs = lmlab::load_runs(o.file, o.overrides, loader, registry);
  if (!sweep && runs.size() > 1) {
    throw lmlab::ConfigError(fmt::format("{}: [sweep] defines {} runs; run them with `lmlab sweep {}`", o.file,
                                         runs.size(), o.file));
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::vector<lmlab::RunSummary> summaries;
  lmlab::RunOptions run_options;
  run_options.resume = o.resume;
  run_options.stop_after = o.stop_after;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs.size() > 1) std::cerr << fmt::format("\n== run {}/{}: {}\n", i + 1, runs.size(), runs[i].run_name);
    summaries.push_back(lmlab::run_experiment(runs[i], registry, run_options));
    if (summaries.back().status == "stopped") break;
  }
  lmlab::print_summary(std::cout, summaries);
  return summaries.back().status == "stopped" ? exit_stopped : 0;
}

int validate(const Options& o) {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const auto runs = lmlab::load_runs(o.file, o.overrides, loader, registry);
  for (const auto& run : runs) std::cout << fmt::format("ok  {}  {}\n", run.run_name, run.config_hash);
  std::cout << fmt::format("{}: {} run(s) valid\n", o.file, runs.size());
  return 0;
}

int list_plugins(const Options& o) {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  loader.load_standard(o.plugin_paths, std::filesystem::current_path());
  lmlab::print_plugins(std::cout, registry.all());
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
  auto* sweep = app.add_subcommand("sweep", "run every point of the file's [sweep], one after another");
  add_file(sweep);
  sweep->add_flag("--resume", o.resume, "continue each run from its checkpoint");
  auto* check = app.add_subcommand("validate", "check an experiment file (and each sweep point) without running it");
  add_file(check);
  auto* plugins = app.add_subcommand("plugins", "list the loaded plugins and their options");
  plugins->add_option("--plugin-path", o.plugin_paths, "another plugin folder or library (repeatable)");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*run) return run_all(o, false);
    if (*sweep) return run_all(o, true);
    if (*check) return validate(o);
    return list_plugins(o);
  } catch (const lmlab::ConfigError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_bad_input;
  } catch (const lmlab::PluginError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return exit_bad_input;
  } catch (const std::exception& e) {
    std::cerr << "run failed: " << e.what() << '\n';
    return exit_failed;
  }
}
