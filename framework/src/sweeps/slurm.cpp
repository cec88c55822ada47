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
          .add("extra", &SlurmOptions::extra, "more #SBATCH options, each as \"--name=value\"");
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

std::string slurm_script(const SlurmOptions& o, const SlurmJob& job) {
  const std::int64_t shards = std::clamp<std::int64_t>(o.shards == 0 ? job.runs : o.shards, 1, std::max<std::int64_t>(1, job.runs));
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << fmt::format("# Written by `lmlab sweep {} --emit-slurm`: {} run(s) in {} array task(s).\n", job.file.string(), job.runs, shards)
    << "# Submit with `sbatch <this file>`. Each task runs one shard of the sweep; a task that is\n"
    << "# requeued or submitted again skips complete runs and resumes interrupted ones.\n"
    << fmt::format("#SBATCH --job-name={}\n", job.name) << fmt::format("#SBATCH --array=0-{}\n", shards - 1)
    << fmt::format("#SBATCH --cpus-per-task={}\n", o.cpus_per_task) << fmt::format("#SBATCH --mem={}\n", o.mem)
    << fmt::format("#SBATCH --time={}\n", o.time)
    << fmt::format("#SBATCH --output={}/slurm-%A_%a.out\n", job.log_dir.string());
  if (!o.partition.empty()) s << fmt::format("#SBATCH --partition={}\n", o.partition);
  if (!o.gres.empty()) s << fmt::format("#SBATCH --gres={}\n", o.gres);
  if (!o.account.empty()) s << fmt::format("#SBATCH --account={}\n", o.account);
  for (const auto& e : o.extra) s << "#SBATCH " << e << '\n';
  s << "set -euo pipefail\n"
    << fmt::format("cd {}\n", detail::shell_quote(job.working_dir.string()))
    << fmt::format("shard=\"${{SLURM_ARRAY_TASK_ID:?run this script with sbatch}}/{}\"\n", shards)
    << fmt::format("exec {} sweep {} --shard \"$shard\" --jobs {}", detail::shell_quote(job.binary.string()), detail::shell_quote(job.file.string()), o.jobs);
  for (const auto& set : job.overrides) s << " --set " << detail::shell_quote(set);
  s << '\n';
  return s.str();
}

}  // namespace lmlab
