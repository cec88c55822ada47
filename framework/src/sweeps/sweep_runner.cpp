#include "sweeps/sweep_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmlab/error.hpp"
#include "results/run_file.hpp"
#include "results/run_reader.hpp"
#include "results/run_status.hpp"
#include "training/bf16_products.hpp"
#include "training/runtime.hpp"
#include "training/trainer.hpp"
#include "util/child_process.hpp"
#include "util/format.hpp"
#include "util/run_lock.hpp"

namespace lmlab {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Child {
  const PlannedRun* planned = nullptr;
  Clock::time_point started;
};

fs::path log_path(const Experiment& run) { return fs::path(run_file_path(run)).replace_extension(".log"); }

// Forks `lmlab run FILE --point NAME ...` with its output in the run's log. The child gets its
// own process group, so a terminal's Ctrl-C reaches only the sweep, which passes a stop on; and
// it is sent SIGTERM if the sweep dies, so no run trains on unwatched. Until exec the child
// takes signals with their default action: the sweep's handler would only set a flag that exec
// discards, and a run killed before it starts is as resumable as it was.
pid_t spawn(const PlannedRun& planned, const SweepRunOptions& o, std::int64_t threads) {
  std::vector<std::string> args{o.binary, "run", o.file.string(), "--point", planned.name};
  if (planned.action == RunAction::resume) args.emplace_back("--resume");
  if (threads > 0) args.insert(args.end(), {"--threads", std::to_string(threads)});
  for (const auto& s : o.overrides) args.insert(args.end(), {"--set", s});
  const fs::path log = log_path(*planned.run);
  fs::create_directories(log.parent_path());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = spawn_child(argv, {log.string(), /*append=*/true});
  if (pid < 0) throw DataError(fmt::format("cannot start run {}: fork failed ({})", planned.name, std::strerror(errno)));
  return pid;
}

std::string last_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

// Why a child ended, and the run file made to say so when the child could not.
std::pair<RunStatus, std::string> outcome(const PlannedRun& planned, int status) {
  const fs::path file = run_file_path(*planned.run);
  std::error_code ec;
  const auto attribute = [&](const char* name) -> std::string {
    try {
      return fs::exists(file, ec) ? RunReader(file).attribute(name).value_or("") : "";
    } catch (const Error&) {
      return "";
    }
  };
  // Exit 0, or 130 (stopped; also when the stop came during the last step, after it completed).
  if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 130)) {
    const std::optional<RunStatus> s = parse_run_status(attribute("status"));
    if (s == RunStatus::complete) return {RunStatus::complete, ""};
    if (WEXITSTATUS(status) == 130 || s == RunStatus::stopped) return {RunStatus::stopped, ""};
    return {RunStatus::complete, ""};
  }
  // Exit 3 (busy): another process holds the run's lock, and its files are that process's. (The
  // log, which both append to, may end with the other's lines: the reason is said here.)
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
    return {RunStatus::failed, fmt::format("another process is running it (its lock: {}); its files were left as they are",
                                           lock_file_for(file).string())};
  }
  // A child that got the sweep's SIGTERM before it could install its handler (while starting)
  // dies of it: it was stopped, not failed, and its files are as resumable as they were.
  if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGINT) && stop_requested()) {
    return {RunStatus::stopped, ""};
  }
  std::string reason;
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    reason = fmt::format("the run's process was killed by signal {} ({}){}", sig, strsignal(sig),
                         sig == SIGKILL ? "; out of memory is the usual cause" : "");
  } else {
    reason = parse_run_status(attribute("status")) == RunStatus::failed ? attribute("status_reason") : last_line(log_path(*planned.run));
    if (reason.empty()) reason = fmt::format("exit code {}", WEXITSTATUS(status));
  }
  // A killed process cannot mark its own file: do it here, only over `running` (what the run
  // wrote while it trained). A complete or stopped file, or one the child never reached (it
  // exited 2 on its input), keeps what it says. Only under the run's lock: a child refused
  // because another process runs the run (exit 3) must not mark that process's file.
  if (fs::exists(file, ec) && parse_run_status(attribute("status")) == RunStatus::running) {
    try {
      const RunLock lock = RunLock::acquire(lock_file_for(file), "run " + planned.name, "", nullptr);
      RunFile::set_status(file, std::string(to_string(RunStatus::failed)), reason);
    } catch (const LockHeld&) {
      reason += " (its run file is in use by another process and was left as it is)";
    } catch (const std::exception& e) {
      reason += fmt::format(" (and its run file could not be marked failed: {})", e.what());
    }
  }
  return {RunStatus::failed, reason};
}

// One line per running child: its last logged step and loss, read from its run file.
std::string child_line(const Child& c) {
  const Experiment& run = *c.planned->run;
  std::int64_t step = 0;
  double loss = std::numeric_limits<double>::quiet_NaN();
  try {
    const RunReader reader(run_file_path(run));
    if (reader.exists("train/step")) {
      const auto steps = reader.ints("train/step");
      const auto losses = reader.floats("train/loss");
      if (!steps.empty()) step = steps.back();
      if (!losses.empty()) loss = losses.back();
    }
  } catch (const std::exception&) {  // not written yet, or mid-flush: the next read will do
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - c.started).count();
  // "-" until the first logged step: a NaN there would read as a diverged run.
  return fmt::format("  {}  step {}/{}  loss {}  {}", run.run_name, step, run.train.steps,
                     std::isnan(loss) ? std::string("-") : format_value(loss), format_duration(elapsed));
}

}  // namespace

// Every CPU bf16 run of the sweep multiplies alike: decided once here, with the runs' thread
// count, before any starts; not by each run measuring while the others load the CPUs, which
// could give the arms of one ablation different kernels. The runs inherit the choice through
// LMLAB_CPU_BF16_PRODUCTS (a value already set wins, and is checked by each run). The float32
// products need no such step: their choice follows the CPU's flags.
void settle_cpu_bf16_products(const std::vector<PlannedRun>& plan, std::int64_t threads) {
  if (const char* set = std::getenv("LMLAB_CPU_BF16_PRODUCTS"); set && *set) return;
  const bool any = std::any_of(plan.begin(), plan.end(), [](const PlannedRun& p) {
    if (p.run == nullptr || p.action == RunAction::complete || p.run->experiment.precision != "bf16") return false;
    try {
      return resolve_device(p.run->experiment.device).is_cpu();
    } catch (const std::exception&) {
      return false;  // the run reports its device error itself
    }
  });
  if (!any) return;
  configure_threads(threads);
  const Bf16ProductsChoice choice = choose_bf16_products(c10::Device(c10::kCPU), true);
  setenv("LMLAB_CPU_BF16_PRODUCTS", environment_value(choice.products).c_str(), 1);
}

std::int64_t threads_per_job(std::int64_t jobs) { return std::max<std::int64_t>(1, available_cpus() / std::max<std::int64_t>(1, jobs)); }

SweepOutcome run_sweep(const std::vector<PlannedRun>& plan, const SweepRunOptions& o) {
  std::ostream& out = *o.out;
  std::vector<const PlannedRun*> pending;
  for (const auto& p : plan) {
    if (runs(p)) pending.push_back(&p);
  }
  std::reverse(pending.begin(), pending.end());  // popped from the back, in plan order
  const std::size_t total = pending.size();
  const std::int64_t threads = threads_per_job(o.jobs);
  settle_cpu_bf16_products(plan, threads);
  std::map<pid_t, Child> running;
  SweepOutcome result;
  std::vector<double> durations;
  bool forwarded = false;
  // Runs that start from another run's checkpoint (train.init_from = "@arm=mle" in a sweep).
  std::map<std::string, const PlannedRun*> by_checkpoint;
  for (const auto& p : plan) {
    if (p.run) by_checkpoint[checkpoint_path(*p.run).string()] = &p;
  }
  const auto base_of = [&](const PlannedRun& p) -> const PlannedRun* {
    if (p.run == nullptr || p.run->train.init_from.empty()) return nullptr;
    const auto it = by_checkpoint.find(p.run->train.init_from);
    return it == by_checkpoint.end() || it->second == &p ? nullptr : it->second;
  };
  const auto failed = [&](const std::string& name) {
    return std::any_of(result.failed.begin(), result.failed.end(), [&](const auto& f) { return f.first == name; });
  };
  const auto completed = [&](const std::string& name) {
    return std::find(result.complete.begin(), result.complete.end(), name) != result.complete.end();
  };
  std::size_t drawn = 0;  // lines of the live block on screen
  auto last_draw = Clock::now() - std::chrono::hours(1);

  const auto draw = [&](bool force) {
    // Redrawn in place on a terminal; in a log, a block every 30 s at most.
    const double every = o.live ? o.refresh_s : std::max(30.0, o.refresh_s);
    if (!force && Clock::now() - last_draw < std::chrono::duration<double>(every)) return;
    last_draw = Clock::now();
    const std::size_t done = result.complete.size() + result.failed.size() + result.stopped.size();
    // ETA: the mean time of a finished run (or the longest running so far) for each run left, shared among the jobs.
    double mean = 0;
    for (double d : durations) mean += d / static_cast<double>(durations.size());
    const double left = mean * static_cast<double>(pending.size() + running.size()) / static_cast<double>(std::max<std::int64_t>(1, o.jobs));
    std::vector<std::string> lines{fmt::format("sweep: {}/{} done, {} running, {} failed, {} pending  ETA {}", done, total,
                                               running.size(), result.failed.size(), pending.size(),
                                               durations.empty() ? std::string("-") : format_duration(left))};
    for (const auto& [pid, c] : running) lines.push_back(child_line(c));
    if (o.live && drawn > 0) out << fmt::format("\033[{}A", drawn);
    for (const auto& line : lines) out << (o.live ? "\033[2K" : "") << line << '\n';
    if (o.live) drawn = lines.size();
    out << std::flush;
  };
  const auto note = [&](const std::string& line) {
    if (o.live && drawn > 0) {
      out << fmt::format("\033[{}A\033[J", drawn);
      drawn = 0;
    }
    out << line << '\n' << std::flush;
  };

  while (!pending.empty() || !running.empty()) {
    if (stop_requested() && !forwarded) {
      forwarded = true;
      note(fmt::format("stopping: {} running run(s) checkpoint after their step; run the sweep again to resume", running.size()));
      // SIGINT, not SIGTERM: a child that Slurm or systemd already sent SIGTERM (they signal
      // every process of the job) takes a second SIGTERM as "stop now, no checkpoint".
      for (auto& [pid, c] : running) kill(pid, SIGINT);
      pending.clear();
    }
    while (!stop_requested() && !pending.empty() && static_cast<std::int64_t>(running.size()) < o.jobs) {
      // The next run in plan order whose base run (the one its init_from is the checkpoint of)
      // is not still to come; a run whose base failed fails without starting.
      const auto ready = std::find_if(pending.rbegin(), pending.rend(), [&](const PlannedRun* candidate) {
        const PlannedRun* b = base_of(*candidate);
        const bool waiting = std::find(pending.begin(), pending.end(), b) != pending.end() ||
                             std::any_of(running.begin(), running.end(), [&](const auto& r) { return r.second.planned == b; });
        return b == nullptr || !waiting;
      });
      if (ready == pending.rend()) break;
      const PlannedRun* p = *ready;
      pending.erase(std::next(ready).base());
      // Only a complete base: a stopped one's checkpoint is mid-training.
      if (const PlannedRun* b = base_of(*p); b && b->action != RunAction::complete && !completed(b->name)) {
        const std::string reason = fmt::format("it starts from run {}, which {}", b->name,
                                               b->action == RunAction::failed || failed(b->name) ? "failed"
                                                                                                  : "did not complete");
        result.failed.emplace_back(p->name, reason);
        note(fmt::format("failed   {}: {}", p->name, reason));
        continue;
      }
      // The config's thread count wins in the child; only an open one takes the sweep's share.
      pid_t pid = -1;
      try {
        pid = spawn(*p, o, p->run->experiment.threads > 0 ? 0 : threads);
      } catch (const std::exception& e) {
        result.failed.emplace_back(p->name, e.what());
        note(fmt::format("failed   {}: {}", p->name, e.what()));
        continue;
      }
      running[pid] = Child{p, Clock::now()};
      note(fmt::format("started  {} ({}), log {}", p->name, p->why, log_path(*p->run).string()));
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0 && running.count(pid)) {
      const Child c = running.at(pid);
      running.erase(pid);
      const auto [state, reason] = outcome(*c.planned, status);
      const double seconds = std::chrono::duration<double>(Clock::now() - c.started).count();
      if (state == RunStatus::complete) {
        result.complete.push_back(c.planned->name);
        durations.push_back(seconds);
        note(fmt::format("complete {} in {}", c.planned->name, format_duration(seconds)));
      } else if (state == RunStatus::stopped) {
        result.stopped.push_back(c.planned->name);
        note(fmt::format("stopped  {}: resumable", c.planned->name));
      } else {
        result.failed.emplace_back(c.planned->name, reason);
        note(fmt::format("failed   {}: {}", c.planned->name, reason));
      }
      continue;
    }
    draw(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  draw(true);
  return result;
}

}  // namespace lmlab
