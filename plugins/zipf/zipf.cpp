// Zipf coefficient (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration", its Zipf
// distribution analysis and Table 1): Zipf's law says the r-th most frequent unit has frequency
// f_r ~ r^(-s), s near 1 in human text and larger when decoding overuses the head of the
// vocabulary. s is fitted by least squares on the log-log rank-frequency points, as their
// ari-holtzman/degen metrics/zipf.py does with scipy.stats.linregress:
//   f_1 >= f_2 >= ... >= f_D   the counts of the D distinct ids over all continuations
//   K = min(D, max_ranks),     x_r = ln r,  y_r = ln f_r  for r = 1..K
//   slope = sum (x_r - mean x)(y_r - mean y) / sum (x_r - mean x)^2,   zipf = -slope
// Only the K most frequent ids are fitted (degen's --N, default 5000): the fit is ordinary least
// squares with every rank weighted equally (not a maximum-likelihood power-law fit), so without a
// cap the many tail ranks of ids seen once or twice dominate it. Ranks of equal counts may be
// assigned in any order without changing the points, so ties need no rule. Prompts are not counted.
// Fewer than 2 distinct ids (no line to fit): NaN. Equal counts throughout give 0.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lmlab/metric.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct ZipfOptions {
  std::int64_t max_ranks = 5000;
};

lmlab::OptionSet<ZipfOptions> options() {
  return lmlab::OptionSet<ZipfOptions>{}.add("max_ranks", &ZipfOptions::max_ranks,
                                             "fit only the ranks 1..max_ranks (the most frequent ids)", {.min = 2.0});
}

class Zipf final : public lmlab::Metric {
 public:
  explicit Zipf(std::int64_t max_ranks) : max_ranks_(static_cast<std::size_t>(max_ranks)) {}

  std::vector<std::string> generation_values() const override { return {"zipf"}; }

  std::vector<lmlab::MetricValue> generated(const lmlab::GeneratedText& text) override {
    std::unordered_map<std::int64_t, std::int64_t> count;
    for (const auto& ids : text.continuations) {
      for (std::int64_t id : ids) ++count[id];
    }
    std::vector<std::int64_t> freq;
    freq.reserve(count.size());
    for (const auto& [id, c] : count) freq.push_back(c);
    std::sort(freq.begin(), freq.end(), std::greater<>());  // counts alone: deterministic
    const std::size_t k = std::min(freq.size(), max_ranks_);
    if (k < 2) return {{"zipf", std::numeric_limits<double>::quiet_NaN()}};

    // Two passes (means, then centred sums), in rank order, like numpy's mean and linregress.
    std::vector<double> x(k), y(k);
    double mean_x = 0.0, mean_y = 0.0;
    for (std::size_t r = 0; r < k; ++r) {
      x[r] = std::log(static_cast<double>(r + 1));
      y[r] = std::log(static_cast<double>(freq[r]));
      mean_x += x[r];
      mean_y += y[r];
    }
    mean_x /= static_cast<double>(k);
    mean_y /= static_cast<double>(k);
    double sxy = 0.0, sxx = 0.0;
    for (std::size_t r = 0; r < k; ++r) {
      sxy += (x[r] - mean_x) * (y[r] - mean_y);
      sxx += (x[r] - mean_x) * (x[r] - mean_x);
    }
    // sxx > 0: k >= 2 distinct ranks. "0.0 -": equal counts give +0, not -0.
    return {{"zipf", 0.0 - sxy / sxx}};
  }

 private:
  std::size_t max_ranks_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("zipf", "Zipf coefficient: minus the slope of log frequency on log rank (Holtzman et al. 2020)",
                       options(), [](const ZipfOptions& o, const lmlab::MetricContext&) {
                         return std::make_shared<Zipf>(o.max_ranks);
                       });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
