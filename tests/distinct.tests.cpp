// distinct (Li et al. 2016): distinct n-grams over all n-grams of small continuations worked out
// by hand; n-grams never span continuations; edge cases and option errors.
// Shared with the other generation metrics: tests/generation_metrics.tests.cpp (every metric),
// tests/metrics_crosscheck.tests.cpp (against an independent Python implementation).
#include <cmath>

#include <toml++/toml.h>

#include "lmlab/error.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/metric_fixtures.hpp"

namespace distinct_tests {

using lmlab::test::MessageContains;
using lmlab::test::abcdabcd;
using lmlab::test::check_close;
using lmlab::test::make_metric;
using lmlab::test::measure;

TEST_CASE("distinct: distinct n-grams over all n-grams", "[metrics][distinct]") {
  // [a b c d a b c d], [5 5], [7], []: unigrams 8 + 2 + 1 = 11, distinct {1,2,3,4,5,7} = 6;
  // bigrams 7 + 1 + 0 = 8 (not 11 tokens), distinct {12, 23, 34, 41, 55} = 5; trigrams 6, distinct 4.
  auto v = measure("distinct", {abcdabcd, {5, 5}, {7}, {}}, toml::table{{"max_n", 3}});
  REQUIRE(v.size() == 3);
  check_close(v["distinct_1"], 6.0 / 11.0);
  check_close(v["distinct_2"], 5.0 / 8.0);
  check_close(v["distinct_3"], 4.0 / 6.0);

  // N-grams do not span continuations: [1 2], [3 4] have bigrams 12 and 34 only (no 23): 2/2.
  v = measure("distinct", {{1, 2}, {3, 4}});
  REQUIRE(v.size() == 2);
  check_close(v["distinct_1"], 1.0);
  check_close(v["distinct_2"], 1.0);
  // Repeats across continuations count: [1 2] twice: 2 of 4 unigrams, 1 of 2 bigrams.
  v = measure("distinct", {{1, 2}, {1, 2}});
  check_close(v["distinct_1"], 0.5);
  check_close(v["distinct_2"], 0.5);
  // All identical [9 9 9 9]: 1/4 and 1/3. One id: 1/1 and no bigram (NaN).
  v = measure("distinct", {{9, 9, 9, 9}});
  check_close(v["distinct_1"], 0.25);
  check_close(v["distinct_2"], 1.0 / 3.0);
  v = measure("distinct", {{3}});
  check_close(v["distinct_1"], 1.0);
  CHECK(std::isnan(v["distinct_2"]));
  for (const auto& [name, value] : measure("distinct", {})) CHECK(std::isnan(value));
  for (const auto& [name, value] : measure("distinct", {{}, {}})) CHECK(std::isnan(value));
}

TEST_CASE("distinct: bad options are ConfigErrors naming key and value", "[metrics][distinct]") {
  CHECK_THROWS_MATCHES(make_metric("distinct", toml::table{{"max_n", -2}}), lmlab::ConfigError,
                       MessageContains("metrics.distinct.max_n: -2 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("distinct", toml::table{{"n", 3}}), lmlab::ConfigError,
                       MessageContains("metrics.distinct.n: unknown key; accepted: max_n"));
}

}  // namespace distinct_tests
