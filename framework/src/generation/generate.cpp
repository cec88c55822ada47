#include "lmlab/generate.hpp"

#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <c10/core/InferenceMode.h>

#include "nn/rounded_weights.hpp"
#include "lmlab/stepper.hpp"
#include "nn/eval_mode.hpp"

namespace lmlab {

namespace {

/// Sebastiano Vigna's splitmix64 finaliser: neighbouring inputs (indices 0, 1, 2...) give
/// unrelated outputs, so neighbouring sequences get unrelated generator streams.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// A chain whose last step selects: one token per row per step, from the chain's warped logits.
std::vector<std::vector<Continuation>> select_tokens(ModelStepper& stepper, DecodingStep& chain,
                                                     std::vector<at::Generator>& rngs, const GenerateOptions& options) {
  const std::int64_t batch = stepper.rows();
  std::vector<Continuation> out(static_cast<std::size_t>(batch));
  std::vector<bool> finished(out.size(), false);
  std::int64_t running = batch;
  for (std::int64_t step = 0; step < options.max_new_tokens && running > 0; ++step) {
    const StepOutput next = stepper.forward();
    DecodeState state;
    state.logits = next.logits;  // (B, V) a copy, the chain's to change
    state.history = stepper.history();
    state.history_mask = stepper.history_mask();
    state.prompt_length = stepper.prompt_length();
    state.rngs = &rngs;
    chain.apply(state);
    if (!state.chosen.defined() || state.chosen.numel() != batch) {
      throw std::logic_error(fmt::format("generate: decoding chain '{}' did not choose one token per sequence",
                                         chain.name()));
    }
    const at::Tensor chosen = state.chosen.reshape({batch}).to(stepper.device(), at::kLong);  // (B)
    // One transfer to the host per step: the ids, their untruncated log-probabilities and the
    // entropies, side by side.
    const at::Tensor logp = next.log_probs.gather(1, chosen.unsqueeze(1)).squeeze(1);                  // (B)
    const at::Tensor host = at::stack({chosen.to(at::kDouble), logp.to(at::kDouble), next.entropy.to(at::kDouble)}, 1).cpu();  // (B, 3)
    stepper.append(chosen);
    const auto rows = host.accessor<double, 2>();
    for (std::int64_t i = 0; i < batch; ++i) {
      // Finished sequences stay in the batch (a rectangular history is simpler and keeps each
      // row's computation the same), but what they emit is dropped.
      auto& c = out[static_cast<std::size_t>(i)];
      if (finished[static_cast<std::size_t>(i)]) continue;
      const auto id = static_cast<std::int64_t>(rows[i][0]);
      c.tokens.push_back(id);
      c.logprob += rows[i][1];
      c.entropy.push_back(rows[i][2]);
      if (id == options.eos_id) {
        finished[static_cast<std::size_t>(i)] = true;
        --running;
      }
    }
    if (options.progress) options.progress(step + 1, options.max_new_tokens);
  }
  std::vector<std::vector<Continuation>> lists;
  lists.reserve(out.size());
  for (auto& c : out) {
    c.score = c.logprob;
    lists.push_back({std::move(c)});
  }
  return lists;
}

}  // namespace

at::Generator sequence_generator(std::uint64_t seed, std::int64_t index) {
  return at::make_generator<at::CPUGeneratorImpl>(splitmix64(splitmix64(seed) ^ static_cast<std::uint64_t>(index)));
}

std::vector<std::vector<Continuation>> decode(Architecture& model, DecodingStep& chain,
                                              const std::vector<std::vector<std::int64_t>>& prompts,
                                              const GenerateOptions& options, const c10::Device& device) {
  if (options.max_new_tokens < 0) {
    throw std::invalid_argument(fmt::format("generate: max_new_tokens must be >= 0, got {}", options.max_new_tokens));
  }
  if (prompts.empty()) return {};
  SearchStrategy* search = chain.search();
  StepperOptions stepper_options;
  stepper_options.pad_id = options.pad_id;
  stepper_options.decoder_start_id = options.decoder_start_id;
  stepper_options.use_cache = options.use_cache;
  stepper_options.hidden = search != nullptr && search->needs_hidden();
  stepper_options.adapt_threads = true;
  ModelStepper stepper(model, prompts, stepper_options, device);

  chain.reset();
  // Inference mode rather than no-grad: tensors made here never meet autograd, so each op skips
  // autograd's dispatch and view tracking, which is most of a small model's per-token cost.
  c10::InferenceMode inference;
  nn::RoundedWeightScope rounded_weights;  // bf16 on float32 kernels: each weight rounded once, not per token
  EvalModeScope eval_mode(model);
  // Created once per call: each sequence's stream advances only with its own draws, so what it
  // samples does not depend on which other sequences share its batch.
  std::vector<at::Generator> rngs;
  rngs.reserve(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    rngs.push_back(sequence_generator(options.seed, options.first_index + static_cast<std::int64_t>(i)));
  }
  if (!search) {
    if (options.max_new_tokens == 0) return std::vector<std::vector<Continuation>>(prompts.size(), {Continuation{}});
    return select_tokens(stepper, chain, rngs, options);
  }
  auto* as_chain = dynamic_cast<DecodingChain*>(&chain);
  SearchInput input{stepper, [as_chain](DecodeState& state) {
                      if (as_chain) as_chain->process(state);
                    },
                    options.max_new_tokens, options.eos_id, &rngs};
  auto lists = search->run(input);
  if (lists.size() != prompts.size()) {
    throw std::logic_error(fmt::format("generate: search '{}' returned {} lists for {} prompts", chain.name(),
                                       lists.size(), prompts.size()));
  }
  for (std::size_t i = 0; i < lists.size(); ++i) {
    if (lists[i].empty()) {
      throw std::logic_error(fmt::format("generate: search '{}' returned no continuation for prompt {}",
                                         chain.name(), i));
    }
  }
  return lists;
}

std::vector<std::vector<std::int64_t>> generate(Architecture& model, DecodingStep& chain,
                                                const std::vector<std::vector<std::int64_t>>& prompts,
                                                const GenerateOptions& options, const c10::Device& device) {
  std::vector<std::vector<std::int64_t>> out;
  for (auto& list : decode(model, chain, prompts, options, device)) out.push_back(std::move(list.front().tokens));
  return out;
}

}  // namespace lmlab
