/// Hugging Face checkpoint folders as lmlab models: `lmlab import` converts one into an lmlab
/// checkpoint once, `lmlab generate --checkpoint hf:PATH` decodes from one directly. Families,
/// field and name mappings and refusals: docs/pretrained.md.
#pragma once
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>

#include <toml++/toml.h>
#include <torch/nn/module.h>

#include "lmlab/registry.hpp"
#include "pretrained/hf_translation.hpp"
#include "pretrained/safetensors.hpp"

namespace lmlab::pretrained {

/// The folder an "hf:PATH" reference names; nullopt for anything else (an lmlab checkpoint).
std::optional<std::filesystem::path> hf_folder_of(const std::string& reference);

/// A folder's weights and what lmlab makes of its config.
struct HfFolder {
  std::filesystem::path folder;
  SafetensorsSet weights;
  HfTranslation translation;
  toml::table config;  // the experiment config it becomes (see hf_experiment_config)
};

/// Opens and translates `folder`: DataError for missing or damaged files, ConfigError for a
/// family or field lmlab cannot honour.
HfFolder open_hf_folder(const std::filesystem::path& folder);

/// The experiment config a translated folder becomes: its [model] and [tokenizer], the
/// causal_lm objective and greedy decoding (BERT: masked_lm, eval.max_new_tokens = 0; T5:
/// span_corruption and greedy decoding), and data.block_size the model's context, so that it
/// resolves, generates (a decoder) and fine-tunes (with a corpus set) like any run's config.
toml::table hf_experiment_config(const HfTranslation& tr, const std::filesystem::path& folder);

/// Copies the folder's weights into `model` (built from that config): each lmlab parameter from
/// its source, each stored tensor checked against the shape config.json implies, and every stored
/// tensor used or known to hold no weight. DataError naming the tensor and its file otherwise.
void load_hf_weights(torch::nn::Module& model, const HfFolder& hf);

/// hf_experiment_config of `folder` written to `file` as TOML (a `base =` for fine-tuning runs).
void write_hf_experiment(const std::filesystem::path& folder, const std::filesystem::path& file, std::ostream& log);

/// `lmlab import FOLDER --out FILE`: the model with the folder's weights written as an lmlab
/// checkpoint (config, tokenizer identity, weights; a fresh optimizer), which `lmlab generate` and
/// `train.init_from` read. Progress and sizes go to `log`.
void import_hf_checkpoint(const std::filesystem::path& folder, const std::filesystem::path& out,
                          const Registry& registry, std::ostream& log);

}  // namespace lmlab::pretrained
