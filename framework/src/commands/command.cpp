// What several subcommands share: the experiment file argument, the stop handler, the index.
#include "commands/command.hpp"

#include <csignal>
#include <exception>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "experiment/experiment.hpp"
#include "results/experiment_index.hpp"
#include "training/trainer.hpp"
#include "util/error_text.hpp"

namespace lmlab::commands {

namespace fs = std::filesystem;

void add_experiment_file(CLI::App& sub, ExperimentFileArgs& args) {
  sub.add_option("file", args.file, "experiment file (TOML)")->required()->check(CLI::ExistingFile);
  sub.add_option("--set", args.overrides, "override a value: section.key=value (repeatable)");
}

namespace {
void on_signal(int) { lmlab::request_stop(); }
}  // namespace

void install_stop_handler() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void rebuild_index_of(const std::vector<Experiment>& runs) {
  if (runs.empty()) return;
  const fs::path folder = runs.front().experiment.results_folder();
  try {
    if (fs::is_directory(folder)) lmlab::rebuild_index(folder);
  } catch (const std::exception& e) {
    std::cerr << fmt::format("warning: cannot rebuild {}: {}\n", (folder / "index.h5").string(), error_text(e));
  }
}

}  // namespace lmlab::commands
