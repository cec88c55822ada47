// The self-reinforcement effect of Xu et al. 2022 ("Learning to Break the Loop: Analyzing and
// Mitigating Repetitions for Neural Text Generation", NeurIPS, section 2): the more often a
// sentence already stands in the context, the likelier the model is to repeat it once more.
// Measured teacher-forced, as the paper's code does (Jxu-Thu/DITTO,
// fairseq/custom/repetition_para_parse.py: a sentence repeated 100 times after a prefix): a span s of `length` tokens is repeated, x = s s … s
// (`repeats` copies), and the model reads x once. With P_n(l) the probability the model gives
// token l of copy n given everything before it,
//   sr_tp_<n> = mean over spans and l of P_n(l)                      (the paper's TP)
//   sr_ip_<n> = mean over spans and l of [P_n(l) > P_1(l)]           (the paper's IP), n >= 2
//   sr_tp_gain = sr_tp_<repeats> − sr_tp_1
// With length = 0 (the default) spans are as long as the context allows, up to 32 tokens.
// Position l = 0 of every copy is left out of every mean: the first copy's has nothing before it,
// and leaving it out everywhere keeps each copy's mean over the same positions. The paper takes
// real sentences (its Wikitext-103 dev set); a plugin sees token ids, not text, so the spans here
// are the first `length` tokens of the first `sentences` fixed validation windows: held-out text
// that starts anywhere in a sentence. The paper finds the effect for random-token sentences too,
// so it does not hinge on sentence boundaries. No prefix precedes the first copy: IP compares
// each copy with the first, which then reads only the span itself.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct SelfReinforcementOptions {
  std::int64_t sentences = 32;
  std::int64_t length = 0;
  std::int64_t repeats = 4;
};

lmlab::OptionSet<SelfReinforcementOptions> options() {
  using O = SelfReinforcementOptions;
  return lmlab::OptionSet<O>{}
      .add("sentences", &O::sentences, "spans of validation text, each repeated and read once", {.min = 1.0})
      .add("length", &O::length,
           "tokens per span; 0: the longest for which every copy fits the model's context, at most 32 (NaN below 2)",
           {.min = 0.0})
      .add("repeats", &O::repeats, "copies of each span in a row; length x repeats must fit the model's context",
           {.min = 2.0});
}

class SelfReinforcement final : public lmlab::Metric {
 public:
  explicit SelfReinforcement(const SelfReinforcementOptions& o) : o_(o) {
    if (o_.length == 1) {
      throw lmlab::ConfigError("metrics.self_reinforcement.length = 1 leaves no position to score (the first of each "
                               "copy is left out); accepted: 0 (as long as fits) or at least 2");
    }
    for (std::int64_t n = 1; n <= o_.repeats; ++n) names_.push_back(fmt::format("sr_tp_{}", n));
    for (std::int64_t n = 2; n <= o_.repeats; ++n) names_.push_back(fmt::format("sr_ip_{}", n));
    names_.push_back("sr_tp_gain");
  }

  std::vector<std::string> probe_values() const override { return names_; }

  std::vector<lmlab::MetricValue> probe(const lmlab::ModelProbe& model) override {
    const std::int64_t R = o_.repeats;
    const std::int64_t L =
        o_.length > 0 ? o_.length : std::min({std::int64_t{32}, model.context_length / R, model.text.size(1)});
    if (o_.length == 0 && L < 2) return {};  // a context too short to hold the copies: every value NaN
    if (L * R > model.context_length) {
      throw lmlab::ConfigError(fmt::format(
          "metrics.self_reinforcement: length x repeats = {} x {} = {} tokens, more than the model's context of {}; "
          "lower length or repeats, or raise data.block_size",
          L, R, L * R, model.context_length));
    }
    if (model.text.size(1) < L) {
      throw lmlab::ConfigError(fmt::format("metrics.self_reinforcement: length {} is longer than a validation window ({} tokens)",
                                           L, model.text.size(1)));
    }
    const std::int64_t B = std::min(o_.sentences, model.text.size(0));
    const at::Tensor spans = model.text.narrow(0, 0, B).narrow(1, 0, L);  // (B, L)
    const at::Tensor x = spans.repeat({1, R});                             // (B, R*L)
    const at::Tensor logits = model.next_token_logits(x);                                       // (B, R*L, V)
    const at::Tensor logp = at::log_softmax(logits.narrow(1, 0, R * L - 1).to(at::kFloat), -1);  // (B, R*L-1, V)
    // Row t predicts token t+1: the probability of x[:, t] comes from row t-1.
    const at::Tensor target = x.narrow(1, 1, R * L - 1).to(logp.device());                      // (B, R*L-1)
    const at::Tensor p = logp.gather(2, target.unsqueeze(2)).squeeze(2).to(at::kCPU).to(at::kDouble).exp();  // (B, R*L-1)
    // Copy n's positions l = 1..L-1 are columns n*L + l - 1 of p.
    std::vector<at::Tensor> copies;
    for (std::int64_t n = 0; n < R; ++n) copies.push_back(p.narrow(1, n * L, L - 1));  // each (B, L-1)

    std::vector<lmlab::MetricValue> out;
    for (std::int64_t n = 0; n < R; ++n) out.push_back({names_[n], copies[n].mean().item<double>()});
    for (std::int64_t n = 1; n < R; ++n) {
      out.push_back({fmt::format("sr_ip_{}", n + 1), (copies[n] > copies[0]).to(at::kDouble).mean().item<double>()});
    }
    out.push_back({"sr_tp_gain", out[R - 1].value - out[0].value});
    return out;
  }

 private:
  SelfReinforcementOptions o_;
  std::vector<std::string> names_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("self_reinforcement",
                       "probability of repeating a span vs copies already in context (Xu et al. 2022, TP and IP)",
                       options(), [](const SelfReinforcementOptions& o, const lmlab::MetricContext&) {
                         return std::make_shared<SelfReinforcement>(o);
                       });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
