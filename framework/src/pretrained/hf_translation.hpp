/// What a Hugging Face checkpoint folder becomes in lmlab: the model and tokenizer options its
/// config.json maps to, and, for every lmlab parameter, the Hugging Face tensors it is made of.
/// One translator per family (gpt2.cpp, llama.cpp, bert.cpp, t5.cpp); hf_import.cpp applies them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <toml++/toml.h>

#include "pretrained/safetensors.hpp"

namespace lmlab::pretrained {

/// One lmlab parameter from Hugging Face tensors.
struct WeightSource {
  std::vector<std::string> names;  // the tensors read, in the order `make` takes them
  /// From the tensors (float32, each checked against its expected shape) to the lmlab parameter.
  std::function<at::Tensor(const std::vector<at::Tensor>&)> make;
  /// A vocabulary-sized table: rows beyond the published vocabulary are ids the lmlab tokenizer
  /// appends (pad, mask, sentinels), which the published model never saw; they start at zero.
  bool vocab_rows = false;
};

struct HfTranslation {
  std::string family;  // "gpt2", "llama": config.json's model_type
  std::string objective = "causal_lm";  // the imported config's [objective] (masked_lm for BERT)
  toml::table model;   // the experiment's [model] table, arch included
  std::string tokenizer;
  toml::table tokenizer_options;
  std::int64_t vocab_size = 0;      // the published vocabulary (config.json's vocab_size)
  std::int64_t context_length = 0;  // longest input
  /// The tokenizer must have exactly vocab_size ids: a model without predicted_vocab (T5's
  /// encoder_decoder) would predict any id past them from a zero row.
  bool vocab_exact = false;
  std::map<std::string, WeightSource> weights;            // lmlab parameter name -> source
  /// Stored duplicates (a tied head saved as well): where all their tensors are stored, `make`
  /// checks them (throwing DataError) and returns nothing; where not, they are skipped.
  std::vector<WeightSource> checks;
  std::map<std::string, std::vector<std::int64_t>> shapes;  // Hugging Face tensor -> shape the config implies
  std::function<bool(const std::string&)> ignorable;        // stored tensors that are not weights (mask buffers)
};

/// Reads `folder`'s config.json and chooses the family by model_type; a family lmlab has no
/// translator for, or a field it cannot honour, is a ConfigError naming it.
HfTranslation translate_hf_folder(const std::filesystem::path& folder, const SafetensorsSet& weights);

class HfConfig;
HfTranslation translate_gpt2(HfConfig& config, const std::filesystem::path& folder, const SafetensorsSet& weights);
HfTranslation translate_llama(HfConfig& config, const std::filesystem::path& folder, const SafetensorsSet& weights);
HfTranslation translate_bert(HfConfig& config, const std::filesystem::path& folder, const SafetensorsSet& weights);
HfTranslation translate_t5(HfConfig& config, const std::filesystem::path& folder, const SafetensorsSet& weights);

/// A tensor as it is stored transposed: Hugging Face's GPT-2 `Conv1D` keeps (in, out).
at::Tensor transposed(const std::vector<at::Tensor>& t);
/// The tensor itself.
at::Tensor as_is(const std::vector<at::Tensor>& t);
/// The tokenizer's sentinels: config.json's `lmlab_sentinels`, which `lmlab export` writes for a
/// model trained with them (their rows are part of its vocabulary); 0 otherwise, since a causal
/// model fine-tunes without them and each would be a row the published model never saw.
std::int64_t lmlab_sentinels(HfConfig& config);
/// A check that a stored head equals the embedding its config ties it to.
WeightSource tied_head_check(const std::string& head, const std::string& embedding);

}  // namespace lmlab::pretrained
