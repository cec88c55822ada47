// Teacher-forced next-token metrics of Welleck et al. 2020 ("Neural Text Generation with
// Unlikelihood Training", ICLR, sec. 6, token-level metrics), plus accuracy and entropy, over every
// predicted position (target != ignore_index) of every validation batch since reset():
//   rep_<L>   fraction of positions whose top-1 prediction occurs among the previous L tokens of
//             the context, i.e. the inputs x_{t-L+1..t} the model read when predicting x_{t+1};
//   wrep_<L>  fraction of positions whose top-1 prediction is wrong (!= target) and such a repeat;
//   uniq      number of distinct top-1 predictions;
//   accuracy  fraction of positions whose target logit equals the row's maximum;
//   entropy   mean entropy (nats) of softmax(logits).
// The context is only what the row holds: a position near the start of a row sees fewer than L
// tokens, since the text before the row's block is not in the batch. The authors' code
// (facebookresearch/unlikelihood_training, custom/metrics.py, repeat_at_1) has the same limit (it
// scores one 1024-token block at a time) and the same window: the previous L *targets*, which for
// a causal LM are the inputs x_{t-L+1..t}; it never counts the block's first input x_0, which is
// no target, where this plugin does. It normalises by the number of non-pad tokens over all
// batches, as here, but counts repeats at pad positions too, which this plugin skips.
// Its accuracy (hits_at_1: no logit above the target's) also counts ties as correct.
// With no predicted position the fractions and the mean are NaN: they are undefined, and 0 would
// read as a measurement.
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct NextTokenOptions {
  std::int64_t window = 128;
};

lmlab::OptionSet<NextTokenOptions> options() {
  return lmlab::OptionSet<NextTokenOptions>{}.add(
      "window", &NextTokenOptions::window,
      "how many previous context tokens (the current one included) rep_<L> and wrep_<L> look at", {.min = 1.0});
}

// Rows of the flattened (B*T, V) logits handled at once, so that the (rows, V) temporaries stay
// near 2^22 elements however large B*T*V is.
constexpr std::int64_t kChunkElements = std::int64_t{1} << 22;

// Per-position results of one chunk of rows.
struct RowResults {
  at::Tensor top1;     // (N) int64 the most likely id, the lowest among ties
  at::Tensor correct;  // (N) bool the target's logit is the row's maximum
  at::Tensor entropy;  // (N) float64 nats
};

RowResults score_rows(const at::Tensor& logits, const at::Tensor& targets) {
  // logits (N, V), targets (N) with ignored positions already replaced by a valid id.
  const std::int64_t vocab = logits.size(-1);
  const at::Tensor best = std::get<0>(logits.max(-1, /*keepdim=*/true));          // (N, 1)
  // Lowest id among the maxima, as the greedy plugin picks: argmax's tie order is the backend's.
  const at::Tensor ids = at::arange(vocab, logits.options().dtype(at::kLong));    // (V)
  const at::Tensor sentinel = at::full({}, vocab, ids.options());                 // ()
  const at::Tensor top1 = std::get<0>(at::where(logits == best, ids, sentinel).min(-1));  // (N)
  // A tied target counts as correct: otherwise accuracy would depend on which of the tied ids
  // the backend's argmax happened to return. Compared in the logits' own dtype, exactly.
  const at::Tensor target_logit = logits.gather(-1, targets.unsqueeze(-1));      // (N, 1)
  const at::Tensor correct = (target_logit == best).squeeze(-1);                  // (N)
  // A stable log_softmax in at least float32 (bf16/fp16 lose too much); p log p is taken as 0
  // where log p = -inf, so that -inf logits contribute nothing rather than 0 * -inf = NaN, while
  // NaN logits still give a NaN entropy rather than hiding.
  const at::Tensor logp = at::log_softmax(lmlab::at_least_float(logits), -1);     // (N, V)
  const at::Tensor p = logp.exp();                                                // (N, V)
  const at::Tensor impossible = logp == -std::numeric_limits<double>::infinity();  // (N, V)
  const at::Tensor plogp = at::where(impossible, at::zeros({}, p.options()), p * logp);  // (N, V)
  const at::Tensor entropy = plogp.sum(-1).neg().to(at::kDouble);                 // (N)
  return {top1, correct, entropy};
}

class NextToken final : public lmlab::Metric {
 public:
  explicit NextToken(std::int64_t window) : window_(window) {}

  std::vector<std::string> validation_values() const override {
    const std::string l = std::to_string(window_);
    return {"rep_" + l, "wrep_" + l, "uniq", "accuracy", "entropy"};
  }

  void reset() override {
    counts_ = {};
    seen_ = at::Tensor();
  }

  void observe(const lmlab::Predictions& batch) override {
    const at::Tensor& inputs = batch.inputs;    // (B, T)
    const at::Tensor& targets = batch.targets;  // (B, T)
    const at::Tensor& logits = batch.logits;    // (B, T, V)
    if (logits.dim() != 3 || inputs.sizes() != targets.sizes() || targets.sizes() != logits.sizes().slice(0, 2)) {
      throw std::invalid_argument("next_token: expected inputs (B, T), targets (B, T) and logits (B, T, V)");
    }
    const std::int64_t rows = logits.size(0), length = logits.size(1), vocab = logits.size(2);
    if (seen_.defined() && seen_.size(0) != vocab + 1) {
      throw std::invalid_argument("next_token: the vocabulary size changed between batches");
    }
    if (rows * length == 0) return;
    const at::Tensor counted = targets != lmlab::ignore_index;                   // (B, T)
    // gather needs a valid id everywhere; the ignored positions' results are masked out below.
    const at::Tensor safe_targets = at::where(counted, targets, at::zeros({}, targets.options()));  // (B, T)

    const at::Tensor flat_logits = logits.reshape({rows * length, vocab});        // (B*T, V)
    const at::Tensor flat_targets = safe_targets.reshape({rows * length});        // (B*T)
    const std::int64_t chunk = std::max<std::int64_t>(1, kChunkElements / std::max<std::int64_t>(vocab, 1));
    std::vector<at::Tensor> top1s, corrects, entropies;
    for (std::int64_t start = 0; start < rows * length; start += chunk) {
      const std::int64_t n = std::min(chunk, rows * length - start);
      RowResults r = score_rows(flat_logits.narrow(0, start, n), flat_targets.narrow(0, start, n));
      top1s.push_back(r.top1);
      corrects.push_back(r.correct);
      entropies.push_back(r.entropy);
    }
    const at::Tensor top1 = at::cat(top1s).view({rows, length});                  // (B, T)
    const at::Tensor correct = at::cat(corrects).view({rows, length});            // (B, T)
    const at::Tensor entropy = at::cat(entropies).view({rows, length});           // (B, T) float64

    // Windows of the previous L inputs x_{t-L+1..t} of each position, left-padded with -1 (no id)
    // where the row starts; a window longer than the row sees nothing more than the whole row.
    const std::int64_t l = std::min(window_, length);
    const at::Tensor padded = at::constant_pad_nd(inputs, {l - 1, 0}, -1);  // (B, T+L-1)
    const at::Tensor windows = padded.unfold(1, l, 1);                            // (B, T, L)
    const at::Tensor repeat = (windows == top1.unsqueeze(-1)).any(-1) & counted;  // (B, T)
    const at::Tensor wrong_repeat = repeat & (top1 != targets);                   // (B, T)

    // Every count of the batch in one small tensor, so that one copy moves them to the host.
    const at::Tensor sums = at::stack({counted.sum().to(at::kDouble), repeat.sum().to(at::kDouble),
                                       wrong_repeat.sum().to(at::kDouble),
                                       (correct & counted).sum().to(at::kDouble),
                                       at::where(counted, entropy, at::zeros({}, entropy.options())).sum()})
                                .to(at::kCPU);                                    // (5)
    const auto* s = sums.data_ptr<double>();
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += s[i];

    // Distinct predictions stay on the device as flags over the vocabulary; ignored positions
    // write to an extra last slot that is never counted.
    if (!seen_.defined()) seen_ = at::zeros({vocab + 1}, top1.options().dtype(at::kBool));  // (V+1)
    const at::Tensor slots = at::where(counted, top1, at::full({}, vocab, top1.options()));  // (B, T)
    seen_.index_fill_(0, slots.reshape({-1}), true);
  }

  std::vector<lmlab::MetricValue> predicted() override {
    const std::vector<std::string> names = validation_values();
    const double n = counts_[kPredicted];
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto fraction = [&](double count) { return n > 0 ? count / n : nan; };
    const double uniq = seen_.defined() ? seen_.narrow(0, 0, seen_.size(0) - 1).sum().item<double>() : 0.0;
    return {{names[0], fraction(counts_[kRepeat])},
            {names[1], fraction(counts_[kWrongRepeat])},
            {names[2], uniq},
            {names[3], fraction(counts_[kCorrect])},
            {names[4], fraction(counts_[kEntropy])}};
  }

 private:
  enum Count { kPredicted, kRepeat, kWrongRepeat, kCorrect, kEntropy };

  std::int64_t window_;
  std::array<double, 5> counts_{};  // the sums of Count over the batches since reset(); exact below 2^53
  at::Tensor seen_;                 // (V+1) bool, which ids were a top-1 prediction; undefined before any batch
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("next_token",
                       "teacher-forced rep_<L>, wrep_<L>, uniq (Welleck et al. 2020), accuracy and entropy",
                       options(), [](const NextTokenOptions& o, const lmlab::MetricContext&) {
                         return std::make_shared<NextToken>(o.window);
                       });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
