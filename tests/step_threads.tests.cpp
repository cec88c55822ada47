// StepThreads (generation/step_threads.cpp): a decoding step's thread count chosen by timing,
// the run's count restored afterwards. Whether the machine is busy is measured for real, so
// these tests assert only what holds either way.
#include <ATen/Parallel.h>

#include "generation/step_threads.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace step_threads_tests {

TEST_CASE("StepThreads chooses one thread or all, and restores all at the end", "[step_threads]") {
  if (!lmlab::StepThreads::can_switch()) {
    WARN("this build cannot switch threads per step (no OpenMP runtime shared with LibTorch)");
    return;
  }
  lmlab::test::IntraOpThreads two(2);
  {
    lmlab::StepThreads choice(2);
    for (int step = 0; step < 40; ++step) {
      const int n = choice.begin_step();
      REQUIRE((n == 1 || n == 2));
      CHECK(at::get_num_threads() == n);  // what LibTorch's kernels will use for this step
      choice.end_step(1e-3, 1);
    }
  }
  CHECK(at::get_num_threads() == 2);
}

TEST_CASE("StepThreads settles on one thread when steps on all are slower", "[step_threads]") {
  if (!lmlab::StepThreads::can_switch()) return;
  lmlab::test::IntraOpThreads two(2);
  lmlab::StepThreads choice(2);
  int one = 0;
  for (int step = 0; step < 200; ++step) {
    const int n = choice.begin_step();
    one += n == 1;
    // Steps on two threads take ten times as long: a busy machine as the step timings see it.
    choice.end_step(n == 1 ? 1e-3 : 1e-2, 4);
  }
  // All but the first step and the probes (16 steps apart at first, then further).
  CHECK(one >= 190);
}

TEST_CASE("StepThreads with one thread never switches", "[step_threads]") {
  lmlab::test::IntraOpThreads one(1);
  lmlab::StepThreads choice(1);
  for (int step = 0; step < 10; ++step) CHECK(choice.begin_step() == 1);
  choice.all();
  CHECK(at::get_num_threads() == 1);
}

}  // namespace step_threads_tests
