#include "lmlab/generate.hpp"

#include <algorithm>
#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include "lmlab/eval_mode.hpp"
#include "lmlab/kv_cache.hpp"

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

/// The prompts left-padded into one (B, P) batch, and which positions are real.
struct PaddedPrompts {
  at::Tensor tokens;  // (B, P) int64
  at::Tensor valid;   // (B, P) bool
  bool padded = false;
};

PaddedPrompts pad_left(const std::vector<std::vector<std::int64_t>>& prompts, std::int64_t pad_id) {
  std::size_t longest = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) throw std::invalid_argument(fmt::format("generate: prompt {} is empty", i));
    longest = std::max(longest, prompts[i].size());
  }
  const auto B = static_cast<std::int64_t>(prompts.size()), P = static_cast<std::int64_t>(longest);
  std::vector<std::int64_t> flat(static_cast<std::size_t>(B * P), pad_id);
  std::vector<std::uint8_t> valid(flat.size(), 0);
  PaddedPrompts out;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const std::size_t offset = i * longest + (longest - prompts[i].size());
    std::copy(prompts[i].begin(), prompts[i].end(), flat.begin() + static_cast<std::ptrdiff_t>(offset));
    std::fill_n(valid.begin() + static_cast<std::ptrdiff_t>(offset), prompts[i].size(), 1);
    out.padded = out.padded || prompts[i].size() != longest;
  }
  out.tokens = at::tensor(flat, at::kLong).view({B, P});                     // (B, P)
  out.valid = at::tensor(valid, at::kByte).view({B, P}).to(at::kBool);     // (B, P)
  return out;
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
  const Capabilities caps = model.capabilities();
  if (!caps.generates) throw std::invalid_argument("generate: the model does not generate (it has no causal decoder)");
  if (caps.has_encoder && options.decoder_start_id < 0) {
    throw std::invalid_argument(fmt::format(
        "generate: an encoder-decoder needs decoder_start_id, the decoder's first token (got {})",
        options.decoder_start_id));
  }
  const std::int64_t context = model.context_length();
  if (context <= 0) throw std::invalid_argument(fmt::format("generate: model context length is {}", context));

  chain.reset();
  torch::NoGradGuard no_grad;
  EvalModeScope eval_mode(model);

  const PaddedPrompts prompt = pad_left(prompts, options.pad_id);
  const std::int64_t batch = prompt.tokens.size(0), prompt_length = prompt.tokens.size(1);
  // What the chain sees: prompt (left-padded) then generated tokens.
  at::Tensor history = prompt.tokens.to(device);    // (B, P)
  at::Tensor history_valid = prompt.valid.to(device);  // (B, P)
  // The decoder's own sequence: the prompt for a decoder-only model, the start token for an
  // encoder-decoder (whose prompt goes to the encoder).
  at::Tensor decoded = caps.has_encoder ? at::full({batch, 1}, options.decoder_start_id, history.options()) : history;  // (B, L)
  at::Tensor decoded_valid = caps.has_encoder ? at::ones({batch, 1}, history_valid.options()) : history_valid;  // (B, L)
  const at::Tensor encoder_tokens =
      caps.has_encoder ? history.narrow(1, std::max<std::int64_t>(0, prompt_length - context), std::min(prompt_length, context))
                       : at::Tensor();  // (B, S)
  const at::Tensor encoder_valid = caps.has_encoder && prompt.padded ? history_valid.narrow(1, prompt_length - encoder_tokens.size(1), encoder_tokens.size(1)) : at::Tensor();  // (B, S)

  // Created once per call: each sequence's stream advances only with its own draws, so what it
  // samples does not depend on which other sequences share its batch.
  std::vector<at::Generator> rngs;
  rngs.reserve(prompts.size());
  for (std::int64_t i = 0; i < batch; ++i) rngs.push_back(sequence_generator(options.seed, options.first_index + i));

  KvCache cache;
  std::int64_t cached = 0;  // decoder positions the cache holds
  at::Tensor step_tokens;   // (B, t) what the next forward feeds
  std::vector<bool> finished(prompts.size(), false);
  std::int64_t running = batch;
  for (std::int64_t step = 0; step < options.max_new_tokens && running > 0; ++step) {
    ModelInput input;
    input.cache = &cache;
    if (step == 0 || cached + 1 > context) {
      // (Re)fill the cache from the most recent tokens: all of them at first, half a context
      // when the cache is full, so that refills are rare and each costs one forward.
      const std::int64_t length = decoded.size(1);
      const std::int64_t keep = step == 0 ? std::min(length, context) : std::max<std::int64_t>(1, context / 2);
      const std::int64_t dropped = length - keep;
      // An encoder-decoder keeps its encoded prompt; only the decoder's past is refilled.
      if (caps.has_encoder) cache.clear_decoder();
      else cache.clear();
      input.tokens = decoded.narrow(1, dropped, keep);  // (B, keep)
      const at::Tensor valid = decoded_valid.narrow(1, dropped, keep);  // (B, keep)
      if (prompt.padded && !caps.has_encoder) input.padding_mask = valid;
      if (caps.prefix) {
        // The part of the prompt still in the window stays the bidirectional prefix.
        input.prefix_lengths =
            at::full({batch}, std::max<std::int64_t>(0, prompt_length - dropped), history.options());  // (B)
      }
      if (caps.has_encoder && step == 0) {
        input.encoder_tokens = encoder_tokens;
        input.encoder_padding_mask = encoder_valid;
      }
      cached = keep;
    } else {
      input.tokens = step_tokens;  // (B, 1)
      cached += 1;
    }
    const at::Tensor logits = model.forward(input).logits;  // (B, t, V)
    DecodeState state;
    // A fresh float32 copy: warpers may change it in place without touching the model's output.
    state.logits = logits.select(1, -1).to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);  // (B, V)
    state.history = history;
    state.history_mask = history_valid;
    state.prompt_length = prompt_length;
    state.rngs = &rngs;
    chain.apply(state);
    if (!state.chosen.defined() || state.chosen.numel() != batch) {
      throw std::logic_error(fmt::format("generate: decoding chain '{}' did not choose one token per sequence",
                                         chain.name()));
    }
    step_tokens = state.chosen.reshape({batch, 1}).to(device, at::kLong);  // (B, 1)
    const at::Tensor real = at::ones({batch, 1}, history_valid.options());  // (B, 1)
    history = at::cat({history, step_tokens}, 1);                          // (B, L + 1)
    history_valid = at::cat({history_valid, real}, 1);                     // (B, L + 1)
    decoded = caps.has_encoder ? at::cat({decoded, step_tokens}, 1) : history;                   // (B, L + 1)
    decoded_valid = caps.has_encoder ? at::cat({decoded_valid, real}, 1) : history_valid;        // (B, L + 1)

    const at::Tensor chosen_cpu = step_tokens.view({batch}).cpu();  // (B)
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
