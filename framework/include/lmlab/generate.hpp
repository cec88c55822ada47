/// Autoregressive generation: run the model, pass the last position's logits through a decoding
/// chain, append the chosen tokens, repeat.
#pragma once
#include <cstdint>
#include <vector>

#include <c10/core/Device.h>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"

namespace lmlab {

struct GenerateOptions {
  std::int64_t max_new_tokens = 64;
  std::uint64_t seed = 0;        // sequence i samples from a stream seeded by (seed, first_index + i)
  std::int64_t first_index = 0;  // index of prompts[0] among all prompts, so a prompt's stream does not depend on the batch it is in
  std::int64_t eos_id = -1;      // stop a sequence once it emits this id (-1: never)
};

/// Continuations (generated ids only) for equal-length prompts. The model runs in eval mode
/// without gradients and sees at most its context_length() most recent tokens; its training
/// mode is restored afterwards. `chain` is reset first.
std::vector<std::vector<std::int64_t>> generate(Architecture& model, DecodingStep& chain,
                                                const std::vector<std::vector<std::int64_t>>& prompts,
                                                const GenerateOptions& options, const c10::Device& device);

/// The generator for sequence `index` of a run seeded with `seed`.
at::Generator sequence_generator(std::uint64_t seed, std::int64_t index);

}  // namespace lmlab
