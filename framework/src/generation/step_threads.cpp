#include "generation/step_threads.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace lmlab {

namespace {

constexpr double smoothing = 0.25;         // weight of the newest step in the moving average
constexpr std::int64_t first_probe = 16;   // steps before the way not taken is tried again...
constexpr std::int64_t last_probe = 4096;  // ...doubling up to this while it keeps losing
// An empty parallel region costs a few microseconds when the helper threads are on a core (or
// a futex wake-up away), milliseconds when the cores are oversubscribed and they wait for a
// time slice. Above this, the machine is busy.
constexpr double busy_region_s = 200e-6;
constexpr std::int64_t first_check = 8;    // steps between checks while the machine is quiet;
constexpr std::int64_t last_check = 256;   // doubling up to this while it stays busy

// Seconds an empty parallel region of `threads` takes: the cost a busy machine adds to every
// region of a step.
double region_seconds(int threads) {
  const auto start = std::chrono::steady_clock::now();
#ifdef _OPENMP
  std::atomic<int> arrived{0};  // a region with no effect would be compiled away
#pragma omp parallel num_threads(threads)
  arrived.fetch_add(1, std::memory_order_relaxed);
#else
  (void)threads;
#endif
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

}  // namespace

bool StepThreads::can_switch() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

StepThreads::StepThreads(int threads) : threads_(std::max(1, threads)), probe_every_(first_probe) {}

StepThreads::~StepThreads() { set_threads(threads_); }

int StepThreads::begin_step() {
  if (threads_ == 1 || !can_switch()) return threads_;
  ++steps_;
  // Timing a step on all threads when the machine is busy costs a time slice per region (a
  // quarter of a second per step, measured), so whether it is busy is checked first, for the
  // price of one empty region, and a busy machine's steps run on one thread untimed.
  if (steps_ >= next_check_) {
    busy_ = region_seconds(threads_) > busy_region_s;
    check_every_ = busy_ ? std::min(last_check, 2 * check_every_) : first_check;
    next_check_ = steps_ + check_every_;
  }
  bool many;
  probing_ = false;
  if (busy_) many = false;
  else if (!seen_[1]) many = true;  // each way is timed once before either is preferred
  else if (!seen_[0]) many = false;
  else {
    const bool better = cost_[1] <= cost_[0];
    probing_ = steps_ % probe_every_ == 0;
    many = probing_ ? !better : better;
  }
  current_many_ = many;
  set_threads(many ? threads_ : 1);
  return many ? threads_ : 1;
}

void StepThreads::all() {
  if (threads_ == 1 || !can_switch()) return;
  // Large work, but its regions wait for time slices on a busy machine all the same.
  busy_ = region_seconds(threads_) > busy_region_s;
  set_threads(busy_ ? 1 : threads_);
}

void StepThreads::end_step(double seconds, std::int64_t rows) {
  if (threads_ == 1 || !can_switch() || rows <= 0 || busy_) return;
  const auto way = static_cast<std::size_t>(current_many_);
  const double cost = seconds / static_cast<double>(rows);
  const bool better_before = seen_[0] && seen_[1] && cost_[1] <= cost_[0];
  // A probe's timing replaces the old one, which dates from before the load last changed; the
  // way taken blends each step in, so one slow step does not flip the choice, but a run of them
  // (the machine got busy) soon does.
  cost_[way] = seen_[way] && !probing_ ? (1 - smoothing) * cost_[way] + smoothing * cost : cost;
  seen_[way] = true;
  if (!probing_) return;
  probing_ = false;
  // A probe that changed the choice resets the interval; one that lost lengthens it.
  const bool better_now = cost_[1] <= cost_[0];
  probe_every_ = better_now != better_before ? first_probe : std::min(last_probe, 2 * probe_every_);
}

}  // namespace lmlab
