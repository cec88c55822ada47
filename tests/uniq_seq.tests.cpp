// uniq_seq: the number of distinct ids across continuations, counted by hand; option errors.
// Shared with the other generation metrics: tests/generation_metrics.tests.cpp (every metric),
// tests/metrics_crosscheck.tests.cpp (against an independent Python implementation).

#include <toml++/toml.h>

#include "lmlab/error.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/metric_fixtures.hpp"

namespace uniq_seq_tests {

using lmlab::test::MessageContains;
using lmlab::test::abcdabcd;
using lmlab::test::check_close;
using lmlab::test::make_metric;
using lmlab::test::measure;
using lmlab::test::measure_one;

TEST_CASE("uniq_seq: distinct ids across continuations", "[metrics][uniq_seq]") {
  // {1 2 3 4} from the first, 5, then 1 again and 9: {1, 2, 3, 4, 5, 9} = 6; prompts ignored.
  check_close(measure_one("uniq_seq", "uniq_seq", {abcdabcd, {5, 5}, {}, {1, 9}}), 6.0);
  CHECK(measure("uniq_seq", {{4, 4}}, {}, {{1, 2, 3}}).at("uniq_seq") == 1.0);
  check_close(measure_one("uniq_seq", "uniq_seq", {{7}}), 1.0);
  check_close(measure_one("uniq_seq", "uniq_seq", {{}}), 0.0);
  check_close(measure_one("uniq_seq", "uniq_seq", {}), 0.0);
}

TEST_CASE("uniq_seq: it takes no options: any is a ConfigError naming it", "[metrics][uniq_seq]") {
  CHECK_THROWS_MATCHES(make_metric("uniq_seq", toml::table{{"max_n", 3}}), lmlab::ConfigError,
                       MessageContains("metrics.uniq_seq"));
}

}  // namespace uniq_seq_tests
