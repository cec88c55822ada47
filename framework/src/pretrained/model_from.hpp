/// `model.from`: an experiment whose model is a published checkpoint folder (architecture, options,
/// tokenizer and weights), named once, in the file or as `--set model.from=PATH`, instead of
/// imported first and taken as `base =`. docs/pretrained.md, "Decoding a published checkpoint".
#pragma once
#include <toml++/toml.h>

namespace lmlab::pretrained {

/// When `config` has [model] from = "PATH" (or "hf:PATH"), a Hugging Face checkpoint folder: its
/// [model] becomes the one the folder's config.json maps to, [tokenizer] and data.tokenizer the
/// folder's tokenizer, data.block_size the model's context where the file sets none, and
/// train.init_from the folder where the file names no other checkpoint (a run fine-tuned from the
/// folder may be named instead: the same model, other weights). ConfigError, naming model.from and
/// where it was set: a value that is not a string, or empty (the command line did not give it); a
/// [model] option, [tokenizer] or data.tokenizer set beside it (they would silently lose to the
/// folder's); a data.block_size longer than the model's context. The folder's own errors (not a folder, no config.json, a family or field lmlab
/// cannot honour) keep their type, prefixed with model.from and its location. Without model.from
/// `config` is left as it is.
void apply_model_from(toml::table& config);

}  // namespace lmlab::pretrained
