// `lmlab validate FILE`: reads the file, loads its plugins and checks every run it defines (each
// sweep point), printing each run's name and config hash; trains nothing.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands/command.hpp"
#include "experiment/experiment_loader.hpp"
#include "lmlab/plugin_loader.hpp"

namespace lmlab::commands {
namespace {

int validate(const ExperimentFileArgs& a) {
  Registry registry;
  PluginLoader loader(registry);
  const auto runs = load_runs(a.file, a.overrides, loader, registry);
  for (const auto& run : runs) std::cout << fmt::format("ok  {}  {}\n", run.run_name, run.config_hash);
  std::cout << fmt::format("{}: {} run(s) valid\n", a.file, runs.size());
  return 0;
}

}  // namespace

Command add_validate_command(CLI::App& app) {
  auto args = std::make_shared<ExperimentFileArgs>();
  auto* sub = app.add_subcommand("validate", "check an experiment file (and each sweep point) without running it");
  add_experiment_file(*sub, *args);
  return {sub, [args] { return validate(*args); }};
}

}  // namespace lmlab::commands
