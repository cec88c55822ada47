/// Executes a sweep's plan: each run in its own child process (this same binary, as
/// `lmlab run FILE --point NAME`), up to `jobs` at once, so a crashing plugin, a NaN loss or an
/// out-of-memory kill ends that run only. A run that dies without saying so in its file is
/// marked `failed` there with the reason. A stop request (SIGINT/SIGTERM) is passed to every
/// child as one SIGINT, and each checkpoints after its step and stays resumable.
#pragma once
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "sweeps/sweep_plan.hpp"

namespace lmlab {

struct SweepRunOptions {
  std::string binary;                  // the lmlab executable the children run
  std::filesystem::path file;          // the experiment file
  std::vector<std::string> overrides;  // --set, passed on to every child
  std::int64_t jobs = 1;               // children at once
  std::ostream* out = nullptr;         // progress
  bool live = false;                   // redraw the progress block in place (a terminal)
  double refresh_s = 1.0;              // between progress reads
};

struct SweepOutcome {
  std::vector<std::string> complete, stopped;
  std::vector<std::pair<std::string, std::string>> failed;  // run, reason
};

/// Intra-op threads per child: the CPUs available divided among `jobs`, at least 1.
std::int64_t threads_per_job(std::int64_t jobs);

/// Runs every entry of `plan` that runs() (start or resume). Each child's output goes to
/// `<run>.log` beside its run file.
SweepOutcome run_sweep(const std::vector<PlannedRun>& plan, const SweepRunOptions& options);

}  // namespace lmlab
