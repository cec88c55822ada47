// Self-BLEU (Zhu et al. 2018, "Texygen: A Benchmarking Platform for Text Generation Models";
// reported by Holtzman et al. 2020 as Self-BLEU4): how much each continuation reads like the
// others. Each continuation h in turn is the hypothesis and every other continuation a
// reference; the value is the mean of those sentence BLEUs. Texygen (geek-ai/Texygen
// utils/metrics/SelfBleu.py, get_bleu_parallel) and degen (metrics/self_bleu.py) both call NLTK's
// sentence_bleu with uniform weights 1/N and SmoothingFunction().method1; this is that computation:
//   m_n = sum over distinct n-grams g of h of min(count_h(g), max over references of count_ref(g))
//   d_n = max(1, |h| - n + 1)                          (NLTK's denominator, never 0)
//   p_n = m_n / d_n, or 0.1 / d_n when m_n = 0         (method1: epsilon 0.1 on a zero numerator)
//   r   = the reference length closest to |h|, the shorter on a tie
//   BP  = 1 if |h| > r, else exp(1 - r / |h|)
//   BLEU(h) = BP * exp(sum_{n=1..N} (1/N) ln p_n),  but 0 when |h| = 0 or m_1 = 0 (NLTK returns 0
//             before smoothing when no unigram matches)
//   self_bleu_N = mean over all continuations of BLEU(h)
// Every continuation is a hypothesis, where Texygen scores its first 500 sentences and degen a
// random 1000 (against all the others): with the few prompts of an evaluation all of them fit,
// and nothing random enters. Continuations are compared as given: no tokenisation, no lower-casing.
// Fewer than 2 continuations (no reference): NaN. Value: self_bleu_<max_n>.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmlab/metric.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct SelfBleuOptions {
  std::int64_t max_n = 4;
};

lmlab::OptionSet<SelfBleuOptions> options() {
  return lmlab::OptionSet<SelfBleuOptions>{}.add(
      "max_n", &SelfBleuOptions::max_n, "BLEU's largest n-gram order N (weights 1/N each)", {.min = 1.0});
}

using Ngram = std::vector<std::int64_t>;
using Counts = std::map<Ngram, std::int64_t>;

/// The two largest counts of one n-gram over the continuations, with whose they are, so that the
/// largest over "every continuation but h" takes one look.
struct Top2 {
  std::int64_t first = 0, second = 0;
  std::size_t first_of = 0;
  void add(std::int64_t count, std::size_t of) {
    if (count > first) {
      second = first;
      first = count;
      first_of = of;
    } else if (count > second) {
      second = count;
    }
  }
  std::int64_t excluding(std::size_t of) const { return first_of == of ? second : first; }
};

class SelfBleu final : public lmlab::Metric {
 public:
  explicit SelfBleu(std::int64_t max_n) : max_n_(static_cast<std::size_t>(max_n)) {}

  std::vector<std::string> generation_values() const override { return {name()}; }

  std::vector<lmlab::MetricValue> generated(const lmlab::GeneratedText& text) override {
    const auto& texts = text.continuations;
    const std::size_t count = texts.size();
    if (count < 2) return {{name(), std::numeric_limits<double>::quiet_NaN()}};

    // matches[i][n-1] = m_n of continuation i against all the others.
    std::vector<std::vector<std::int64_t>> matches(count, std::vector<std::int64_t>(max_n_, 0));
    for (std::size_t n = 1; n <= max_n_; ++n) {
      std::vector<Counts> counts(count);
      std::map<Ngram, Top2> top;
      for (std::size_t i = 0; i < count; ++i) {
        const auto& ids = texts[i];
        for (std::size_t t = 0; t + n <= ids.size(); ++t) ++counts[i][Ngram(ids.begin() + t, ids.begin() + t + n)];
        for (const auto& [gram, c] : counts[i]) top[gram].add(c, i);
      }
      for (std::size_t i = 0; i < count; ++i) {
        for (const auto& [gram, c] : counts[i]) matches[i][n - 1] += std::min(c, top.at(gram).excluding(i));
      }
    }

    double sum = 0.0;
    for (std::size_t i = 0; i < count; ++i) sum += bleu(texts, i, matches[i]);
    return {{name(), sum / static_cast<double>(count)}};
  }

 private:
  std::string name() const { return "self_bleu_" + std::to_string(max_n_); }

  double bleu(const std::vector<std::vector<std::int64_t>>& texts, std::size_t h,
              const std::vector<std::int64_t>& matches) const {
    const auto length = static_cast<std::int64_t>(texts[h].size());
    if (length == 0 || matches[0] == 0) return 0.0;
    std::int64_t closest = -1;  // the reference length nearest |h|, the shorter on a tie
    for (std::size_t j = 0; j < texts.size(); ++j) {
      if (j == h) continue;
      const auto r = static_cast<std::int64_t>(texts[j].size());
      const std::int64_t d = std::llabs(r - length), best = std::llabs(closest - length);
      if (closest < 0 || d < best || (d == best && r < closest)) closest = r;
    }
    const double penalty =
        length > closest ? 1.0 : std::exp(1.0 - static_cast<double>(closest) / static_cast<double>(length));
    const double weight = 1.0 / static_cast<double>(max_n_);
    double log_sum = 0.0;
    for (std::size_t n = 1; n <= max_n_; ++n) {
      const auto grams = std::max<std::int64_t>(1, length - static_cast<std::int64_t>(n) + 1);
      const double p = matches[n - 1] > 0 ? static_cast<double>(matches[n - 1]) / static_cast<double>(grams)
                                          : 0.1 / static_cast<double>(grams);
      log_sum += weight * std::log(p);
    }
    return penalty * std::exp(log_sum);
  }

  std::size_t max_n_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("self_bleu",
                       "mean BLEU of each continuation against all the others (Zhu et al. 2018, Texygen)",
                       options(), [](const SelfBleuOptions& o, const lmlab::MetricContext&) {
                         return std::make_shared<SelfBleu>(o.max_n);
                       });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
