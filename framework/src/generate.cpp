#include "lmlab/generate.hpp"

#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "lmlab/eval_mode.hpp"

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

}  // namespace

at::Generator sequence_generator(std::uint64_t seed, std::int64_t index) {
  return at::make_generator<at::CPUGeneratorImpl>(splitmix64(splitmix64(seed) ^ static_cast<std::uint64_t>(index)));
}

std::vector<std::vector<std::int64_t>> generate(Architecture& model, DecodingStep& chain,
                                                const std::vector<std::vector<std::int64_t>>& prompts,
                                                const GenerateOptions& options, const c10::Device& device) {
  if (options.max_new_tokens < 0) {
    throw std::invalid_argument(fmt::format("generate: max_new_tokens must be >= 0, got {}", options.max_new_tokens));
  }
  std::vector<std::vector<std::int64_t>> out(prompts.size());
  if (prompts.empty()) return out;
  const auto batch = static_cast<std::int64_t>(prompts.size());
  const auto prompt_length = static_cast<std::int64_t>(prompts.front().size());
  if (prompt_length == 0) throw std::invalid_argument("generate: prompts must hold at least one token");
  std::vector<std::int64_t> flat;
  flat.reserve(static_cast<std::size_t>(batch * prompt_length));
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (static_cast<std::int64_t>(prompts[i].size()) != prompt_length) {
      throw std::invalid_argument(fmt::format("generate: prompts must have equal lengths: prompt 0 has {} tokens, "
                                              "prompt {} has {}",
                                              prompt_length, i, prompts[i].size()));
    }
    flat.insert(flat.end(), prompts[i].begin(), prompts[i].end());
  }
  const std::int64_t context = model.context_length();
  if (context <= 0) throw std::invalid_argument(fmt::format("generate: model context length is {}", context));

  chain.reset();
  torch::NoGradGuard no_grad;
  EvalModeScope eval_mode(model);

  at::Tensor history = at::tensor(flat, at::kLong).view({batch, prompt_length}).to(device);  // (B, P)
  // Created once per call: each sequence's stream advances only with its own draws, so what it
  // samples does not depend on which other sequences share its batch.
  std::vector<at::Generator> rngs;
  rngs.reserve(prompts.size());
  for (std::int64_t i = 0; i < batch; ++i) rngs.push_back(sequence_generator(options.seed, options.first_index + i));

  std::vector<bool> finished(prompts.size(), false);
  std::int64_t running = batch;
  for (std::int64_t step = 0; step < options.max_new_tokens && running > 0; ++step) {
    const std::int64_t length = history.size(1);
    const at::Tensor window = length > context ? history.narrow(1, length - context, context) : history;  // (B, T)
    const at::Tensor logits = model.forward(ModelInput{window});  // (B, T, V)
    DecodeState state;
    // A fresh float32 copy: warpers may change it in place without touching the model's output.
    state.logits = logits.select(1, -1).to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);  // (B, V)
    state.history = history;
    state.prompt_length = prompt_length;
    state.rngs = &rngs;
    chain.apply(state);
    if (!state.chosen.defined() || state.chosen.numel() != batch) {
      throw std::logic_error(fmt::format("generate: decoding chain '{}' did not choose one token per sequence",
                                         chain.name()));
    }
    const at::Tensor chosen = state.chosen.reshape({batch}).to(device, at::kLong);  // (B)
    history = at::cat({history, chosen.unsqueeze(1)}, 1);                           // (B, L + 1)

    const at::Tensor chosen_cpu = chosen.cpu();
    const auto ids = chosen_cpu.accessor<std::int64_t, 1>();
    for (std::int64_t i = 0; i < batch; ++i) {
      // Finished sequences stay in the batch (a rectangular history is simpler and keeps each
      // row's computation the same), but what they emit is dropped.
      if (finished[static_cast<std::size_t>(i)]) continue;
      out[static_cast<std::size_t>(i)].push_back(ids[i]);
      if (ids[i] == options.eos_id) {
        finished[static_cast<std::size_t>(i)] = true;
        --running;
      }
    }
  }
  return out;
}

}  // namespace lmlab
