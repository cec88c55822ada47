// The generation metrics (seq_rep, uniq_seq, distinct, rep_loop, zipf, self_bleu) on small
// continuations worked out by hand, with the arithmetic beside each check; the papers' own
// examples; the edge cases (no continuations, empty ones, shorter than n, all identical, one id);
// and their option errors. tests/metrics_crosscheck.tests.cpp compares them with an independent
// Python implementation on a larger file.
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "lmlab/error.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

using lmlab::Metric;
using lmlab::test::MessageContains;
using Texts = std::vector<std::vector<std::int64_t>>;

namespace {

std::shared_ptr<Metric> make_metric(const std::string& name, const toml::table& options = {}) {
  const lmlab::Registry& plugins = lmlab::test::builtin_plugins();
  const toml::table resolved = lmlab::resolve_plugin<Metric>(plugins, name, options, "metrics." + name);
  return lmlab::make_plugin<Metric>(plugins, name, resolved, lmlab::MetricContext{100});
}

/// Every value `name` reports on `texts`, after checking that it reports exactly the names it
/// declares, in that order, and takes no part in validation.
std::map<std::string, double> measure(const std::string& name, const Texts& texts, const toml::table& options = {},
                                      const Texts& prompts = {}) {
  const std::shared_ptr<Metric> metric = make_metric(name, options);
  lmlab::GeneratedText text;
  text.unit = "tokens";
  text.prompts = prompts.empty() ? Texts(texts.size()) : prompts;
  text.continuations = texts;
  text.vocab_size = 100;
  const std::vector<lmlab::MetricValue> values = metric->generated(text);
  const std::vector<std::string> declared = metric->generation_values();
  CHECK(metric->validation_values().empty());
  REQUIRE(values.size() == declared.size());
  std::map<std::string, double> out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    CHECK(values[i].name == declared[i]);
    out[values[i].name] = values[i].value;
  }
  return out;
}

double measure_one(const std::string& name, const std::string& value, const Texts& texts,
                   const toml::table& options = {}) {
  const auto values = measure(name, texts, options);
  REQUIRE(values.count(value) == 1);
  return values.at(value);
}

void check_close(double got, double want, double tolerance = 1e-12) {
  std::ostringstream shown;
  shown << std::setprecision(17) << "got " << got << ", want " << want;
  INFO(shown.str());
  CHECK(std::abs(got - want) <= tolerance);
}

// Welleck et al.'s example: [a b c d a b c d].
const std::vector<std::int64_t> abcdabcd{1, 2, 3, 4, 1, 2, 3, 4};

}  // namespace

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

TEST_CASE("uniq_seq: distinct ids across continuations", "[metrics][uniq_seq]") {
  // {1 2 3 4} from the first, 5, then 1 again and 9: {1, 2, 3, 4, 5, 9} = 6; prompts ignored.
  check_close(measure_one("uniq_seq", "uniq_seq", {abcdabcd, {5, 5}, {}, {1, 9}}), 6.0);
  CHECK(measure("uniq_seq", {{4, 4}}, {}, {{1, 2, 3}}).at("uniq_seq") == 1.0);
  check_close(measure_one("uniq_seq", "uniq_seq", {{7}}), 1.0);
  check_close(measure_one("uniq_seq", "uniq_seq", {{}}), 0.0);
  check_close(measure_one("uniq_seq", "uniq_seq", {}), 0.0);
}

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

TEST_CASE("generation metrics: bad options are ConfigErrors naming key and value", "[metrics]") {
  CHECK_THROWS_MATCHES(make_metric("seq_rep", toml::table{{"max_n", 0}}), lmlab::ConfigError,
                       MessageContains("metrics.seq_rep.max_n: 0 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("distinct", toml::table{{"max_n", -2}}), lmlab::ConfigError,
                       MessageContains("metrics.distinct.max_n: -2 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("self_bleu", toml::table{{"max_n", 0}}), lmlab::ConfigError,
                       MessageContains("metrics.self_bleu.max_n: 0 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("zipf", toml::table{{"max_ranks", 1}}), lmlab::ConfigError,
                       MessageContains("metrics.zipf.max_ranks: 1 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("rep_loop", toml::table{{"min_repeats", 1}}), lmlab::ConfigError,
                       MessageContains("metrics.rep_loop.min_repeats: 1 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("rep_loop", toml::table{{"max_phrase", 0}}), lmlab::ConfigError,
                       MessageContains("metrics.rep_loop.max_phrase: 0 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("rep_loop", toml::table{{"short_repeats", 1}}), lmlab::ConfigError,
                       MessageContains("metrics.rep_loop.short_repeats: 1 is out of range"));
  CHECK_THROWS_MATCHES(make_metric("seq_rep", toml::table{{"max_n", 2.5}}), lmlab::ConfigError,
                       MessageContains("metrics.seq_rep.max_n"));
  CHECK_THROWS_MATCHES(make_metric("distinct", toml::table{{"n", 3}}), lmlab::ConfigError,
                       MessageContains("metrics.distinct.n: unknown key; accepted: max_n"));
  CHECK_THROWS_MATCHES(make_metric("uniq_seq", toml::table{{"max_n", 3}}), lmlab::ConfigError,
                       MessageContains("metrics.uniq_seq"));
}
