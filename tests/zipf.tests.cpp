// zipf: minus the least-squares slope of log frequency on log rank, on counts that lie exactly on a
// line and on counts whose slope is written out by hand; edge cases and option errors.
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

namespace zipf_tests {

using lmlab::test::MessageContains;
using lmlab::test::Texts;
using lmlab::test::check_close;
using lmlab::test::make_metric;
using lmlab::test::measure_one;

TEST_CASE("zipf: minus the least-squares slope of log frequency on log rank", "[metrics][zipf]") {
  // Counts exactly 144 / r^2 (144, 36, 16, 9) lie on a line of slope -2, spread over two
  // continuations (they are pooled): zipf = 2. Counts 6 / r (6, 3, 2): zipf = 1.
  const auto repeat = [](std::int64_t id, std::size_t times) { return std::vector<std::int64_t>(times, id); };
  Texts squared{repeat(3, 144), repeat(8, 36)};
  squared[1].insert(squared[1].end(), 16, 2);
  squared[1].insert(squared[1].end(), 9, 5);
  check_close(measure_one("zipf", "zipf", squared), 2.0);
  check_close(measure_one("zipf", "zipf", {{1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3}}), 1.0);

  // Counts 4, 2, 1: x = (0, ln 2, ln 3), y = (2 ln 2, ln 2, 0), mean x = ln 6 / 3, mean y = ln 2;
  // slope = sum (x - mean x)(y - mean y) / sum (x - mean x)^2, the sums written out below:
  // -0.761500 / 0.617268 = -1.233662. The first two ranks alone (max_ranks = 2) are exactly a line:
  // (ln 2 - 2 ln 2) / (ln 2 - 0) = -1.
  const std::vector<std::int64_t> ids{1, 1, 1, 1, 2, 2, 3};
  const double l2 = std::log(2.0), l3 = std::log(3.0), mx = (l2 + l3) / 3.0;
  const double sxy = (0.0 - mx) * (2 * l2 - l2) + (l2 - mx) * 0.0 + (l3 - mx) * (0.0 - l2);
  const double sxx = (0.0 - mx) * (0.0 - mx) + (l2 - mx) * (l2 - mx) + (l3 - mx) * (l3 - mx);
  check_close(measure_one("zipf", "zipf", {ids}), -sxy / sxx);
  check_close(measure_one("zipf", "zipf", {ids}), 1.2336619, 1e-7);
  check_close(measure_one("zipf", "zipf", {ids}, toml::table{{"max_ranks", 2}}), 1.0);

  // Equal counts: a flat line, 0 (not -0). Order of continuations and ids does not matter, bit for bit.
  CHECK(measure_one("zipf", "zipf", {{1, 2, 3}}) == 0.0);
  CHECK_FALSE(std::signbit(measure_one("zipf", "zipf", {{1, 2, 3}})));
  CHECK(measure_one("zipf", "zipf", {{3, 1, 1}, {2, 1, 1, 2}}) ==
        measure_one("zipf", "zipf", {{2, 1}, {1, 2, 1, 3, 1}}));

  // Fewer than 2 distinct ids: NaN.
  CHECK(std::isnan(measure_one("zipf", "zipf", {{5, 5, 5}})));
  CHECK(std::isnan(measure_one("zipf", "zipf", {{}})));
  CHECK(std::isnan(measure_one("zipf", "zipf", {})));
}

TEST_CASE("zipf: bad options are ConfigErrors naming key and value", "[metrics][zipf]") {
  CHECK_THROWS_MATCHES(make_metric("zipf", toml::table{{"max_ranks", 1}}), lmlab::ConfigError,
                       MessageContains("metrics.zipf.max_ranks: 1 is out of range"));
}

}  // namespace zipf_tests
