/// A run's status, as its run file's `status` attribute records it (docs/hdf5-layout.md):
/// `running` while a process trains it (or one was killed), then `complete`, `stopped` (Ctrl-C or
/// --stop-after; --resume continues it) or `failed` (with `status_reason`).
#pragma once
#include <optional>
#include <string_view>

namespace lmlab {

enum class RunStatus { running, complete, stopped, failed };

/// The attribute's text: "running", "complete", "stopped", "failed".
constexpr std::string_view to_string(RunStatus status) {
  switch (status) {
    case RunStatus::running: return "running";
    case RunStatus::complete: return "complete";
    case RunStatus::stopped: return "stopped";
    case RunStatus::failed: return "failed";
  }
  return "failed";
}

/// The status a run file's attribute names; nullopt for any other text (an empty attribute of a
/// file that was never started, or one written by something else).
constexpr std::optional<RunStatus> parse_run_status(std::string_view text) {
  for (const RunStatus s : {RunStatus::running, RunStatus::complete, RunStatus::stopped, RunStatus::failed}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

}  // namespace lmlab
