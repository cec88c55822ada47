/// `lmlab export RUN_OR_CKPT --format hf --out DIR`: an lmlab causal decoder written as a Hugging
/// Face folder (config.json, model.safetensors, the tokenizer's files) in GPT-2's or LLaMA's
/// layout, whichever its options match; `lmlab import` of that folder gives the same weights bit for
/// bit. Anything without a Hugging Face counterpart is refused, naming the option.
#pragma once
#include <filesystem>
#include <iosfwd>

#include "lmlab/registry.hpp"

namespace lmlab::pretrained {

/// Writes the model of checkpoint (or results folder) `from` into folder `out`. ConfigError naming
/// the family, option or tokenizer setting that has no Hugging Face counterpart.
void export_hf(const std::filesystem::path& from, const std::filesystem::path& out, const Registry& registry,
               std::ostream& log);

}  // namespace lmlab::pretrained
