// distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
// Models"): the share of distinct n-grams among all the n-grams of all continuations of one
// decoding configuration:
//   distinct_n = |set of n-grams over all continuations| / sum over continuations x of max(0, |x| - n + 1)
// The denominator is the number of n-grams, not of tokens. Li et al. divide by the number of
// generated tokens; for n = 1 the two agree, for n > 1 a token denominator keeps the value below 1
// even when no n-gram repeats, so we follow the common implementations that count n-grams.
// N-grams never span two continuations, and prompts are not counted. Holtzman et al.'s
// metrics/distinct_n.py counts the n-grams seen exactly once instead of the distinct ones (lower
// whenever an n-gram occurs twice or more); this is Li et al.'s quantity.
// No n-gram at all (every continuation shorter than n): NaN. Reported for n in 1..max_n.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lmlab/metric.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/repetition.hpp"

namespace {

struct DistinctOptions {
  std::int64_t max_n = 2;
};

lmlab::OptionSet<DistinctOptions> options() {
  return lmlab::OptionSet<DistinctOptions>{}.add(
      "max_n", &DistinctOptions::max_n, "report distinct_n for every n-gram length n in 1..max_n", {.min = 1.0});
}

class Distinct final : public lmlab::Metric {
 public:
  explicit Distinct(std::int64_t max_n) : max_n_(static_cast<std::size_t>(max_n)) {}

  std::vector<std::string> generation_values() const override {
    std::vector<std::string> names;
    for (std::size_t n = 1; n <= max_n_; ++n) names.push_back("distinct_" + std::to_string(n));
    return names;
  }

  std::vector<lmlab::MetricValue> generated(const lmlab::GeneratedText& text) override {
    std::vector<lmlab::MetricValue> values;
    for (std::size_t n = 1; n <= max_n_; ++n) {
      // One counter over all continuations: an n-gram repeated across two counts once.
      lmlab::NgramCounter grams(n);
      for (const auto& ids : text.continuations) grams.add(ids);
      const double value = grams.total() ? static_cast<double>(grams.distinct()) / static_cast<double>(grams.total())
                                         : std::numeric_limits<double>::quiet_NaN();
      values.push_back({"distinct_" + std::to_string(n), value});
    }
    return values;
  }

 private:
  std::size_t max_n_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("distinct", "distinct n-grams / all n-grams across the continuations (Li et al. 2016)",
                       options(), [](const DistinctOptions& o, const lmlab::MetricContext&) {
                         return std::make_shared<Distinct>(o.max_n);
                       });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
