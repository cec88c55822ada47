/// An experiment's runs as its results folder holds them, and its index file
/// `results/<experiment>/index.h5`: an HDF5 external link to every run file and a summary table,
/// one row per run. Rebuilt from the files on disk, so it is right whoever wrote them (a
/// sweep, several shards, runs resumed elsewhere). Layout: docs/hdf5-layout.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "results/run_status.hpp"

namespace lmlab {

/// One run file, as the index summarises it.
struct RunRecord {
  std::string name;                 // the file's stem: the run name
  std::filesystem::path file;
  std::string status;               // a RunStatus's text (running | complete | failed | stopped), or unreadable
  std::string status_reason;
  std::int64_t seed = 0;
  std::string sweep_point;          // "n_layers=2" (the axes but the seed), empty without [sweep]
  std::vector<std::pair<std::string, std::string>> axes;  // ("model.n_layers", "2"), the seed excluded
  std::string config_hash;
  std::string variant;              // 8 hex digits of the config without its seed: the runs a point's seeds share
  std::string start_time;
  bool superseded = false;          // an older configuration of its sweep point (see scan_runs)
  std::int64_t steps = 0;           // last logged training step
  /// The last value of every series, in file order: "train.loss", "eval.<column>",
  /// "generation.<decoding>.<column>", and "parameters".
  std::vector<std::pair<std::string, double>> finals;

  /// The final value of `metric`, NaN when the run has none.
  double final_value(const std::string& metric) const;

  /// Whether the file's status is `s` (never, for an unreadable file).
  bool is(RunStatus s) const { return status == to_string(s); }
};

/// Every run file in `folder` (each `*.h5` but the index), by name. A file that cannot be read
/// is kept with status "unreadable" and the reason, so a report shows it rather than hiding it.
/// Where one sweep point has runs of more than one configuration (the experiment file was edited
/// and run again), the runs of every configuration but that of the point's most recently started
/// run are marked superseded: they are stale, and averaging them with the others as seeds
/// would be wrong.
std::vector<RunRecord> scan_runs(const std::filesystem::path& folder);

/// Writes `folder/index.h5` for `runs`, whole: to a temporary file renamed over the old index,
/// so a reader never sees half an index.
void write_index(const std::filesystem::path& folder, const std::vector<RunRecord>& runs);

/// scan_runs then write_index; returns the runs.
std::vector<RunRecord> rebuild_index(const std::filesystem::path& folder);

}  // namespace lmlab
