// seq-rep-n (Welleck et al. 2020, "Neural Text Generation with Unlikelihood Training", sec. 6):
// the share of a continuation's n-grams that repeat an n-gram seen earlier in it, averaged over
// continuations:
//   seq-rep-n(x) = 1 - |unique n-grams of x| / |n-grams of x|,  x = the generated ids only
//   seq_rep_n    = mean of seq-rep-n(x) over the continuations with at least n ids
// [a b c d a b c d] has 5 4-grams, 4 of them unique: seq-rep-4 = 1 - 4/5 = 0.2.
// The prompt is left out (the paper scores the continuation x_{k+1:k+N} alone), so a model that
// copies its prompt once is not counted as repeating. Their code (facebookresearch/
// unlikelihood_training, custom/metrics.py ngram_metrics, averaged by np.mean) scores fixed
// 100-token continuations and divides unguarded; ours vary in length, so a continuation with fewer
// than n ids, which has no n-gram and no ratio, is left out of the mean rather than counted as 0
// (that would reward short outputs). None left: NaN. Reported for every n in 1..max_n as
// seq_rep_1 .. seq_rep_<max_n>.
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

struct SeqRepOptions {
  std::int64_t max_n = 4;
};

lmlab::OptionSet<SeqRepOptions> options() {
  return lmlab::OptionSet<SeqRepOptions>{}.add(
      "max_n", &SeqRepOptions::max_n, "report seq_rep_n for every n-gram length n in 1..max_n", {.min = 1.0});
}

class SeqRep final : public lmlab::Metric {
 public:
  explicit SeqRep(std::int64_t max_n) : max_n_(static_cast<std::size_t>(max_n)) {}

  std::vector<std::string> generation_values() const override {
    std::vector<std::string> names;
    for (std::size_t n = 1; n <= max_n_; ++n) names.push_back("seq_rep_" + std::to_string(n));
    return names;
  }

  std::vector<lmlab::MetricValue> generated(const lmlab::GeneratedText& text) override {
    std::vector<lmlab::MetricValue> values;
    for (std::size_t n = 1; n <= max_n_; ++n) {
      // Summed in continuation order, then divided once: the same arithmetic as the reference.
      double sum = 0.0;
      std::size_t counted = 0;
      for (const auto& ids : text.continuations) {
        if (ids.size() < n) continue;
        lmlab::NgramCounter grams(n);  // one per continuation: repeats within it only
        grams.add(ids);
        // (total - distinct) / total: one rounding, where 1 - distinct/total would take two.
        sum += static_cast<double>(grams.total() - grams.distinct()) / static_cast<double>(grams.total());
        ++counted;
      }
      const double value =
          counted ? sum / static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
      values.push_back({"seq_rep_" + std::to_string(n), value});
    }
    return values;
  }

 private:
  std::size_t max_n_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("seq_rep", "share of repeated n-grams within each continuation, averaged (Welleck et al. 2020)",
                       options(), [](const SeqRepOptions& o, const lmlab::MetricContext&) {
                         return std::make_shared<SeqRep>(o.max_n);
                       });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
