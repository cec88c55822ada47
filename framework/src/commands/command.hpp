/// The subcommands of `lmlab`, one file each in commands/: each registers its CLI11 subcommand
/// (arguments, flags, help) on the app, owns the options those fill in, and returns the action
/// main() runs when the command line chose it. A new subcommand is a new file here with its
/// add_<name>_command, declared below, and one line in framework/app/main.cpp.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace lmlab {
struct Experiment;
}

namespace lmlab::commands {

// Exit codes, so scripts can tell a bad file from a failed run.
inline constexpr int exit_failed = 1;
inline constexpr int exit_bad_input = 2;
inline constexpr int exit_busy = 3;  // another process holds the run, sweep or index (util/run_lock.hpp)
inline constexpr int exit_stopped = 130;

/// A registered subcommand: `*sub` is true when the command line chose it; `run` then does its
/// work with the options the parse filled in and returns the process's exit code.
struct Command {
  CLI::App* sub = nullptr;
  std::function<int()> run;
};

Command add_run_command(CLI::App& app);         // run.cpp: train one experiment
Command add_sweep_command(CLI::App& app);       // sweep.cpp: every run of a [sweep], each in a child
Command add_validate_command(CLI::App& app);    // validate.cpp
Command add_plugins_command(CLI::App& app);     // plugins.cpp
Command add_generate_command(CLI::App& app);    // generate.cpp (the action: generate_command.hpp)
Command add_index_command(CLI::App& app);       // index.cpp
Command add_report_command(CLI::App& app);      // report.cpp
Command add_watch_command(CLI::App& app);       // watch.cpp
Command add_check_command(CLI::App& app);       // check.cpp: an experiment's [[expect]] claims
Command add_new_plugin_command(CLI::App& app);  // new_plugin.cpp (the writer: scaffold.hpp)
Command add_tokenizer_command(CLI::App& app);   // tokenizer.cpp: train, encode, show (training: tokenizer_train.hpp)
Command add_prepare_command(CLI::App& app);     // prepare.cpp: a corpus as token files
Command add_import_command(CLI::App& app);      // import.cpp: a Hugging Face folder as an lmlab checkpoint
Command add_export_command(CLI::App& app);      // export.cpp: a checkpoint as a Hugging Face folder

// What several subcommands share (command.cpp).

/// The experiment file and its overrides: the arguments of run, sweep and validate.
struct ExperimentFileArgs {
  std::string file;
  std::vector<std::string> overrides;  // --set section.key=value
};
void add_experiment_file(CLI::App& sub, ExperimentFileArgs& args);

/// The first SIGINT/SIGTERM asks the run to stop after its step, with a checkpoint; the handler
/// then resets itself, so a second one ends the process at once.
void install_stop_handler();

/// The experiment's index, rebuilt from every run file in its folder (those of earlier sweeps
/// and other shards included) after run and sweep; a failure is a warning, since a run's
/// outcome does not depend on it.
void rebuild_index_of(const std::vector<Experiment>& runs);

}  // namespace lmlab::commands
