/// `lmlab sweep FILE --emit-slurm`: an sbatch script that runs the sweep on a Slurm cluster as a
/// job array, one array task per shard (SLURM_ARRAY_TASK_ID -> --shard i/N), with resources from
/// the experiment's [slurm] table. [slurm] is not part of a run's config: where a run executes
/// does not change what it is.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace lmlab {

struct SlurmOptions {
  std::int64_t shards = 0;         // array tasks; 0: one per run
  std::int64_t jobs = 1;           // runs at once within a task (lmlab sweep --jobs)
  std::int64_t cpus_per_task = 2;
  std::string mem = "8G";
  std::string time = "04:00:00";
  std::string partition;           // empty: the cluster's default
  std::string gres;                // e.g. "gpu:1"; empty: none
  std::string account;             // empty: the user's default
  std::vector<std::string> extra;  // more #SBATCH lines, e.g. "--qos=short"
  std::int64_t nodes = 1;            // machines per run: more than one task per run makes each run data parallel
  std::int64_t ntasks_per_node = 1;  // ranks per machine

  /// The ranks that train each run together.
  std::int64_t tasks_per_run() const { return nodes * ntasks_per_node; }
};

/// The [slurm] table, validated (unknown keys and wrong types name the file, line and key).
SlurmOptions read_slurm(const toml::table& config);

/// What the script runs: the lmlab binary and the experiment file (both made absolute), the
/// --set overrides, the number of runs and the folder for Slurm's logs.
struct SlurmJob {
  std::filesystem::path binary, file, working_dir, log_dir;
  std::vector<std::string> overrides;
  std::int64_t runs = 0;
  std::string name;
  std::vector<std::string> run_names;  // each run's name for tasks_per_run() ranks (data-parallel jobs)
};

/// The sbatch script. Shards never exceed the runs. With more than one task per run, one array
/// task per run instead, each `srun lmlab run FILE --point NAME --resume` over nodes x
/// ntasks_per_node ranks (shards and jobs do not apply).
std::string slurm_script(const SlurmOptions& options, const SlurmJob& job);

}  // namespace lmlab
