// `lmlab report FOLDER`: report.md and the plots of an experiment's results folder.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands/command.hpp"
#include "reporting/experiment_report.hpp"
#include "util/run_lock.hpp"

namespace lmlab::commands {
namespace {

struct ReportArgs {
  std::string folder;
  bool no_plots = false;
  ReportOptions options;  // --gnuplot goes straight in
};

int report(const ReportArgs& a) {
  ReportOptions options = a.options;
  options.plots = !a.no_plots;
  // Two reports of one folder at once would write the same plots and report.md together.
  const RunLock lock = RunLock::acquire(std::filesystem::path(a.folder) / "report.md.lock", "the report of " + a.folder,
                                        "Another lmlab is writing it; run the command again once that one ends.",
                                        &std::cerr, std::chrono::minutes(2));
  const auto result = write_report(a.folder, options);
  std::cout << fmt::format("{} ({} runs, {} plots)\n", result.markdown.string(), result.runs.size(), result.plots.size());
  for (const auto& png : result.plots) std::cout << "  " << png.string() << '\n';
  return 0;
}

}  // namespace

Command add_report_command(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  auto* sub = app.add_subcommand("report", "write report.md and plots for an experiment's results folder");
  sub->add_option("folder", args->folder, "an experiment's results folder")->required()->check(CLI::ExistingDirectory);
  sub->add_flag("--no-plots", args->no_plots, "tables only (no gnuplot needed)");
  sub->add_option("--gnuplot", args->options.gnuplot, "the gnuplot program");
  return {sub, [args] { return report(*args); }};
}

}  // namespace lmlab::commands
