#include "sweeps/sweep_plan.hpp"

#include <map>
#include <optional>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "results/run_reader.hpp"
#include "results/run_status.hpp"
#include "training/trainer.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

const char* action_name(RunAction action) {
  switch (action) {
    case RunAction::start: return "start";
    case RunAction::resume: return "resume";
    case RunAction::complete: return "skip";
    case RunAction::failed: return "skip";
    case RunAction::excluded: return "excluded";
    case RunAction::other_shard: return "shard";
  }
  return "?";
}

// What the files on disk say about one run.
PlannedRun from_disk(const Experiment& run, const SweepPlanOptions& options) {
  PlannedRun planned{run.run_name, RunAction::start, "new", &run};
  const fs::path file = run_file_path(run);
  std::error_code ec;
  if (!fs::exists(file, ec)) return planned;
  std::string status, reason;
  std::int64_t step = 0;
  try {
    const RunReader reader(file);
    status = reader.attribute("status").value_or("");
    reason = reader.attribute("status_reason").value_or("");
    if (reader.exists("train/step")) {
      const auto steps = reader.ints("train/step");
      if (!steps.empty()) step = steps.back();
    }
  } catch (const DataError& e) {
    // Starting afresh would delete a checkpoint that may be good: leave that to the user.
    if (fs::exists(checkpoint_path(run), ec) && !options.retry_failed) {
      planned.action = RunAction::failed;
      planned.why = fmt::format("its run file cannot be read ({}); --retry-failed starts it afresh", e.what());
    } else {
      planned.why = fmt::format("its run file cannot be read ({}): starts afresh", e.what());
    }
    return planned;
  }
  const bool checkpoint = fs::exists(checkpoint_path(run), ec);
  const std::optional<RunStatus> known = parse_run_status(status);
  if (known == RunStatus::complete) {
    planned.action = RunAction::complete;
    planned.why = "complete";
  } else if (known == RunStatus::failed) {
    planned.action = options.retry_failed ? RunAction::start : RunAction::failed;
    planned.why = fmt::format("failed: {}{}", reason, options.retry_failed ? " (--retry-failed: starts afresh)"
                                                                           : " (--retry-failed reruns it)");
  } else if (checkpoint) {
    planned.action = RunAction::resume;
    planned.why = fmt::format("{} at step {} of {}: resumes from its checkpoint", known == RunStatus::stopped ? "stopped" : "interrupted",
                              step, run.train.steps);
  } else {
    planned.why = fmt::format("{} without a checkpoint: starts afresh", status.empty() ? "unknown status" : status);
  }
  return planned;
}

}  // namespace

std::pair<std::int64_t, std::int64_t> parse_shard(const std::string& text) {
  const std::size_t slash = text.find('/');
  try {
    std::size_t used_i = 0, used_n = 0;
    const std::int64_t i = std::stoll(text.substr(0, slash), &used_i);
    const std::int64_t n = slash == std::string::npos ? 0 : std::stoll(text.substr(slash + 1), &used_n);
    if (slash != std::string::npos && used_i == slash && used_n == text.size() - slash - 1 && n >= 1 && i >= 0 && i < n) {
      return {i, n};
    }
  } catch (const std::exception&) {
  }
  throw ConfigError(fmt::format("--shard: '{}' is not a shard; accepted: i/N with 0 <= i < N, e.g. 0/4", text));
}

std::vector<PlannedRun> plan_sweep(const std::vector<Experiment>& runs, const std::vector<SweepPoint>& excluded,
                                   const SweepPlanOptions& options) {
  // A run that starts from another run's checkpoint goes to its base run's shard, which runs it after that base.
  std::map<std::string, std::size_t> by_checkpoint;
  for (std::size_t i = 0; i < runs.size(); ++i) by_checkpoint[checkpoint_path(runs[i]).string()] = i;
  const auto base_of = [&](std::size_t i) -> std::optional<std::size_t> {
    const auto it = runs[i].train.init_from.empty() ? by_checkpoint.end() : by_checkpoint.find(runs[i].train.init_from);
    return it == by_checkpoint.end() || it->second == i ? std::nullopt : std::optional<std::size_t>(it->second);
  };
  const auto shard_of = [&](std::size_t i) {
    for (std::size_t hops = 0; hops < runs.size(); ++hops) {  // bounded: load_runs refuses cycles
      const auto b = base_of(i);
      if (!b) break;
      i = *b;
    }
    return static_cast<std::int64_t>(i) % options.shards;
  };
  std::vector<PlannedRun> plan;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (shard_of(i) != options.shard) {
      plan.push_back({runs[i].run_name, RunAction::other_shard,
                      fmt::format("shard {}/{}", shard_of(i), options.shards), &runs[i]});
      continue;
    }
    plan.push_back(from_disk(runs[i], options));
    if (const auto b = base_of(i); b && lmlab::runs(plan.back())) plan.back().why += fmt::format("; starts from {}", runs[*b].run_name);
  }
  for (const SweepPoint& point : excluded) plan.push_back({point.label, RunAction::excluded, point.excluded, nullptr});
  return plan;
}

bool runs(const PlannedRun& planned) { return planned.action == RunAction::start || planned.action == RunAction::resume; }

void print_plan(std::ostream& out, const std::vector<PlannedRun>& plan) {
  std::size_t width = 3;
  for (const auto& p : plan) width = std::max(width, p.name.size());
  std::map<std::string, int> counts;
  for (const auto& p : plan) {
    out << fmt::format("{:<8} {:<{}}  {}\n", action_name(p.action), p.name, width, p.why);
    ++counts[action_name(p.action)];
  }
  std::string summary;
  for (const auto& [action, n] : counts) summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, action);
  out << fmt::format("{} run(s): {}\n", plan.size(), summary);
}

}  // namespace lmlab
