// Contrastive search (Su et al. 2022, "A Contrastive Framework for Neural Text Generation",
// NeurIPS, eq. 5): at each step take the k most probable next tokens V(k) under the model's
// distribution p (after the chain's earlier steps), and choose
//   x_t = argmax_{v in V(k)}  (1 - alpha) * p(v | x_<t)  -  alpha * max_{j < t} cos(h_v, h_{x_j})
// where h_v is the final hidden state of the context followed by v, and h_{x_j} those of every
// real (non-padding) position of the context so far, prompt and generated. The first term is
// the model's confidence, the second the degeneration penalty: a candidate whose representation
// repeats one already in the context is pushed down, which breaks greedy decoding's loops
// without sampling's incoherence. alpha = 0 (or k = 1) is greedy decoding, ties included:
// candidates are ranked by a stable descending sort (equal logits: the lowest id first) and
// equal scores go to the better-ranked candidate, as the `greedy` selector breaks ties.
//
// Cost: one forward of R * k one-token rows per step. That forward gives the candidates' hidden
// states and, for the chosen one, the next step's logits, so no forward is wasted; the
// stepper's rows are expanded k-fold before it and reduced to the chosen rows after it, which
// reorders the key/value cache too.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/search.hpp"
#include "lmlab/stepper.hpp"

namespace {

struct ContrastiveOptions {
  std::int64_t k = 4;
  double alpha = 0.6;
};

lmlab::OptionSet<ContrastiveOptions> options() {
  return lmlab::OptionSet<ContrastiveOptions>{}
      .add("k", &ContrastiveOptions::k, "candidates scored per step: the k most probable next tokens", {.min = 1.0})
      .add("alpha", &ContrastiveOptions::alpha,
           "weight of the degeneration penalty, the largest cosine similarity to the context (0: greedy)",
           {.min = 0.0, .max = 1.0});
}

/// Each row's untruncated next-token distribution: what the chosen token is recorded with.
struct Distribution {
  at::Tensor logits;     // (R, V) float32
  at::Tensor log_probs;  // (R, V) float32
  at::Tensor entropy;    // (R) float32
};

/// Unit vectors along the last dimension, in float32 (hidden states may come in bf16). A zero
/// vector stays zero instead of becoming NaN, so its similarity to anything is 0.
at::Tensor unit(const at::Tensor& h) {
  const at::Tensor x = h.to(at::kFloat);                                       // (..., C)
  return x / x.norm(2, {-1}, /*keepdim=*/true).clamp_min(1e-12);                 // (..., C)
}

class ContrastiveSearch final : public lmlab::Cloneable<ContrastiveSearch, lmlab::SearchStrategy> {
 public:
  ContrastiveSearch(std::int64_t k, double alpha) : k_(k), alpha_(alpha) {}

  bool needs_hidden() const override { return true; }

  std::vector<std::vector<lmlab::Continuation>> run(lmlab::SearchInput& input) override {
    std::vector<lmlab::Continuation> out(static_cast<std::size_t>(input.model.rows()));
    if (input.max_new_tokens > 0 && !out.empty()) search(input, out);
    std::vector<std::vector<lmlab::Continuation>> lists;
    lists.reserve(out.size());
    for (auto& c : out) {
      c.score = c.logprob;
      lists.push_back({std::move(c)});
    }
    return lists;
  }

 private:
  void search(lmlab::SearchInput& input, std::vector<lmlab::Continuation>& out) const {
    lmlab::ModelStepper& stepper = input.model;
    const std::int64_t R = stepper.rows();
    const double inf = std::numeric_limits<double>::infinity();
    const at::TensorOptions ids = at::TensorOptions().dtype(at::kLong).device(stepper.device());

    // The prompts: their hidden states start the context. The forward fed the last t columns of
    // the history (the whole padded prompt, or the window of a long one), so those columns'
    // mask tells which are real. An encoder-decoder's decoder was fed its start token alone
    // (t = 1), a real position like the history's last column (prompts are left-padded).
    lmlab::StepOutput first = stepper.forward();
    const std::int64_t fed = first.hidden.size(1), columns = stepper.history().size(1);
    at::Tensor context = unit(first.hidden);  // (R, t, C)
    at::Tensor context_mask = fed <= columns ? stepper.history_mask().narrow(1, columns - fed, fed)      // (R, t)
                                             : at::ones({R, fed}, stepper.history_mask().options());  // (R, t)
    Distribution next{first.logits, first.log_probs, first.entropy};

    std::vector<bool> finished(out.size(), false);
    std::int64_t running = R;
    for (std::int64_t step = 0; step < input.max_new_tokens && running > 0; ++step) {
      // The chain's earlier steps (penalties, warpers) shape p; the recorded log-probability and
      // entropy stay those of the model's own distribution, as with a selector.
      lmlab::DecodeState state;
      state.logits = next.logits.clone();  // (R, V) the chain's to change
      state.history = stepper.history();
      state.history_mask = stepper.history_mask();
      state.prompt_length = stepper.prompt_length();
      state.rngs = input.rngs;
      input.process(state);
      const at::Tensor& processed = state.logits;  // (R, V)
      const std::int64_t k = std::min(k_, processed.size(-1));

      // Stable and descending: equal logits rank the lowest id first, as greedy breaks ties.
      const at::Tensor order = std::get<1>(at::sort(processed, /*stable=*/true, -1, /*descending=*/true))
                                   .narrow(-1, 0, k);                               // (R, k) candidate ids
      const at::Tensor top_logits = processed.gather(1, order);                    // (R, k)
      const at::Tensor top_probs = at::softmax(processed, -1).gather(1, order);    // (R, k)

      // Row r's candidates become rows r*k .. r*k + k - 1, each one token further.
      stepper.select(at::arange(R, ids).repeat_interleave(k));  // (R*k) rows: r, r, ..., r + 1, ...
      stepper.append(order.reshape({R * k}));                   // (R*k)
      const lmlab::StepOutput tried = stepper.forward();
      // The newest position is the candidate's (after a window refill too: t > fresh = 1).
      const at::Tensor h = unit(tried.hidden.select(1, -1)).view({R, k, -1});  // (R, k, C)

      const at::Tensor similarity = at::bmm(h, context.transpose(1, 2));                        // (R, k, L)
      const at::Tensor padding = context_mask.logical_not().unsqueeze(1);                       // (R, 1, L)
      // Every row has a real position (a prompt is never empty), so the max is finite.
      const at::Tensor penalty = std::get<0>(similarity.masked_fill(padding, -inf).max(-1));    // (R, k)
      at::Tensor score = top_probs * (1.0 - alpha_) - penalty * alpha_;                       // (R, k)
      // A token the chain banned (-inf) is not a candidate, whatever its penalty; rank 0 is
      // never banned unless every token is, so a row always has a choice.
      score = score.masked_fill(at::isinf(top_logits), -inf);  // (R, k)

      // The argmax, ties to the lower rank (the more probable candidate), never the backend's order.
      const at::Tensor best_score = std::get<0>(score.max(-1, /*keepdim=*/true));        // (R, 1)
      const at::Tensor ranks = at::arange(k, ids);                                        // (k)
      const at::Tensor best = at::where(score == best_score, ranks, at::full({}, k, ids)).amin(-1);  // (R)
      const at::Tensor chosen = order.gather(1, best.unsqueeze(1)).squeeze(1);            // (R)
      const at::Tensor rows = at::arange(R, ids) * k + best;                              // (R)

      // The cache and history keep the chosen candidate's row; its forward's logits are the next step's.
      stepper.select(rows);
      context = at::cat({context, h.view({R * k, -1}).index_select(0, rows).unsqueeze(1)}, 1);      // (R, L + 1, C)
      context_mask = at::cat({context_mask, at::ones({R, 1}, context_mask.options())}, 1);          // (R, L + 1)

      // One transfer to the host per step: ids, untruncated log-probabilities, entropies.
      const at::Tensor logp = next.log_probs.gather(1, chosen.unsqueeze(1)).squeeze(1);  // (R)
      const at::Tensor host = at::stack({chosen.to(at::kDouble), logp.to(at::kDouble), next.entropy.to(at::kDouble)}, 1)
                                  .cpu();  // (R, 3)
      const auto values = host.accessor<double, 2>();
      for (std::int64_t i = 0; i < R; ++i) {
        // A finished row stays in the batch (rectangular history and cache), its tokens dropped.
        const auto row = static_cast<std::size_t>(i);
        if (finished[row]) continue;
        const auto id = static_cast<std::int64_t>(values[i][0]);
        out[row].tokens.push_back(id);
        out[row].logprob += values[i][1];
        out[row].entropy.push_back(values[i][2]);
        if (id == input.eos_id) {
          finished[row] = true;
          --running;
        }
      }
      next = Distribution{tried.logits.index_select(0, rows),      // (R, V)
                          tried.log_probs.index_select(0, rows),   // (R, V)
                          tried.entropy.index_select(0, rows)};    // (R)
    }
  }

  std::int64_t k_;
  double alpha_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>(
      "contrastive_search",
      "contrastive search (Su et al. 2022): of the k most probable tokens, the best (1 - alpha) p - alpha * max "
      "cosine similarity of its hidden state to the context's",
      options(), [](const ContrastiveOptions& o, const lmlab::DecodingContext&) {
        return std::make_shared<ContrastiveSearch>(o.k, o.alpha);
      });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
