// Beam search (Hugging Face transformers' BeamSearchScorer and BeamHypotheses, after fairseq's
// sequence generator; the length penalty as in Wu et al. 2016, "Google's Neural Machine
// Translation System", in HF's simpler form len^alpha): keep, for each prompt, the W partial
// sequences ("beams") with the largest sum of processed log-probabilities, extend each by every
// token, and keep the W best extensions again.
//
//   beam score        s(y_1..t) = sum_i log p'(y_i | prompt, y_<i)     p' = softmax(processed logits)
//   finished score    s(y) / |y|^alpha                                  |y| = generated tokens, eos included
//
// Why 2W candidates per step: at most one candidate per beam ends in eos, so among the 2W best
// at least W do not, and W live beams always remain. An eos candidate counts only when it ranks
// among the first W (HF's rule): one ranked lower has W better candidates of the same length,
// though those may later end below it, a loss the beam accepts as it accepts pruning.
// Why the beam scores start at [0, -inf, ...]: the W rows of a prompt are identical copies at
// first, and only one of them may propose candidates, or step 0 would pick W duplicates.
// Ties go to the lower flat index (beam * V + token, a stable sort), so width 1 picks what greedy
// picks (the lowest id among equal logits). log_softmax runs in float64 so that distinct float32
// logits never round to equal log-probabilities.
//
// When a prompt is done (its finished list, capped at W, is final), early_stopping decides:
//   first      done once W hypotheses have finished (HF early_stopping=True);
//   heuristic  also needs the best live beam's score if it stopped now, s / t^alpha, to be no
//              better than the worst finished one (HF early_stopping=False);
//   never      exact: s only decreases, so no live beam can end above s / max_len^alpha when
//              alpha > 0, or s / t^alpha when alpha <= 0 (HF early_stopping="never").
// A done prompt keeps W dummy rows (score -inf) so the batch stays rectangular; the loop stops
// when every prompt is done, and at max_new_tokens the live beams become hypotheses too.
// Each continuation also carries the untruncated log-probability and entropy of the model's own
// distribution (before the chain's processors) at every generated token.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/search.hpp"
#include "lmlab/stepper.hpp"

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

struct BeamSearchOptions {
  std::int64_t width = 4;
  double length_penalty = 1.0;
  std::string early_stopping = "heuristic";
  std::int64_t n_best = 1;
};

lmlab::OptionSet<BeamSearchOptions> options() {
  return lmlab::OptionSet<BeamSearchOptions>{}
      .add("width", &BeamSearchOptions::width, "W: how many partial sequences each prompt keeps", {.min = 1.0})
      .add("length_penalty", &BeamSearchOptions::length_penalty,
           "alpha: a finished sequence scores sum log p / len^alpha (> 0 favours longer ones, 0 = raw sum)")
      .add("early_stopping", &BeamSearchOptions::early_stopping,
           "when a prompt with W finished sequences stops: heuristic (its best live beam, as it stands, is no "
           "better), first (at once), never (no live beam can ever be better)",
           {"heuristic", "first", "never"})
      .add("n_best", &BeamSearchOptions::n_best,
           "how many finished sequences each prompt returns, best first (<= width)", {.min = 1.0});
}

/// The growing part of one row: what it generated and what the untruncated model said about it.
struct Beam {
  std::vector<std::int64_t> tokens;
  std::vector<double> entropy;
  double logprob = 0.0;

  Beam extended(std::int64_t token, double entropy_here, double logprob_here) const {
    Beam b = *this;
    b.tokens.push_back(token);
    b.entropy.push_back(entropy_here);
    b.logprob += logprob_here;
    return b;
  }
};

/// One prompt's finished sequences: the best `capacity` by score, in order of arrival on ties.
class Finished {
 public:
  explicit Finished(std::size_t capacity) : capacity_(capacity) {}

  void add(Beam beam, double sum, double alpha) {
    const double score = sum / std::pow(static_cast<double>(beam.tokens.size()), alpha);
    // HF's rule: a full list takes only a strictly better hypothesis, so earlier ones win ties.
    if (full() && !(score > worst())) return;
    lmlab::Continuation c{std::move(beam.tokens), std::move(beam.entropy), beam.logprob, score};
    // After every entry of at least its score: the list stays best first, earlier first on ties.
    const auto pos = std::find_if(list_.begin(), list_.end(),
                                  [&](const lmlab::Continuation& h) { return h.score < score; });
    list_.insert(pos, std::move(c));
    if (list_.size() > capacity_) list_.pop_back();
  }
  bool full() const { return list_.size() >= capacity_; }
  double worst() const { return list_.empty() ? -inf : list_.back().score; }
  std::vector<lmlab::Continuation> best(std::size_t n) const {
    return {list_.begin(), list_.begin() + static_cast<std::ptrdiff_t>(std::min(n, list_.size()))};
  }

 private:
  std::size_t capacity_;
  std::vector<lmlab::Continuation> list_;  // best first
};

class BeamSearch final : public lmlab::Cloneable<BeamSearch, lmlab::SearchStrategy> {
 public:
  explicit BeamSearch(BeamSearchOptions o) : o_(std::move(o)) {
    if (o_.n_best > o_.width) {
      throw lmlab::ConfigError(fmt::format("beam_search: n_best = {} exceeds width = {}; a prompt keeps at most "
                                           "width finished sequences",
                                           o_.n_best, o_.width));
    }
  }

  using Lists = std::vector<std::vector<lmlab::Continuation>>;

  Lists run(lmlab::SearchInput& in) override {
    lmlab::ModelStepper& stepper = in.model;
    const std::int64_t B = stepper.rows(), W = o_.width, R = B * W;
    const double alpha = o_.length_penalty;
    if (in.max_new_tokens <= 0) return Lists(static_cast<std::size_t>(B), {lmlab::Continuation{}});
    const at::TensorOptions longs = at::TensorOptions().dtype(at::kLong).device(stepper.device());

    // The prompts are run once, then each row is copied into its W beams, cache included.
    lmlab::StepOutput out = stepper.forward();
    const at::Tensor expand = at::arange(B, longs).repeat_interleave(W);  // (R)
    stepper.select(expand);                                                 // (R, L) history, cache alike
    at::Tensor logits = out.logits.index_select(0, expand);        // (R, V) a copy
    at::Tensor log_probs = out.log_probs.index_select(0, expand);  // (R, V) untruncated
    at::Tensor entropy = out.entropy.index_select(0, expand);      // (R)
    const std::int64_t V = logits.size(1);

    std::vector<double> scores(static_cast<std::size_t>(R), -inf);  // beam sums; -inf: a dummy row
    for (std::int64_t b = 0; b < B; ++b) scores[static_cast<std::size_t>(b * W)] = 0.0;
    std::vector<Beam> beams(static_cast<std::size_t>(R));
    std::vector<Finished> finished(static_cast<std::size_t>(B), Finished(static_cast<std::size_t>(W)));
    std::vector<bool> done(static_cast<std::size_t>(B), false);
    const std::int64_t K = std::min(2 * W, W * V);  // candidates examined per prompt

    for (std::int64_t t = 0;; ++t) {
      lmlab::DecodeState state;
      state.logits = logits.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);  // (R, V)
      state.history = stepper.history();                                          // (R, L)
      state.history_mask = stepper.history_mask();                                // (R, L)
      state.prompt_length = stepper.prompt_length();
      in.process(state);
      const at::Tensor logp = at::log_softmax(state.logits.to(at::kDouble), -1);             // (R, V) processed
      const at::Tensor sums = at::tensor(scores, at::kDouble).to(logp.device()).view({R, 1});  // (R, 1)
      at::Tensor candidates = (logp + sums).view({B, W * V});                                // (B, W*V)
      // A row the processors banned entirely has NaN log-probabilities: it has no candidate.
      candidates = at::where(at::isnan(candidates), at::full({}, -inf, candidates.options()), candidates);  // (B, W*V)
      auto [sorted, order] = at::sort(candidates, /*stable=*/true, -1, /*descending=*/true);  // (B, W*V)
      const at::Tensor top = sorted.narrow(1, 0, K);                                          // (B, K) beam + logp
      const at::Tensor flat = order.narrow(1, 0, K);                                          // (B, K) beam * V + token
      const at::Tensor source = at::div(flat, V, "floor") + at::arange(B, longs).unsqueeze(1) * W;  // (B, K) row
      const at::Tensor token = flat.remainder(V);                                              // (B, K)
      const at::Tensor picked = (source * V + token).view(-1);                           // (B*K) into (R*V)
      const at::Tensor raw = log_probs.reshape(-1).index_select(0, picked).view({B, K});  // (B, K) untruncated

      const at::Tensor top_cpu = top.cpu();                           // (B, K)
      const at::Tensor source_cpu = source.cpu();                     // (B, K)
      const at::Tensor token_cpu = token.cpu();                       // (B, K)
      const at::Tensor raw_cpu = raw.to(at::kDouble).cpu();           // (B, K)
      const at::Tensor entropy_cpu = entropy.to(at::kDouble).cpu();   // (R)
      const auto top_a = top_cpu.accessor<double, 2>();
      const auto source_a = source_cpu.accessor<std::int64_t, 2>();
      const auto token_a = token_cpu.accessor<std::int64_t, 2>();
      const auto raw_a = raw_cpu.accessor<double, 2>();
      const auto entropy_a = entropy_cpu.accessor<double, 1>();

      std::vector<std::int64_t> next_source(static_cast<std::size_t>(R)), next_token(static_cast<std::size_t>(R), 0);
      std::vector<double> next_scores(static_cast<std::size_t>(R), -inf);
      std::vector<Beam> next_beams(static_cast<std::size_t>(R));
      const std::int64_t length = t + 1;  // generated tokens after this step
      for (std::int64_t b = 0; b < B; ++b) {
        const auto ub = static_cast<std::size_t>(b);
        // Dummy rows (a done prompt's, or slots no finite candidate filled) keep their own row.
        for (std::int64_t k = 0; k < W; ++k) next_source[static_cast<std::size_t>(b * W + k)] = b * W + k;
        if (done[ub]) continue;
        std::int64_t filled = 0;
        for (std::int64_t j = 0; j < K && filled < W; ++j) {
          const double value = top_a[b][j];
          if (value == -inf) break;  // sorted: nothing finite follows
          const std::int64_t row = source_a[b][j], id = token_a[b][j];
          const auto ur = static_cast<std::size_t>(row);
          if (in.eos_id >= 0 && id == in.eos_id) {
            if (j < W) finished[ub].add(beams[ur].extended(id, entropy_a[row], raw_a[b][j]), value, alpha);
            continue;
          }
          const auto slot = static_cast<std::size_t>(b * W + filled++);
          next_source[slot] = row;
          next_token[slot] = id;
          next_scores[slot] = value;
          next_beams[slot] = beams[ur].extended(id, entropy_a[row], raw_a[b][j]);
        }
        const double best_live = next_scores[static_cast<std::size_t>(b * W)];  // the walk fills best first
        if (best_live == -inf) {
          done[ub] = true;  // nothing left to extend
        } else if (finished[ub].full()) {
          const double bound_length = o_.early_stopping == "never" && alpha > 0 ? static_cast<double>(in.max_new_tokens)
                                                                                : static_cast<double>(length);
          done[ub] = o_.early_stopping == "first" || finished[ub].worst() >= best_live / std::pow(bound_length, alpha);
        }
      }
      scores = std::move(next_scores);
      beams = std::move(next_beams);

      if (length == in.max_new_tokens) {
        for (std::int64_t b = 0; b < B; ++b) {
          if (done[static_cast<std::size_t>(b)]) continue;
          for (std::int64_t k = 0; k < W; ++k) {
            const auto slot = static_cast<std::size_t>(b * W + k);
            if (scores[slot] == -inf) continue;
            finished[static_cast<std::size_t>(b)].add(std::move(beams[slot]), scores[slot], alpha);
          }
        }
        break;
      }
      if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;

      stepper.select(at::tensor(next_source, at::kLong).to(stepper.device()));  // (R) reorders history and cache
      stepper.append(at::tensor(next_token, at::kLong).to(stepper.device()));   // (R)
      out = stepper.forward();
      logits = out.logits;        // (R, V)
      log_probs = out.log_probs;  // (R, V)
      entropy = out.entropy;      // (R)
    }

    Lists results(static_cast<std::size_t>(B));
    for (std::int64_t b = 0; b < B; ++b) {
      auto& r = results[static_cast<std::size_t>(b)];
      r = finished[static_cast<std::size_t>(b)].best(static_cast<std::size_t>(o_.n_best));
      // Only when the processors banned every token from the start: an empty, impossible result.
      if (r.empty()) r.push_back(lmlab::Continuation{{}, {}, -inf, -inf});
    }
    return results;
  }

 private:
  BeamSearchOptions o_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("beam_search",
                             "beam search: the width best partial sequences by log-probability, a length-penalised "
                             "n-best list of finished ones",
                             options(), [](const BeamSearchOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<BeamSearch>(o);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
