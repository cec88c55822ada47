// Logit bias (OpenAI's API `logit_bias`; Hugging Face's SequenceBiasLogitsProcessor for single
// tokens): fixed amounts added to chosen tokens' logits at every step:
//   logit'_{ids[i]} = logit_{ids[i]} + biases[i]
// A large negative bias (or -inf) all but bans a token, a positive one favours it. The pairs are
// two parallel arrays, since an option holds arrays of floats but not arrays of pairs: `ids`
// (whole numbers in [0, V)) and `biases` (same length).
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct LogitBiasOptions {
  std::vector<double> ids{};
  std::vector<double> biases{};
};

bool whole_and_distinct(const std::vector<double>& ids) {
  std::set<double> seen;
  for (double id : ids) {
    if (!std::isfinite(id) || id != std::floor(id) || !seen.insert(id).second) return false;
  }
  return true;
}

lmlab::OptionSet<LogitBiasOptions> options() {
  return lmlab::OptionSet<LogitBiasOptions>{}
      .add("ids", &LogitBiasOptions::ids, "the token ids to bias (whole numbers, each at most once)", {.min = 0.0})
      .add("biases", &LogitBiasOptions::biases, "what is added to the logit of each of `ids`, in the same order")
      .check("ids and biases must have the same length (one bias per id)",
             [](const LogitBiasOptions& o) { return o.ids.size() == o.biases.size(); })
      .check("ids must be whole numbers, each listed once",
             [](const LogitBiasOptions& o) { return whole_and_distinct(o.ids); });
}

class LogitBias final : public lmlab::Cloneable<LogitBias> {
 public:
  explicit LogitBias(const LogitBiasOptions& o) {
    for (double id : o.ids) ids_.push_back(static_cast<std::int64_t>(id));
    biases_ = o.biases;
  }

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;  // (B, V)
    const std::int64_t vocab = logits.size(1);
    for (std::int64_t id : ids_) {
      if (id >= vocab) {
        throw std::invalid_argument(fmt::format("logit_bias: id {} is outside the vocabulary of {} ids", id, vocab));
      }
    }
    if (ids_.empty()) return;
    const at::Tensor index = at::tensor(ids_, logits.options().dtype(at::kLong));  // (K)
    const at::Tensor bias = at::tensor(biases_, logits.options().dtype(at::kDouble)).to(logits.scalar_type());  // (K)
    // One dense (V) row shared by the batch; ids are distinct, so index_add adds each bias once.
    const at::Tensor dense = at::zeros({vocab}, logits.options()).index_add_(0, index, bias);  // (V)
    state.logits = logits + dense;  // (B, V)
  }

 private:
  std::vector<std::int64_t> ids_;
  std::vector<double> biases_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("logit_bias", "add fixed biases to chosen tokens' logits (ids[i] gets biases[i])",
                             options(), [](const LogitBiasOptions& o, const lmlab::DecodingContext& c) {
                               for (double id : o.ids) {
                                 if (c.vocab_size > 0 && id >= static_cast<double>(c.vocab_size)) {
                                   throw lmlab::ConfigError(fmt::format(
                                       "logit_bias.ids: id {} is outside the vocabulary of {} ids",
                                       static_cast<std::int64_t>(id), c.vocab_size));
                                 }
                               }
                               return std::make_shared<LogitBias>(o);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
