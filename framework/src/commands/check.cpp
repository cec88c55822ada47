// `lmlab check TARGET`: judges the [[expect]] claims of an experiment file against the run files
// in its results folder (exit 1 if any fails). Given a folder, the file is the one its latest
// run was made from.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands/command.hpp"
#include "experiment/config.hpp"
#include "experiment/experiment.hpp"
#include "results/expectations.hpp"
#include "results/experiment_index.hpp"

namespace lmlab::commands {
namespace {

namespace fs = std::filesystem;

struct CheckArgs {
  std::string target;  // a results folder or an experiment file
  std::string file;    // --file: overrides the folder's own
  bool metrics_only = false;
};

// Where `lmlab run` writes the file's runs, read from the raw file with the [experiment]
// section's defaults: nothing else in it needs to be valid for its claims to be checked.
fs::path results_folder_of(const toml::table& config) {
  ExperimentSection section;
  section.results_dir = config["experiment"]["results_dir"].value_or(std::string(section.results_dir));
  section.name = config["experiment"]["name"].value_or(std::string(section.name));
  return section.results_folder();
}

int check(const CheckArgs& a) {
  fs::path file = a.file, folder;
  std::error_code ec;
  const bool from_folder = fs::is_directory(a.target, ec);
  if (from_folder) folder = a.target;
  if (file.empty()) file = from_folder ? experiment_file_of(folder) : fs::path(a.target);
  const toml::table config = load_experiment_file(file);
  if (!from_folder) folder = results_folder_of(config);
  const auto expectations = read_expectations(config);
  if (expectations.empty()) {
    std::cerr << fmt::format("error: {} has no [[expect]] entries to check\n", file.string());
    return exit_bad_input;
  }
  if (!fs::is_directory(folder, ec)) {
    std::cerr << fmt::format("error: {} does not exist: run the experiment first ({})\n", folder.string(), file.string());
    return exit_bad_input;
  }
  std::cout << fmt::format("{}: {} expectation(s) against {}\n", file.string(), expectations.size(), folder.string());
  return check_expectations(expectations, rebuild_index(folder), std::cout, a.metrics_only) == 0 ? 0 : exit_failed;
}

}  // namespace

Command add_check_command(CLI::App& app) {
  auto args = std::make_shared<CheckArgs>();
  auto* sub = app.add_subcommand(
      "check", "judge an experiment's [[expect]] claims against its run files (exit 1 if any fails)");
  sub->add_option("target", args->target, "a results folder (results/<experiment>) or an experiment file")->required();
  sub->add_flag("--metrics-only", args->metrics_only,
                "only check that every run a claim selects reports its metric (for scaled-down runs)");
  sub->add_option("--file", args->file,
                  "the experiment file whose [[expect]] to check (default: the one the runs were made from)");
  return {sub, [args] { return check(*args); }};
}

}  // namespace lmlab::commands
