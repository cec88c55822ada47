/// How many intra-op threads a decoding step runs on: all the run's, or one, chosen by timing
/// both (host only).
///
/// A decoding step is tens of small kernels: a few-row product per projection, one query's
/// attention per layer, LibTorch's GELU (which oneDNN runs as a parallel region whatever its
/// size). On a quiet machine spreading them over the threads is faster. On a busy one (other
/// processes on the same cores) it is a trap: at the end of every parallel region the calling
/// thread waits for a helper thread the scheduler has not run yet, a time slice (milliseconds)
/// for microseconds of work. Measured with the machine's two cores oversubscribed threefold, the
/// small bench model decoded 25-240 tokens/s on two threads against ~1,000 on one.
///
/// So every few steps an empty parallel region is timed: microseconds on a quiet machine,
/// milliseconds on a busy one, whose steps then run on one thread (checked again after 8 steps,
/// then 16, ... up to 256 while it stays busy). On a quiet machine each step's wall time is
/// measured, the cost per row of each choice kept as a moving average, the cheaper taken, and
/// the other tried now and then, less often each time it loses (small models can be faster on
/// one thread). The choice follows the machine's load within a few tokens. Switching is omp_set_num_threads
/// on the calling thread (an OpenMP setting LibTorch, oneDNN and OpenBLAS all read), which costs
/// nothing; LibTorch's own set_num_threads would also rebuild its other thread pool.
#pragma once
#include <cstdint>

namespace lmlab {

class StepThreads {
 public:
  /// Chooses between `threads` (the run's intra-op threads) and one.
  explicit StepThreads(int threads);
  /// Restores `threads` on the calling thread.
  ~StepThreads();
  StepThreads(const StepThreads&) = delete;
  StepThreads& operator=(const StepThreads&) = delete;

  /// Sets the threads for the coming one-token step; returns how many.
  int begin_step();
  /// Sets all the threads for a large forward (a prompt's), unless the machine is busy now.
  void all();
  /// What that step cost: `seconds` for `rows` rows of one new position each.
  void end_step(double seconds, std::int64_t rows);

  /// True when this build can switch (LibTorch's OpenMP runtime); otherwise every step runs on
  /// `threads`.
  static bool can_switch();

 private:
  int threads_;
  bool current_many_ = true;  // the way the coming or last step runs
  double cost_[2] = {0, 0};   // seconds per row: [0] one thread, [1] all
  bool seen_[2] = {false, false};
  std::int64_t steps_ = 0;
  std::int64_t probe_every_;  // steps between tries of the way not taken
  bool probing_ = false;
  bool busy_ = false;                // the last check found the cores oversubscribed
  std::int64_t next_check_ = 1, check_every_ = 8;
};

}  // namespace lmlab
