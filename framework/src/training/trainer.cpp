#include "training/trainer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "distributed/agreement.hpp"
#include "distributed/data_parallel.hpp"
#include "distributed/world.hpp"
#include "results/grad_flow.hpp"
#include "results/run_file.hpp"
#include "results/run_reader.hpp"
#include "training/checkpoint.hpp"
#include "training/evaluation.hpp"
#include "training/mfu.hpp"
#include "training/progress.hpp"
#include "training/provenance.hpp"
#include "training/run_evaluation.hpp"
#include "training/run_setup.hpp"
#include "training/run_start.hpp"
#include "training/train_log.hpp"
#include "training/train_step.hpp"
#include "util/error_text.hpp"
#include "util/run_lock.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

std::atomic<bool> g_stop{false};

// A run whose file is open: what its steps read and write. With several ranks only rank 0 has the
// file (null elsewhere): it alone writes the run file and the checkpoints.
struct OpenRun {
  const Experiment& e;
  const RunOptions& options;
  RunSetup& setup;
  RunFile* file;
  TrainingState& state;
  Progress& progress;
  RunSummary& summary;
  std::string config;  // the resolved config text each checkpoint keeps
  MfuBasis mfu;
  bool log_comm = false;  // /train/comm_s: a run that has or had several ranks (a file's columns stay fixed)
  EvalResult last_eval{};
  std::chrono::steady_clock::time_point flushed = std::chrono::steady_clock::now();
};

// Rows wait in memory until a flush (RunFile), which evaluations and checkpoints make; a run
// that evaluates only at its end would otherwise show readers step 0 throughout. A flush is
// milliseconds of HDF5 writes, once per options.flush_interval at most.
void flush_when_due(OpenRun& run) {
  const auto now = std::chrono::steady_clock::now();
  if (now - run.flushed < run.options.flush_interval) return;
  run.file->flush();
  run.flushed = now;
}

void checkpoint(OpenRun& run) {
  // A sharded optimizer's state is gathered on rank 0 for the save (every rank takes part), so the
  // checkpoint holds the full AdamW state an unsharded run writes; each rank keeps its own after.
  const distributed::FullOptimizerState full(run.setup.parallel ? run.setup.parallel->shards() : nullptr);
  if (!run.file) return;
  run.file->flush();  // rows up to this step must be on disk before a resume may drop later ones
  run.flushed = std::chrono::steady_clock::now();
  save_checkpoint(run.summary.checkpoint, run.setup.checkpoint_parts(), run.state, run.e.config_hash, run.config,
                  run.e.tokenizer_identity);
}

// train.steps = 0: the starting model (train.init_from's weights) is evaluated and decoded once,
// at step 0. No checkpoint is written: the weights are those of the file they came from, and a
// published model's would be gigabytes per run.
RunStatus evaluate_only(OpenRun& run) {
  if (run.file) {
    run.last_eval = evaluate_and_sample(run.e, run.setup, *run.file, run.progress, 0, run.summary.samples);
  }
  run.state.last_eval_step = 0;
  return RunStatus::complete;
}

// Trains from the state's step to train.steps, or until a stop: each step is trained, logged
// on log steps, evaluated on eval steps and checkpointed where [train] says, at the last step
// and before a stop. Returns complete, or stopped (the file marked so).
RunStatus train(OpenRun& run) {
  const TrainSection& train = run.e.train;
  if (train.steps == 0) return evaluate_only(run);
  TokenRate rate;
  run.setup.model().train();
  while (run.state.step < train.steps) {
    const std::int64_t step = run.state.step + 1;
    const StepResult result = train_step(run.setup, train, step, step % train.log_every == 0 || step == train.steps);
    record_step(run.state, result);
    rate.add(result.tokens);
    const Throughput speed = rate.per_second();
    run.progress.step(step, result.loss, speed.tokens, result.log_now);
    if (result.log_now) {
      const double waited = run.setup.parallel ? run.setup.parallel->take_comm_seconds() : 0.0;
      const std::optional<double> comm_s = run.log_comm ? std::optional(waited) : std::nullopt;
      if (run.file) {
        log_step(*run.file, run.setup, run.state, result, speed.tokens, run.mfu.at(speed.steps), comm_s);
        flush_when_due(run);
      }
      rate.restart();
    }
    const bool eval_now = step % train.eval_every == 0 || step == train.steps;
    if (eval_now) {
      // Rank 0 evaluates the model every rank holds; the others go on to the next step's
      // all-reduce and wait there for it (within timeout_s).
      if (run.file) {
        run.last_eval = evaluate_and_sample(run.e, run.setup, *run.file, run.progress, step, run.summary.samples);
        run.flushed = std::chrono::steady_clock::now();  // the evaluation flushed its rows and the step's
      }
      run.state.last_eval_step = step;
    }
    const bool checkpoint_now = train.checkpoint_every > 0 ? step % train.checkpoint_every == 0 : eval_now;
    // Ranks stop together: on the stop the step's all-reduce agreed on, not on their own flags.
    const bool stop_signal = run.setup.parallel ? result.stop : g_stop.load();
    const bool stop_now = (run.options.stop_after > 0 && step >= run.options.stop_after) || stop_signal;
    if (checkpoint_now || stop_now || step == train.steps) checkpoint(run);
    if (stop_now && step < train.steps) {
      run.progress.finish();
      if (run.file) {
        set_run_status(*run.file, RunStatus::stopped, fmt::format("stopped after step {}; continue with --resume", step));
      }
      return RunStatus::stopped;
    }
  }
  return RunStatus::complete;
}

// A failed run's file says why, and keeps the gradient flow of the steps it logged. When the
// file cannot be written (the disk that failed the run is full) it stays as it was, and `out`
// says so: the caller reports the run's own error, not this one.
void mark_failed(RunFile& file, const std::exception& error, std::ostream& out) {
  try {
    set_run_status(file, RunStatus::failed, error_text(error));
    file.set_attribute("end_time", utc_now());
    file.flush();
  } catch (const std::exception& also) {
    out << fmt::format("warning: cannot mark {} failed: {}\n", file.path().string(), error_text(also));
    return;
  }
  try {
    write_grad_flow(file, read_grad_flow(RunReader(file.path())));
  } catch (const std::exception& also) {
    out << fmt::format("warning: {}: cannot write /grad_flow: {}\n", file.path().string(), error_text(also));
  }
}

// The summary of a run that trained to its end or to a stop, and its file's last attributes and
// derived tables. `before`: the counters of the checkpoint it resumed from.
void finish(OpenRun& run, RunStatus status, double seconds, const TrainingState& before) {
  RunSummary& summary = run.summary;
  summary.steps = run.state.step;
  summary.tokens = run.state.tokens;
  summary.seconds = seconds;
  summary.val_loss = run.last_eval.loss;
  summary.val_ppl = run.last_eval.perplexity;
  summary.val_acc = run.last_eval.accuracy;
  summary.status = status;
  summary.tokens_per_s = static_cast<double>(run.state.tokens - before.tokens) / std::max(1e-9, summary.seconds);
  const double steps_per_s = static_cast<double>(run.state.step - before.step) / std::max(1e-9, summary.seconds);
  summary.mfu = run.mfu.at(steps_per_s).value_or(summary.mfu);
  if (!run.file) return;
  if (status == RunStatus::complete) set_run_status(*run.file, RunStatus::complete, "");
  run.file->set_attribute("end_time", utc_now());
  run.file->flush();
  write_grad_flow(*run.file, read_grad_flow(RunReader(run.file->path())));
}

// The run's lock, taken before any of its files is read or written: a second process starting
// the same run (the command given twice, two sweeps, two shards with one index) is refused here,
// before it could truncate the file the first one writes.
RunLock lock_run(const Experiment& e, std::ostream& out) {
  const fs::path file = run_file_path(e);
  return RunLock::acquire(
      lock_file_for(file), "run " + e.run_name,
      fmt::format("Two processes writing one run would corrupt {}, so this one does not start. Wait for the other to "
                  "end (`lmlab watch {}` follows it), or stop it (SIGINT: it checkpoints first) and continue the run "
                  "with `lmlab run --resume`.",
                  file.filename().string(), file.string()),
      &out);
}

// What the summary knows before the first step: the run's name and files, where it computes,
// and the unigram baseline.
RunSummary start_summary(const Experiment& e, const RunSetup& setup) {
  RunSummary summary;
  summary.run_name = e.run_name;
  summary.run_file = run_file_path(e);
  summary.checkpoint = checkpoint_path(e);
  summary.threads = setup.threads;
  summary.device = setup.device.str();
  summary.unigram_ppl = setup.unigram_ppl;
  return summary;
}

// The processes a run's file says trained it until now: 1 for a file that does not say.
std::int64_t recorded_world_size(const fs::path& run_file) {
  if (!run_file::has_attribute(run_file, "distributed.world_size")) return 1;
  return std::stoll(run_file::read_attribute(run_file, "distributed.world_size"));
}

// A run of several ranks records their number, backend and each rank's "host device threads";
// a resume on another number of ranks updates them and says what that changes. A run of one
// process that never had several writes nothing.
void record_world(RunFile& file, const RunSetup& setup, const std::vector<std::string>& places,
                  std::int64_t ranks_before, std::ostream& out) {
  const std::int64_t ranks = setup.parallel ? setup.parallel->size() : 1;
  if (ranks == 1 && ranks_before == 1) return;
  if (ranks != ranks_before) {
    out << fmt::format("warning: the run trained on {} rank(s) and resumes on {}: every step draws the same rows of "
                       "the same global batch, but the averaged gradients are summed in another order, so it will not "
                       "match an uninterrupted run bit for bit\n",
                       ranks_before, ranks);
  }
  file.set_attribute("distributed.world_size", ranks);
  file.set_attribute("distributed.backend", setup.parallel ? setup.parallel->group().backend() : std::string("none"));
  for (std::size_t r = 0; r < places.size(); ++r) file.set_attribute(fmt::format("distributed.rank.{}", r), places[r]);
  file.set_attribute("distributed.shard_optimizer",
                     std::string(setup.parallel && setup.parallel->shards() ? "true" : "false"));
  // The AdamW state each rank holds, rank 0 first: "<bytes> <bytes> ...".
  const std::vector<std::int64_t> state_bytes = setup.parallel ? setup.parallel->optimizer_state_bytes(*setup.optimizer)
                                                               : std::vector{distributed::adamw_state_bytes(*setup.optimizer)};
  file.set_attribute("distributed.optimizer_state_bytes", fmt::format("{}", fmt::join(state_bytes, " ")));
  // Ranks the start had and this resume has not (a resume in one process keeps rank 0's place).
  for (auto r = std::max<std::int64_t>(static_cast<std::int64_t>(places.size()), 1); r < ranks_before; ++r) {
    file.set_attribute(fmt::format("distributed.rank.{}", r), std::string("(not in this resume)"));
  }
}

}  // namespace

void request_stop() { g_stop.store(true); }
bool stop_requested() { return g_stop.load(); }

fs::path run_file_path(const Experiment& e) { return e.experiment.results_folder() / (e.run_name + ".h5"); }

fs::path checkpoint_path(const Experiment& e) { return e.experiment.results_folder() / (e.run_name + ".ckpt"); }

RunSummary run_experiment(const Experiment& e, const Registry& registry, const RunOptions& options) {
  std::ostream& out = *options.out;
  // With several ranks, rank 0 alone holds the lock and writes the run's files.
  const distributed::World world = distributed::world_from_environment();
  std::optional<RunLock> lock;  // held until the run file and checkpoint are closed
  if (world.is_main()) lock.emplace(lock_run(e, out));
  // Open or resume the run: build what it trains with, restore its checkpoint, open its file.
  // A kept previous checkpoint counts: a save cut short may have left only it.
  const fs::path checkpoint = checkpoint_path(e);
  const bool resume = options.resume && (fs::exists(checkpoint) || fs::exists(previous_checkpoint_path(checkpoint)));
  RunSetup setup = set_up_run(e, registry, options, resume, world);
  if (setup.parallel) {
    distributed::require_same_as_rank0(setup.parallel->group(), {resume ? 1 : 0}, "whether a checkpoint to resume exists",
                                       "every rank must see the run's results folder");
  }
  RunSummary summary = start_summary(e, setup);

  TrainingState state;
  if (options.resume && !resume) {
    out << fmt::format("no checkpoint {}: starting {} from step 0\n", summary.checkpoint.string(), e.run_name);
  }
  if (resume) {
    // Every rank loads the checkpoint: the same model, optimizer state and data position.
    state = resume_checkpoint(summary.checkpoint, setup.checkpoint_parts(), e.config_hash, out);
    // The checkpoint holds every parameter's state; a sharded optimizer keeps its own share.
    if (setup.parallel && setup.parallel->shards()) setup.parallel->shards()->keep_own_state();
    if (setup.parallel) setup.parallel->seed_rank_generators(e.experiment.seed, state.step, setup.device);
    if (state.step >= e.train.steps) {
      if (world.is_main()) return finished_summary(std::move(summary), state.step, out);
      summary.status = RunStatus::complete;
      return summary;
    }
  }
  const std::vector<std::string> places =
      setup.parallel ? setup.parallel->rank_places(setup.device.str(), setup.threads) : std::vector<std::string>{};
  MfuBasis mfu;
  std::optional<RunFile> file;
  bool log_comm = setup.parallel != nullptr;
  if (world.is_main()) {
    mfu = mfu_basis(e, setup, resume, summary.run_file, out);
    if (resume) log_comm = RunReader(summary.run_file).exists("train/comm_s");
    const std::int64_t ranks_before = resume ? recorded_world_size(summary.run_file) : world.world_size;
    file.emplace(open_run_file(e, setup, summary, resume ? std::optional(state.step) : std::nullopt, out));
    if (!resume) write_mfu_attributes(*file, mfu);
    record_world(*file, setup, places, ranks_before, out);
  }

  Progress progress(out, e.run_name, e.train.steps, options.live.value_or(Progress::stderr_is_terminal()));
  const auto started = std::chrono::steady_clock::now();
  const TrainingState before = state;  // a resumed run's speed counts its own steps only
  // Train, log, evaluate and checkpoint step by step; a failure marks the file and is re-thrown.
  OpenRun run{e,        options, setup,        file ? &*file : nullptr, state, progress, summary, config_text(e),
              std::move(mfu), log_comm};
  RunStatus status = RunStatus::running;
  try {
    status = train(run);
  } catch (const std::exception& error) {
    progress.finish();
    if (file) mark_failed(*file, error, out);
    throw;
  }
  progress.finish();
  // Finish: the summary, the file's status and end time, its gradient-flow tables.
  finish(run, status, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), before);
  return summary;
}

}  // namespace lmlab
