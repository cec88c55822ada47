// self_bleu: NLTK's sentence BLEU with method1 smoothing, each continuation against the others,
// worked out by hand (precisions, clipping, brevity penalty); edge cases and option errors.
// Shared with the other generation metrics: tests/generation_metrics.tests.cpp (every metric),
// tests/metrics_crosscheck.tests.cpp (against an independent Python implementation).
#include <cmath>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "lmlab/error.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/metric_fixtures.hpp"

namespace self_bleu_tests {

using lmlab::test::MessageContains;
using lmlab::test::check_close;
using lmlab::test::make_metric;
using lmlab::test::measure_one;

TEST_CASE("self_bleu: NLTK sentence BLEU with method1 smoothing, each against the others", "[metrics][self_bleu]") {
  // Identical: every precision 1, r = c = 4 so BP = exp(1 - 4/4) = 1: 1.
  check_close(measure_one("self_bleu", "self_bleu_4", {{1, 2, 3, 4}, {1, 2, 3, 4}}), 1.0);
  // No shared id: m_1 = 0, so 0 before any smoothing.
  check_close(measure_one("self_bleu", "self_bleu_4", {{1, 2}, {3, 4}}), 0.0);

  // [1 2 3 4] against [1 2 5 6]: p1 = 2/4; p2 = 1/3 (12); p3 = 0 -> 0.1/2; p4 = 0 -> 0.1/1; BP = 1.
  // BLEU = (1/2 * 1/3 * 1/20 * 1/10)^(1/4) = 1200^(-1/4), the same both ways.
  check_close(measure_one("self_bleu", "self_bleu_4", {{1, 2, 3, 4}, {1, 2, 5, 6}}), std::pow(1200.0, -0.25));

  // Identical but 2 ids long: p1 = p2 = 1, p3 = p4 = 0.1/1 (d_n = max(1, 2 - n + 1) = 1):
  // (0.1 * 0.1)^(1/4) = sqrt(0.1).
  check_close(measure_one("self_bleu", "self_bleu_4", {{1, 2}, {1, 2}}), std::sqrt(0.1));

  const toml::table unigrams{{"max_n", 1}};
  // Closest reference length, shorter on a tie; BP = exp(1 - r/c) when c <= r:
  //   [1 2] vs [1 2 3], [1]: r = 1 (lengths 3 and 1 tie at distance 1), c = 2 > r: BP 1, p1 = 2/2 -> 1
  //   [1 2 3] vs [1 2], [1]: r = 2, BP 1, p1 = 2/3 (3 unmatched)                                -> 2/3
  //   [1] vs [1 2], [1 2 3]: r = 2, BP = exp(1 - 2/1), p1 = 1                                     -> e^-1
  check_close(measure_one("self_bleu", "self_bleu_1", {{1, 2}, {1, 2, 3}, {1}}, unigrams),
              (1.0 + 2.0 / 3.0 + std::exp(-1.0)) / 3.0);
  // Clipping: [7 7 7 7] vs [7 1]: 7 counts min(4, 1) = 1 -> p1 = 1/4, c = 4 > r = 2: 1/4.
  //           [7 1] vs [7 7 7 7]: 7 matches once, 1 not -> 1/2, BP = exp(1 - 4/2) = e^-1.
  check_close(measure_one("self_bleu", "self_bleu_1", {{7, 7, 7, 7}, {7, 1}}, unigrams),
              (0.25 + 0.5 * std::exp(-1.0)) / 2.0);
  // Clipped by the largest count in any one reference, not their sum: [5 5] vs [5 9], [5 8]
  // matches 5 once (1/2); [5 9] and [5 8] match their 5 (1/2); all lengths 2, BP 1: 1/2.
  check_close(measure_one("self_bleu", "self_bleu_1", {{5, 5}, {5, 9}, {5, 8}}, unigrams), 0.5);

  // An empty hypothesis scores 0, as does one whose only reference is empty.
  check_close(measure_one("self_bleu", "self_bleu_1", {{}, {1, 2}}, unigrams), 0.0);
  // All identical [4 4 4] x 3: p_n = 1 for n <= 3, BP 1: 1.
  check_close(measure_one("self_bleu", "self_bleu_3", {{4, 4, 4}, {4, 4, 4}, {4, 4, 4}}, toml::table{{"max_n", 3}}),
              1.0);
  // Fewer than 2 continuations: no reference, NaN.
  CHECK(std::isnan(measure_one("self_bleu", "self_bleu_4", {{1, 2, 3}})));
  CHECK(std::isnan(measure_one("self_bleu", "self_bleu_4", {})));
  CHECK(make_metric("self_bleu", toml::table{{"max_n", 2}})->generation_values() ==
        std::vector<std::string>{"self_bleu_2"});
}

TEST_CASE("self_bleu: bad options are ConfigErrors naming key and value", "[metrics][self_bleu]") {
  CHECK_THROWS_MATCHES(make_metric("self_bleu", toml::table{{"max_n", 0}}), lmlab::ConfigError,
                       MessageContains("metrics.self_bleu.max_n: 0 is out of range"));
}

}  // namespace self_bleu_tests
