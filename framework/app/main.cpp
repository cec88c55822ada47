// The lmlab host: runs, validates and sweeps experiment files and lists the loaded plugins. Each
// subcommand, its options and its action live in framework/src/commands/<name>.cpp; main() adds
// them to the command line, parses it and runs the one chosen.
#include <csignal>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "build_info.hpp"
#include "commands/command.hpp"
#include "lmlab/error.hpp"
#include "results/run_file.hpp"
#include "training/blas_kernels.hpp"
#include "training/runtime.hpp"
#include "util/error_text.hpp"
#include "util/run_lock.hpp"

namespace {

int run_lmlab(int argc, char** argv) {
  namespace cmd = lmlab::commands;
  // A closed stdout or stderr (`lmlab run ... | head`) must not kill a run halfway through its
  // files: writes to it fail quietly instead (iostreams only set badbit), and the run completes.
  std::signal(SIGPIPE, SIG_IGN);
  // Before anything computes: OpenBLAS may have chosen kernels far below this CPU's, and glibc
  // would hand freed tensor memory back to the kernel after every step.
  lmlab::tune_blas_kernels();
  lmlab::keep_freed_memory();
  CLI::App app{"lmlab: language-model ablations from TOML experiment files"};
  app.set_version_flag("--version", std::string("lmlab ") + lmlab::build_info::version);
  app.require_subcommand(1);
  // In the order `lmlab --help` lists them.
  const std::vector<cmd::Command> commands = {
      cmd::add_run_command(app),
      cmd::add_sweep_command(app),
      cmd::add_validate_command(app),
      cmd::add_plugins_command(app),
      cmd::add_generate_command(app),
      cmd::add_index_command(app),
      cmd::add_report_command(app),
      cmd::add_watch_command(app),
      cmd::add_check_command(app),
      cmd::add_new_plugin_command(app),
      cmd::add_tokenizer_command(app),
      cmd::add_prepare_command(app),
      cmd::add_import_command(app),
      cmd::add_export_command(app),
  };
  CLI11_PARSE(app, argc, argv);
  // Config and data errors (lmlab::Error) are bad input; anything else is a failure.
  try {
    for (const auto& command : commands) {
      if (*command.sub) return command.run();
    }
    return cmd::exit_failed;  // not reached: require_subcommand(1) makes the parse choose one
  } catch (const lmlab::LockHeld& e) {  // another process writes what this command would
    std::cerr << "error: " << e.what() << '\n';
    return cmd::exit_busy;
  } catch (const lmlab::Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return cmd::exit_bad_input;
  } catch (const std::exception& e) {
    std::cerr << "error: " << lmlab::error_text(e) << '\n';
    return cmd::exit_failed;
  } catch (...) {
    std::cerr << "error: unknown exception\n";
    return cmd::exit_failed;
  }
}

}  // namespace

// Every object of the command is gone when run_lmlab returns; end_process then decides whether
// HDF5's library close may run (it must not after a run file failed to write).
int main(int argc, char** argv) { lmlab::run_file::end_process(run_lmlab(argc, argv)); }
