/// What `lmlab sweep` does with each run of a sweep, decided from the files already on disk:
/// start it, resume it from its checkpoint, or skip it (complete, failed, excluded, another
/// shard's). `lmlab sweep --dry-run` prints the plan; running the sweep again follows it.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "experiment/experiment.hpp"
#include "experiment/sweep.hpp"

namespace lmlab {

enum class RunAction {
  start,     // no run file yet, or one without a checkpoint to resume, or a failed one with --retry-failed
  resume,    // interrupted (stopped, or killed while running): continues from its checkpoint
  complete,  // skipped: already complete
  failed,    // skipped: failed before; --retry-failed reruns it
  excluded,  // skipped: a [sweep] exclude entry matches it
  other_shard,  // skipped: --shard gives it to another shard
};

struct PlannedRun {
  std::string name;                 // the run name, or an excluded point's label
  RunAction action = RunAction::start;
  std::string why;                  // for people: "complete", "failed: loss is NaN", "sweep.exclude[0] = {...}"
  const Experiment* run = nullptr;  // the run, for every action but `excluded`
};

struct SweepPlanOptions {
  bool retry_failed = false;
  std::int64_t shard = 0;   // this process runs every shards-th run, starting at index `shard`
  std::int64_t shards = 1;
};

/// "i/N" -> {i, N}, with 0 <= i < N; anything else is a ConfigError quoting it.
std::pair<std::int64_t, std::int64_t> parse_shard(const std::string& text);

/// One entry per run, in sweep order, then one per excluded point. Shards split the runs that are
/// not excluded by their index in sweep order, so shards 0/N .. N-1/N cover each exactly once.
std::vector<PlannedRun> plan_sweep(const std::vector<Experiment>& runs, const std::vector<SweepPoint>& excluded,
                                   const SweepPlanOptions& options);

/// Whether the plan runs this entry (start or resume).
bool runs(const PlannedRun& planned);

/// A table of the plan, and a count by action.
void print_plan(std::ostream& out, const std::vector<PlannedRun>& plan);

}  // namespace lmlab
