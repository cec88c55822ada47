// Sequence-level unlikelihood training (Welleck et al., ICLR 2020, section 5). Token-level
// objectives only ever see the data's prefixes, yet repetition is a property of what the model
// generates itself. So, on a fraction `rate` of the training steps, the model continues prefixes
// of the batch greedily, and the tokens of its continuation that complete an n-gram it already
// produced are the negative candidates:
//   C_t = {y_t} if y_t lies in an n-gram of y that also starts earlier in y, else {},
//   L_seq = alpha * sum_t sum_{c in C_t} -log(1 - p(c | x_prefix, y_<t)) / (B * cont_len).
// The other steps, and every evaluation, are plain next-token likelihood, so that validation
// perplexity stays the MLE one. The paper fine-tunes a likelihood-trained model this way
// (`[train] init_from`), with rate 0.5 and greedy continuations of 100 tokens after 50.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/next_token_loss.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/repetition.hpp"

namespace {

constexpr std::string_view kName = "unlikelihood_sequence";  // as errors name the objective

struct UnlikelihoodSequenceOptions {
  double rate = 0.5;
  std::int64_t prefix_len = 50;
  std::int64_t cont_len = 100;
  std::int64_t ngram = 4;
  double alpha = 1.0;
  double min_complement = 1e-5;
};

lmlab::OptionSet<UnlikelihoodSequenceOptions> options() {
  using O = UnlikelihoodSequenceOptions;
  return lmlab::OptionSet<O>{}
      .add("rate", &O::rate,
           "probability that a training step is sequence-level (the others, and evaluation, are next-token "
           "likelihood)",
           {.min = 0.0, .max = 1.0})
      .add("prefix_len", &O::prefix_len, "tokens of the block the model continues from on a sequence-level step",
           {.min = 1.0})
      .add("cont_len", &O::cont_len, "tokens the model generates greedily after each prefix", {.min = 1.0})
      .add("ngram", &O::ngram, "n of the repeated n-grams whose tokens are penalised", {.min = 1.0})
      .add("alpha", &O::alpha, "weight of the sequence-level unlikelihood term", {.min = 0.0})
      .add("min_complement", &O::min_complement,
           "1 - p(y_t) is clamped to at least this before its log, so a repeat the model is sure of costs at most "
           "-log(min_complement)",
           {.min = 0.0, .max = 1.0, .exclusive_min = true, .exclusive_max = true});
}

// Greedy selection, ties towards the lowest id as the `greedy` plugin breaks them. Kept here
// rather than loaded: an objective cannot build another plugin, and the paper's candidates
// come from greedy continuations whatever the experiment samples with at evaluation.
class Argmax final : public lmlab::DecodingStep {
 public:
  std::string name() const override { return "argmax"; }
  bool selects() const override { return true; }
  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;                                       // (B, V)
    const std::int64_t vocab = logits.size(-1);
    const at::Tensor best = std::get<0>(logits.max(-1, /*keepdim=*/true));         // (B, 1)
    const at::Tensor ids = at::arange(vocab, logits.options().dtype(at::kLong));   // (V)
    const at::Tensor none = at::full({}, vocab, ids.options());                    // ()
    state.chosen = std::get<0>(at::where(logits == best, ids, none).min(-1));      // (B)
  }
  std::shared_ptr<lmlab::DecodingStep> clone() const override { return std::make_shared<Argmax>(*this); }
};

class UnlikelihoodSequence final : public lmlab::Objective {
 public:
  UnlikelihoodSequence(const UnlikelihoodSequenceOptions& o, std::int64_t vocab_size) : o_(o), vocab_size_(vocab_size) {}

  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    lmlab::check_next_token_block(block, kName);
    // Evaluation never takes sequence-level steps: its perplexity is the likelihood one, and
    // drawing there would shift the random stream training continues with.
    if (model.is_training() && o_.rate > 0.0) {
      // Checked on every training step, not only the sequence-level ones, so that a misfit
      // stops the first step rather than whichever step first draws a sequence-level one.
      check_fits(model, block);
      // Drawn only when the outcome is uncertain: rate 0 then consumes the default generator
      // (dropout's too) exactly as causal_lm does, and rate 1 needs no draw.
      const bool sequence_step = o_.rate >= 1.0 || at::rand({}, at::kDouble).item<double>() < o_.rate;
      if (sequence_step) return sequence_level(model, block);
    }
    return token_level(model, block);
  }

  std::vector<std::string> components() const override { return {"mle", "ul_seq"}; }

 private:
  void check_fits(const lmlab::Architecture& model, const at::Tensor& block) const {
    if (block.size(1) < o_.prefix_len) {
      throw std::invalid_argument(fmt::format(
          "unlikelihood_sequence: prefix_len = {} is longer than the block of {} tokens (shape {}); lower "
          "objective.prefix_len or raise data.block_size",
          o_.prefix_len, block.size(1), fmt::join(block.sizes(), "x")));
    }
    const std::int64_t context = model.context_length();
    if (o_.prefix_len + o_.cont_len > context) {
      throw std::invalid_argument(fmt::format(
          "unlikelihood_sequence: prefix_len + cont_len = {} + {} = {} exceeds the model's context length {}",
          o_.prefix_len, o_.cont_len, o_.prefix_len + o_.cont_len, context));
    }
  }

  // Next-token likelihood, as causal_lm, reported as the `mle` component too.
  lmlab::LossOutput token_level(lmlab::Architecture& model, const at::Tensor& block) const {
    lmlab::LossOutput out = lmlab::next_token_loss(model, block, vocab_size_, kName);
    out.components = {{"mle", out.nll_sum / static_cast<double>(out.tokens)}};  // () nll_sum is detached
    return out;
  }

  // The model's greedy continuations of `prefix`, without gradient: the candidates are what it
  // generates, not something to differentiate through. generate() runs the model in eval mode
  // (no dropout, as at decoding time) with a key/value cache and restores training mode after.
  at::Tensor greedy_continuations(lmlab::Architecture& model, const at::Tensor& prefix) {
    const at::Tensor host = prefix.to(at::kCPU, at::kLong).contiguous();  // (B, P)
    const std::int64_t B = host.size(0), P = host.size(1);
    std::vector<std::vector<std::int64_t>> prompts(static_cast<std::size_t>(B));
    const std::int64_t* ids = host.data_ptr<std::int64_t>();
    for (std::int64_t b = 0; b < B; ++b) prompts[static_cast<std::size_t>(b)].assign(ids + b * P, ids + (b + 1) * P);
    lmlab::GenerateOptions g;
    g.max_new_tokens = o_.cont_len;  // eos_id stays -1: every row runs the full cont_len
    const auto continuations = lmlab::generate(model, argmax_, prompts, g, prefix.device());
    std::vector<std::int64_t> flat;
    flat.reserve(static_cast<std::size_t>(B * o_.cont_len));
    for (const auto& c : continuations) flat.insert(flat.end(), c.begin(), c.end());
    return at::tensor(flat, at::kLong).view({B, o_.cont_len}).to(prefix.device());  // (B, N)
  }

  lmlab::LossOutput sequence_level(lmlab::Architecture& model, const at::Tensor& block) {
    const std::int64_t B = block.size(0), P = o_.prefix_len, N = o_.cont_len;
    const at::Tensor prefix = block.narrow(1, 0, P);                   // (B, P)
    const at::Tensor continuation = greedy_continuations(model, prefix);  // (B, N)
    const at::Tensor sequence = at::cat({prefix, continuation}, 1);    // (B, P+N)
    // One forward with gradient over what was generated: the logits at P-1 .. P+N-2 predict the
    // continuation, those before predict the prefix's own tokens.
    const at::Tensor input = sequence.narrow(1, 0, P + N - 1);         // (B, P+N-1)
    const at::Tensor logits = lmlab::next_token_logits(model.forward(lmlab::ModelInput{input}).logits, vocab_size_,
                                                       kName);  // (B, P+N-1, V)
    const at::Tensor log_probs = at::log_softmax(logits, -1);          // (B, P+N-1, V)
    const at::Tensor cont_log_probs = log_probs.narrow(1, P - 1, N);   // (B, N, V)
    const at::Tensor log_p = cont_log_probs.gather(2, continuation.unsqueeze(2)).squeeze(2);  // (B, N)
    const at::Tensor mask = lmlab::ngram_repeat_mask(continuation, o_.ngram);               // (B, N)
    const at::Tensor complement = (1.0 - log_p.exp()).clamp_min(o_.min_complement);         // (B, N)
    const at::Tensor ul_sum = -(at::log(complement) * mask).sum();                          // ()
    const double n = static_cast<double>(B * N);

    lmlab::LossOutput out;
    out.loss = o_.alpha * ul_sum / n;  // ()
    // What the trainer logs as likelihood must not be the model's likelihood of its own greedy
    // text, which is high by construction. The trainer reads only `tokens` (the train/tokens
    // count and throughput) and evaluation never takes this path, but any consumer of nll_sum /
    // tokens should see a data perplexity: so they describe the prefix, real data, predicted
    // by the same forward at no extra cost (tokens 1 .. P-1 of each row; none when P = 1).
    const at::Tensor prefix_log_probs = log_probs.narrow(1, 0, P - 1);  // (B, P-1, V)
    const at::Tensor prefix_target = prefix.narrow(1, 1, P - 1);        // (B, P-1)
    out.tokens = prefix_target.numel();
    out.nll_sum = P > 1 ? at::nll_loss(prefix_log_probs.reshape({-1, vocab_size_}).detach(),
                                       prefix_target.reshape({-1}), {}, at::Reduction::Sum)
                        : at::zeros({}, log_probs.options());  // ()
    out.correct = prefix_log_probs.detach().argmax(-1).eq(prefix_target).sum();  // ()
    // Regularisers read the positions this step trains: the continuation, each predicting the
    // token the model generated there.
    out.logits = logits.narrow(1, P - 1, N);  // (B, N, V)
    out.targets = continuation;               // (B, N)
    out.components = {{"ul_seq", ul_sum.detach() / n}};  // () unweighted, comparable across alpha
    return out;
  }

  UnlikelihoodSequenceOptions o_;
  std::int64_t vocab_size_;
  Argmax argmax_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Objective>(
      "unlikelihood_sequence",
      "sequence-level unlikelihood (Welleck et al. 2020): on a fraction `rate` of training steps, alpha times "
      "-log(1 - p) of the tokens of repeated n-grams in the model's own greedy continuations; likelihood otherwise",
      options(),
      [](const UnlikelihoodSequenceOptions& o, const lmlab::ObjectiveContext& context) {
        if (context.vocab_size <= 0) throw std::invalid_argument("unlikelihood_sequence needs the vocabulary size");
        return std::make_shared<UnlikelihoodSequence>(o, context.vocab_size);
      },
      // Next-token prediction over one stream, as causal_lm, and the model must continue its
      // prefixes itself: a causal single stack that generates.
      {.needs = {.generates = true, .has_encoder = false, .prefix = false}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
