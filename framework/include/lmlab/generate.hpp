/// Autoregressive generation: run the model, pass the last position's logits through a decoding
/// chain, append the chosen tokens, repeat; or hand the model to the chain's search strategy.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include <c10/core/Device.h>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/search.hpp"

namespace lmlab {

struct GenerateOptions {
  std::int64_t max_new_tokens = 64;
  std::uint64_t seed = 0;        // sequence i samples from a stream seeded by (seed, first_index + i)
  std::int64_t first_index = 0;  // index of prompts[0] among all prompts, so a prompt's stream does not depend on the batch it is in
  std::int64_t eos_id = -1;      // stop a sequence once it emits this id (-1: never)
  std::int64_t pad_id = 0;       // fills the left of shorter prompts in the history the chain sees
  std::int64_t decoder_start_id = -1;  // encoder-decoders: the decoder's first input (the tokenizer's bos)
  bool use_cache = true;         // false: re-read the window at every step (for comparison and timing)
  // Called after each step of a sampling chain with the tokens generated per row so far and
  // max_new_tokens (searches report nothing): lets a caller show progress on long work.
  std::function<void(std::int64_t done, std::int64_t total)> progress;
};

/// Continuations of prompts of any lengths, left-padded into one batch: one list per prompt,
/// best first (several only for a search that returns an n-best list). The model runs in eval
/// mode without gradients, through a ModelStepper: with the cache, the prompts are fed once and
/// each new token costs a one-token step. A decoder-only model takes the prompt as its input
/// (and as the prefix of a prefix decoder); an encoder-decoder encodes it and decodes from
/// `decoder_start_id`. The model's training mode is restored afterwards; `chain` is reset first.
std::vector<std::vector<Continuation>> decode(Architecture& model, DecodingStep& chain,
                                              const std::vector<std::vector<std::int64_t>>& prompts,
                                              const GenerateOptions& options, const c10::Device& device);

/// The generated ids of decode()'s best continuation of each prompt.
std::vector<std::vector<std::int64_t>> generate(Architecture& model, DecodingStep& chain,
                                                const std::vector<std::vector<std::int64_t>>& prompts,
                                                const GenerateOptions& options, const c10::Device& device);

/// The generator for sequence `index` of a run seeded with `seed`.
at::Generator sequence_generator(std::uint64_t seed, std::int64_t index);

}  // namespace lmlab
