// seq_rep (Welleck et al. 2020): the paper's example and means of continuations worked out by hand,
// with the arithmetic beside each check; prompts, short and empty continuations; option errors.
// Shared with the other generation metrics: tests/generation_metrics.tests.cpp (every metric),
// tests/metrics_crosscheck.tests.cpp (against an independent Python implementation).
#include <cmath>

#include <toml++/toml.h>

#include "lmlab/error.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/metric_fixtures.hpp"

namespace seq_rep_tests {

using lmlab::test::MessageContains;
using lmlab::test::abcdabcd;
using lmlab::test::check_close;
using lmlab::test::make_metric;
using lmlab::test::measure;

TEST_CASE("seq_rep: the paper's example and hand-computed means", "[metrics][seq_rep]") {
  // [a b c d a b c d]: 8 unigrams, 4 unique: 1 - 4/8; 7 bigrams (ab bc cd da ab bc cd), 4 unique:
  // 1 - 4/7; 6 trigrams, 4 unique: 1 - 4/6; 5 4-grams, 4 unique: 1 - 4/5 = 0.2 (the paper's).
  auto v = measure("seq_rep", {abcdabcd});
  REQUIRE(v.size() == 4);
  check_close(v["seq_rep_1"], 0.5);
  check_close(v["seq_rep_2"], 3.0 / 7.0);
  check_close(v["seq_rep_3"], 1.0 / 3.0);
  check_close(v["seq_rep_4"], 0.2);

  // With [5 5] and [7]: n = 1 averages three, 0.5, 1 - 1/2 and 1 - 1/1: 1/3; n = 2 averages two,
  // 3/7 and [5 5]'s 1 - 1/1 = 0 ([7] has no bigram); n >= 3 only the first.
  v = measure("seq_rep", {abcdabcd, {5, 5}, {7}});
  check_close(v["seq_rep_1"], (0.5 + 0.5 + 0.0) / 3.0);
  check_close(v["seq_rep_2"], (3.0 / 7.0 + 0.0) / 2.0);
  check_close(v["seq_rep_3"], 1.0 / 3.0);
  check_close(v["seq_rep_4"], 0.2);

  // All identical [9 9 9 9 9]: n-grams 5, 4, 3, 2, each one distinct: 4/5, 3/4, 2/3, 1/2.
  v = measure("seq_rep", {{9, 9, 9, 9, 9}});
  check_close(v["seq_rep_1"], 0.8);
  check_close(v["seq_rep_2"], 0.75);
  check_close(v["seq_rep_3"], 2.0 / 3.0);
  check_close(v["seq_rep_4"], 0.5);
}

TEST_CASE("seq_rep: prompts do not count, short and empty continuations are left out", "[metrics][seq_rep]") {
  // The prompt repeats the continuation, but only the continuation's one 4-gram counts: 0.
  auto v = measure("seq_rep", {{1, 2, 3, 4}}, {}, {{1, 2, 3, 4}});
  check_close(v["seq_rep_4"], 0.0);

  // One id: one unigram, unique: 0; no n-gram for n >= 2: NaN.
  v = measure("seq_rep", {{3}});
  check_close(v["seq_rep_1"], 0.0);
  CHECK(std::isnan(v["seq_rep_2"]));
  CHECK(std::isnan(v["seq_rep_4"]));

  // Empty continuations add nothing; none at all: NaN.
  v = measure("seq_rep", {{}, abcdabcd, {}});
  check_close(v["seq_rep_4"], 0.2);
  for (const auto& [name, value] : measure("seq_rep", {})) CHECK(std::isnan(value));
  for (const auto& [name, value] : measure("seq_rep", {{}})) CHECK(std::isnan(value));

  // max_n picks the reported lengths.
  v = measure("seq_rep", {abcdabcd}, toml::table{{"max_n", 6}});
  REQUIRE(v.size() == 6);
  check_close(v["seq_rep_5"], 1.0 - 4.0 / 4.0);  // 4 5-grams, all distinct
  v = measure("seq_rep", {abcdabcd}, toml::table{{"max_n", 1}});
  CHECK(v.size() == 1);
}

TEST_CASE("seq_rep: bad options are ConfigErrors naming key and value", "[metrics][seq_rep]") {
  CHECK_THROWS_MATCHES(make_metric("seq_rep", toml::table{{"max_n", 0}}), lmlab::ConfigError,
                       MessageContains("metrics.seq_rep.max_n: 0 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("seq_rep", toml::table{{"max_n", 2.5}}), lmlab::ConfigError,
                       MessageContains("metrics.seq_rep.max_n"));
}

}  // namespace seq_rep_tests
