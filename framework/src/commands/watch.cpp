// `lmlab watch RUN.h5`: follows a run's file while it trains (the view itself: reporting/watch).
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "commands/command.hpp"
#include "reporting/watch.hpp"

namespace lmlab::commands {
namespace {

struct WatchArgs {
  std::string run;
  bool plain = false;
  WatchOptions options;  // --interval and --once go straight in
};

int watch_run(const WatchArgs& a) {
  WatchOptions options = a.options;
  // Redrawing the screen only makes sense on a terminal.
  options.redraw = !a.plain && isatty(STDOUT_FILENO) == 1;
  return watch(a.run, options, std::cout);
}

}  // namespace

Command add_watch_command(CLI::App& app) {
  auto args = std::make_shared<WatchArgs>();
  auto* sub = app.add_subcommand("watch", "follow a run's file while it trains (until it ends)");
  sub->add_option("run", args->run, "a run file (.h5); waits for it to appear")->required();
  sub->add_option("--interval", args->options.interval_s, "seconds between reads")->check(CLI::PositiveNumber);
  sub->add_flag("--once", args->options.once, "print one view and exit");
  sub->add_flag("--plain", args->plain, "print each changed view instead of redrawing the screen");
  return {sub, [args] { return watch_run(*args); }};
}

}  // namespace lmlab::commands
