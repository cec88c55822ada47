/// How a run's file starts, and how its status is marked: a fresh run creates the file with
/// where the run came from, a resumed one reopens it at its checkpoint's step, and one whose
/// checkpoint is already at the last step is only read back.
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "experiment/experiment.hpp"
#include "results/run_file.hpp"
#include "results/run_status.hpp"
#include "training/run_setup.hpp"
#include "training/trainer.hpp"

namespace lmlab {

/// The experiment's resolved config as text, as the run file and the checkpoints keep it.
std::string config_text(const Experiment& e);

/// Sets the run file's `status` (its text form) and `status_reason`.
void set_run_status(RunFile& file, RunStatus status, const std::string& reason);

/// The run file, marked `running` and flushed. Fresh (`resumed_at` empty): any older checkpoint
/// of the run is deleted, so a later --resume cannot pick it up, and the file is created with the
/// run's provenance (config, seed, sweep point, versions, plugins, model size, init_from,
/// unigram baseline, start time). Resumed: the file drops the rows after step `*resumed_at` and
/// gains a `resumes` row; a warning goes to `out` when the thread count differs from the start's.
RunFile open_run_file(const Experiment& e, const RunSetup& run, const RunSummary& summary,
                      std::optional<std::int64_t> resumed_at, std::ostream& out);

/// The summary of a run whose checkpoint is already at its last step `step`, read back from its
/// file. A process killed between that checkpoint and marking the file complete left it
/// `running`: the file is completed then, and otherwise left untouched.
RunSummary finished_summary(RunSummary summary, std::int64_t step, std::ostream& out);

}  // namespace lmlab
