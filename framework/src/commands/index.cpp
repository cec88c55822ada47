// `lmlab index FOLDER`: rebuilds an experiment's index.h5 from the run files in its folder.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands/command.hpp"
#include "results/experiment_index.hpp"

namespace lmlab::commands {
namespace {

int index(const std::string& folder) {
  const auto runs = rebuild_index(folder);
  std::cout << fmt::format("{}: {} run(s)\n", (std::filesystem::path(folder) / "index.h5").string(), runs.size());
  return 0;
}

}  // namespace

Command add_index_command(CLI::App& app) {
  auto folder = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("index", "rebuild results/<experiment>/index.h5 from the run files there");
  sub->add_option("folder", *folder, "an experiment's results folder")->required()->check(CLI::ExistingDirectory);
  return {sub, [folder] { return index(*folder); }};
}

}  // namespace lmlab::commands
