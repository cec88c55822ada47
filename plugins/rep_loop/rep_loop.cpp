// Repetition loops (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration",
// Table 1's "Repetition %"): the fraction of continuations that end in a loop, a phrase repeated
// back to back up to the last id. The paper reports the percentage without stating thresholds;
// this is the rule of its code, ari-holtzman/degen metrics/repetition.py, whose constants are the
// defaults:
//   R(n) = the largest k with x[L-kn+1..L] = k copies of x[L-n+1..L] (R(n) = 1 when n > L)
//   n*   = the smallest n in 1..max_phrase with the largest R(n), R* = R(n*)
//   loop = R* >= min_repeats and (n* >= min_phrase or R* >= short_repeats)
//   rep_loop = (number of loops) / (number of continuations)
// Defaults 90, 2, 3, 51 are degen's max_n = 90, "> 1", ">= 3" and "> 50": a phrase of 3+ ids
// repeated twice is a loop, while 1- and 2-id phrases need 51+ copies, presumably because short
// runs ("! !", "the the") also occur in fluent text. Only the most repeated length n* is judged,
// not every n: [a a a a a a] is no loop, since n* = 1 (R = 6 < 51), though "a a a" occurs twice.
// Differences from degen: an empty continuation is not a loop (degen fails on it), and nothing
// is stripped from the end (degen drops one trailing end-of-text token); the host passes
// generated ids only. No continuations at all: NaN. Phrase lengths count the given units
// (tokens or words); degen counted GPT-2 tokens.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lmlab/metric.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct RepLoopOptions {
  std::int64_t max_phrase = 90;
  std::int64_t min_repeats = 2;
  std::int64_t min_phrase = 3;
  std::int64_t short_repeats = 51;
};

lmlab::OptionSet<RepLoopOptions> options() {
  return lmlab::OptionSet<RepLoopOptions>{}
      .add("max_phrase", &RepLoopOptions::max_phrase, "the longest repeated phrase looked for, in ids", {.min = 1.0})
      .add("min_repeats", &RepLoopOptions::min_repeats,
           "how many back-to-back copies of a phrase of min_phrase ids or more make a loop", {.min = 2.0})
      .add("min_phrase", &RepLoopOptions::min_phrase,
           "phrases shorter than this many ids need short_repeats copies instead", {.min = 1.0})
      .add("short_repeats", &RepLoopOptions::short_repeats,
           "how many back-to-back copies of a phrase shorter than min_phrase make a loop", {.min = 2.0});
}

/// How many back-to-back copies of its last n ids `ids` ends with (1 when it has fewer than n).
std::size_t repeats_at_end(const std::vector<std::int64_t>& ids, std::size_t n) {
  const std::size_t length = ids.size();
  if (n > length) return 1;
  std::size_t k = 1;
  // Copy k+1 occupies ids[length - (k+1)n, length - kn): compare it with the last n ids.
  while ((k + 1) * n <= length &&
         std::equal(ids.end() - static_cast<std::ptrdiff_t>(n), ids.end(),
                    ids.end() - static_cast<std::ptrdiff_t>((k + 1) * n))) {
    ++k;
  }
  return k;
}

class RepLoop final : public lmlab::Metric {
 public:
  explicit RepLoop(const RepLoopOptions& o) : o_(o) {}

  std::vector<std::string> generation_values() const override { return {"rep_loop"}; }

  std::vector<lmlab::MetricValue> generated(const lmlab::GeneratedText& text) override {
    if (text.continuations.empty()) return {{"rep_loop", std::numeric_limits<double>::quiet_NaN()}};
    std::size_t loops = 0;
    for (const auto& ids : text.continuations) loops += ends_in_loop(ids) ? 1 : 0;
    return {{"rep_loop", static_cast<double>(loops) / static_cast<double>(text.continuations.size())}};
  }

 private:
  bool ends_in_loop(const std::vector<std::int64_t>& ids) const {
    if (ids.empty()) return false;
    // Phrases longer than the continuation have R = 1, which never beats R(1) >= 1: skipped.
    const std::size_t longest = std::min(static_cast<std::size_t>(o_.max_phrase), ids.size());
    std::size_t best_n = 1, best = 0;
    for (std::size_t n = 1; n <= longest; ++n) {
      const std::size_t r = repeats_at_end(ids, n);
      if (r > best) {  // strictly greater: a tie keeps the smaller n, as degen's max() does
        best = r;
        best_n = n;
      }
    }
    const auto repeats = static_cast<std::int64_t>(best);
    return repeats >= o_.min_repeats &&
           (static_cast<std::int64_t>(best_n) >= o_.min_phrase || repeats >= o_.short_repeats);
  }

  RepLoopOptions o_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("rep_loop", "fraction of continuations that end in a repeated phrase (Holtzman et al. 2020)",
                       options(), [](const RepLoopOptions& o, const lmlab::MetricContext&) {
                         return std::make_shared<RepLoop>(o);
                       });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
