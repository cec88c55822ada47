/// `lmlab run FILE --nproc-per-node N`: the ranks of one node as children of this process, each
/// this same binary with the environment torchrun would give it. Rank 0 keeps the terminal; the
/// others write to a log beside the run file. The first rank to fail ends the others, and the
/// run file then names it.
#pragma once
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace lmlab::distributed {

struct LocalLaunch {
  std::string binary;                 // the lmlab executable
  std::vector<std::string> arguments;  // after the binary: run FILE ... (without --nproc-per-node)
  int ranks = 2;
  std::filesystem::path run_file;     // the run's HDF5 file, marked failed naming the rank when one fails
  std::string run_name;               // what the lock and messages call the run
  std::ostream* out = nullptr;        // the ranks' pids and logs, and the failure
  std::function<bool()> stop_requested;  // polled: passes one SIGINT to every rank
  double grace_s = 30.0;  // after a rank fails, how long the others get to fail or stop before SIGKILL
};

/// The log of rank `rank` (> 0): <run file without .h5>.rank<rank>.log.
std::filesystem::path rank_log_path(const std::filesystem::path& run_file, int rank);

/// A free TCP port on the loopback, for MASTER_PORT.
int free_loopback_port();

/// Starts the ranks and waits for all of them. Returns 0 when all completed, 130 when they
/// stopped (a signal, --stop-after), 1 when a rank failed: it is named, with its error, on
/// `out`, and in the run file's status_reason when the file exists.
int launch_local_ranks(const LocalLaunch& launch);

}  // namespace lmlab::distributed
