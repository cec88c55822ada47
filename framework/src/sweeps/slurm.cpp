#include "sweeps/slurm.hpp"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "lmlab/options.hpp"
#include "util/shell_quote.hpp"

namespace lmlab {

namespace {

const OptionSet<SlurmOptions>& slurm_options() {
  static const auto options =
      OptionSet<SlurmOptions>{}
          .add("shards", &SlurmOptions::shards, "array tasks, each running every N-th run; 0: one per run", {.min = 0.0})
          .add("jobs", &SlurmOptions::jobs, "runs at once within one task (lmlab sweep --jobs)", {.min = 1.0})
          .add("cpus_per_task", &SlurmOptions::cpus_per_task, "#SBATCH --cpus-per-task", {.min = 1.0})
          .add("mem", &SlurmOptions::mem, "#SBATCH --mem, e.g. \"8G\"")
          .add("time", &SlurmOptions::time, "#SBATCH --time, e.g. \"04:00:00\"")
          .add("partition", &SlurmOptions::partition, "#SBATCH --partition (empty: the default)")
          .add("gres", &SlurmOptions::gres, "#SBATCH --gres, e.g. \"gpu:1\" (empty: none)")
          .add("account", &SlurmOptions::account, "#SBATCH --account (empty: the default)")
          .add("extra", &SlurmOptions::extra, "more #SBATCH options, each as \"--name=value\"")
          .add("nodes", &SlurmOptions::nodes, "#SBATCH --nodes: machines each run trains on (data parallel)",
               {.min = 1.0})
          .add("ntasks_per_node", &SlurmOptions::ntasks_per_node,
               "#SBATCH --ntasks-per-node: ranks per machine (data parallel; cpus_per_task is per rank)", {.min = 1.0});
  return options;
}

}  // namespace

SlurmOptions read_slurm(const toml::table& config) {
  const toml::node* node = config.get("slurm");
  if (!node) return {};
  SlurmOptions o = slurm_options().parse(detail::read_table(*node, "slurm"), "slurm");
  for (std::size_t i = 0; i < o.extra.size(); ++i) {
    const std::string& e = o.extra[i];
    if (!e.starts_with("--") || e.find('\n') != std::string::npos) {
      config_error(node, fmt::format("slurm.extra[{}]", i), fmt::format("\"{}\" is not an sbatch option", e),
                   "\"--name=value\", e.g. \"--qos=short\"");
    }
  }
  return o;
}

namespace {

// #SBATCH lines every script has after its array and shape.
void resource_lines(std::ostringstream& s, const SlurmOptions& o, const SlurmJob& job) {
  s << fmt::format("#SBATCH --cpus-per-task={}\n", o.cpus_per_task) << fmt::format("#SBATCH --mem={}\n", o.mem)
    << fmt::format("#SBATCH --time={}\n", o.time)
    << fmt::format("#SBATCH --output={}/slurm-%A_%a.out\n", job.log_dir.string());
  if (!o.partition.empty()) s << fmt::format("#SBATCH --partition={}\n", o.partition);
  if (!o.gres.empty()) s << fmt::format("#SBATCH --gres={}\n", o.gres);
  if (!o.account.empty()) s << fmt::format("#SBATCH --account={}\n", o.account);
  for (const auto& e : o.extra) s << "#SBATCH " << e << '\n';
}

// Runs trained by several ranks each: one array task per run, its ranks one srun job step (they
// read their rank and master from Slurm's variables). --resume starts a run without a
// checkpoint afresh and leaves a complete one as it is, so a task submitted again goes on.
std::string data_parallel_script(const SlurmOptions& o, const SlurmJob& job) {
  std::ostringstream s;
  const auto runs = static_cast<std::int64_t>(job.run_names.size());
  s << "#!/bin/bash\n"
    << fmt::format("# Written by `lmlab sweep {} --emit-slurm`: {} run(s), one array task each, on {} node(s) x {} "
                   "rank(s) (data parallel).\n",
                   job.file.string(), runs, o.nodes, o.ntasks_per_node)
    << "# Submit with `sbatch <this file>`. A task submitted again resumes its run from its checkpoint.\n"
    << fmt::format("#SBATCH --job-name={}\n", job.name) << fmt::format("#SBATCH --array=0-{}\n", std::max<std::int64_t>(runs, 1) - 1)
    << fmt::format("#SBATCH --nodes={}\n", o.nodes) << fmt::format("#SBATCH --ntasks-per-node={}\n", o.ntasks_per_node);
  resource_lines(s, o, job);
  s << "set -euo pipefail\n" << fmt::format("cd {}\n", detail::shell_quote(job.working_dir.string())) << "runs=(";
  for (const auto& name : job.run_names) s << ' ' << detail::shell_quote(name);
  s << " )\n"
    << "run=\"${runs[${SLURM_ARRAY_TASK_ID:?run this script with sbatch}]}\"\n"
    << fmt::format("exec srun {} run {} --point \"$run\" --resume", detail::shell_quote(job.binary.string()),
                   detail::shell_quote(job.file.string()));
  for (const auto& set : job.overrides) s << " --set " << detail::shell_quote(set);
  s << '\n';
  return s.str();
}

}  // namespace

std::string slurm_script(const SlurmOptions& o, const SlurmJob& job) {
  if (o.tasks_per_run() > 1) return data_parallel_script(o, job);
  const std::int64_t shards = std::clamp<std::int64_t>(o.shards == 0 ? job.runs : o.shards, 1, std::max<std::int64_t>(1, job.runs));
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << fmt::format("# Written by `lmlab sweep {} --emit-slurm`: {} run(s) in {} array task(s).\n", job.file.string(), job.runs, shards)
    << "# Submit with `sbatch <this file>`. Each task runs one shard of the sweep; a task that is\n"
    << "# requeued or submitted again skips complete runs and resumes interrupted ones.\n"
    << fmt::format("#SBATCH --job-name={}\n", job.name) << fmt::format("#SBATCH --array=0-{}\n", shards - 1);
  resource_lines(s, o, job);
  s << "set -euo pipefail\n"
    << fmt::format("cd {}\n", detail::shell_quote(job.working_dir.string()))
    << fmt::format("shard=\"${{SLURM_ARRAY_TASK_ID:?run this script with sbatch}}/{}\"\n", shards)
    << fmt::format("exec {} sweep {} --shard \"$shard\" --jobs {}", detail::shell_quote(job.binary.string()), detail::shell_quote(job.file.string()), o.jobs);
  for (const auto& set : job.overrides) s << " --set " << detail::shell_quote(set);
  s << '\n';
  return s.str();
}

}  // namespace lmlab
