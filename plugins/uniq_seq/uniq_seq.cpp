// uniq-seq (Welleck et al. 2020, "Neural Text Generation with Unlikelihood Training", sec. 6):
// the number of distinct ids across all continuations of one decoding configuration,
//   uniq_seq = |{ x_t : x in continuations, t }|
// A vocabulary-usage count, not a ratio: degenerate decoding reuses a few frequent ids, so the
// count falls, and the paper compares it with the count in human text of the same length. It
// therefore depends on how many continuations there are and how long they are; compare it only
// between configurations given the same prompts and length. Prompts are not counted. No ids: 0.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "lmlab/metric.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct UniqSeqOptions {};

lmlab::OptionSet<UniqSeqOptions> options() { return lmlab::OptionSet<UniqSeqOptions>{}; }

class UniqSeq final : public lmlab::Metric {
 public:
  std::vector<std::string> generation_values() const override { return {"uniq_seq"}; }

  std::vector<lmlab::MetricValue> generated(const lmlab::GeneratedText& text) override {
    std::unordered_set<std::int64_t> seen;
    for (const auto& ids : text.continuations) seen.insert(ids.begin(), ids.end());
    return {{"uniq_seq", static_cast<double>(seen.size())}};
  }
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("uniq_seq", "number of distinct ids across all continuations (Welleck et al. 2020)",
                       options(), [](const UniqSeqOptions&, const lmlab::MetricContext&) {
                         return std::make_shared<UniqSeq>();
                       });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
