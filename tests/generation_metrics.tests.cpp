// What holds for every generation metric (seq_rep, uniq_seq, distinct, rep_loop, zipf, self_bleu):
// the unit of the ids does not change the arithmetic. Each metric's own hand-computed values, edge
// cases and option errors are in tests/<metric>.tests.cpp; tests/metrics_crosscheck.tests.cpp
// compares them all with an independent Python implementation on a larger file.
#include <memory>
#include <string>
#include <vector>

#include "lmlab/metric.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/metric_fixtures.hpp"

namespace generation_metrics_tests {

using lmlab::Metric;
using lmlab::test::abcdabcd;
using lmlab::test::make_metric;
using lmlab::test::Texts;

TEST_CASE("generation metrics: the unit does not change the arithmetic", "[metrics]") {
  for (const std::string& name :
       std::vector<std::string>{"seq_rep", "uniq_seq", "distinct", "rep_loop", "zipf", "self_bleu"}) {
    INFO(name);
    const std::shared_ptr<Metric> metric = make_metric(name);
    lmlab::GeneratedText text;
    text.continuations = {abcdabcd, {5, 5, 6}, {1, 2, 9}};
    text.prompts = Texts(3);
    text.unit = "tokens";
    text.vocab_size = 10;
    const auto tokens = metric->generated(text);
    text.unit = "words";
    const auto words = metric->generated(text);
    REQUIRE(tokens.size() == words.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) CHECK(tokens[i].value == words[i].value);
  }
}

}  // namespace generation_metrics_tests
