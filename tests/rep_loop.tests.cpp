// rep_loop: degen's rule for a continuation that ends in a loop, on hand-made continuations that
// do and do not; its options and their errors.
// Shared with the other generation metrics: tests/generation_metrics.tests.cpp (every metric),
// tests/metrics_crosscheck.tests.cpp (against an independent Python implementation).
#include <cmath>
#include <cstdint>
#include <vector>

#include <toml++/toml.h>

#include "lmlab/error.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/metric_fixtures.hpp"

namespace rep_loop_tests {

using lmlab::test::MessageContains;
using lmlab::test::Texts;
using lmlab::test::abcdabcd;
using lmlab::test::check_close;
using lmlab::test::make_metric;
using lmlab::test::measure_one;

TEST_CASE("rep_loop: degen's rule for a continuation that ends in a loop", "[metrics][rep_loop]") {
  const auto loops = [](const std::vector<std::int64_t>& ids, const toml::table& options = {}) {
    return measure_one("rep_loop", "rep_loop", {ids}, options) == 1.0;
  };
  // A phrase of 3 or 4 ids twice or more at the end: R(3) = 2, R(4) = 2, R(3) = 3.
  CHECK(loops({1, 2, 3, 1, 2, 3}));
  CHECK(loops(abcdabcd));
  CHECK(loops({4, 1, 2, 3, 1, 2, 3, 1, 2, 3}));
  // Not at the end, or not back to back: no loop.
  CHECK_FALSE(loops({1, 2, 3, 1, 2, 3, 9}));
  CHECK_FALSE(loops({1, 2, 3, 8, 1, 2, 3}));
  // Short phrases need 51 copies: [5] x 51 is a loop, [5] x 50 is not, nor [1 2] x 3 (R(2) = 3).
  CHECK(loops(std::vector<std::int64_t>(51, 5)));
  CHECK_FALSE(loops(std::vector<std::int64_t>(50, 5)));
  CHECK_FALSE(loops({1, 2, 1, 2, 1, 2}));
  // Only the most repeated length n* is judged: [1 x 6] has R(1) = 6, R(2) = 3, R(3) = 2, so
  // n* = 1 with 6 < 51 copies, no loop, although "1 1 1" occurs twice.
  CHECK_FALSE(loops({1, 1, 1, 1, 1, 1}));
  // Ties go to the smaller n: [4 7 7 4 7 7] has R(1) = 2 and R(3) = 2, n* = 1: no loop; counting
  // 1-id phrases as well (min_phrase = 1) makes it one.
  CHECK_FALSE(loops({4, 7, 7, 4, 7, 7}));
  CHECK(loops({4, 7, 7, 4, 7, 7}, toml::table{{"min_phrase", 1}}));
  // One id, or none: no loop.
  CHECK_FALSE(loops({7}));
  CHECK_FALSE(loops({}));

  // The options: phrases up to 2 ids miss [1 2 3] x 2; 3 copies needed; 6 copies of a short one.
  CHECK_FALSE(loops({1, 2, 3, 1, 2, 3}, toml::table{{"max_phrase", 2}}));
  CHECK_FALSE(loops({1, 2, 3, 1, 2, 3}, toml::table{{"min_repeats", 3}}));
  CHECK(loops({1, 2, 3, 1, 2, 3, 1, 2, 3}, toml::table{{"min_repeats", 3}}));
  CHECK(loops({1, 1, 1, 1, 1, 1}, toml::table{{"short_repeats", 6}}));

  // The fraction: 2 loops ([1 2 3] x 2 and [5] x 51) out of 4 continuations, the empty one included.
  const Texts texts{{1, 2, 3, 1, 2, 3}, {1, 1, 1, 1, 1, 1}, {}, std::vector<std::int64_t>(51, 5)};
  check_close(measure_one("rep_loop", "rep_loop", texts), 0.5);
  CHECK(std::isnan(measure_one("rep_loop", "rep_loop", {})));
}

TEST_CASE("rep_loop: bad options are ConfigErrors naming key and value", "[metrics][rep_loop]") {
  CHECK_THROWS_MATCHES(make_metric("rep_loop", toml::table{{"min_repeats", 1}}), lmlab::ConfigError,
                       MessageContains("metrics.rep_loop.min_repeats: 1 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("rep_loop", toml::table{{"max_phrase", 0}}), lmlab::ConfigError,
                       MessageContains("metrics.rep_loop.max_phrase: 0 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("rep_loop", toml::table{{"short_repeats", 1}}), lmlab::ConfigError,
                       MessageContains("metrics.rep_loop.short_repeats: 1 is out of range"));
}

}  // namespace rep_loop_tests
