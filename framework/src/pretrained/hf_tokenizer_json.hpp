/// A folder whose only tokenizer file is Hugging Face's `tokenizer.json`: its byte-level BPE model
/// written out as the vocab.json + merges.txt pair the `bpe` plugin reads. Only what those files
/// express is accepted (GPT-2's byte-level pre-tokenizer, no normaliser, merges in order); any
/// other model, normaliser or pre-tokenizer is refused naming the field.
#pragma once
#include <filesystem>
#include <string>

namespace lmlab::pretrained {

struct ConvertedBpe {
  std::filesystem::path vocab;   // vocab.json: token -> id, the added (special) tokens included
  std::filesystem::path merges;  // merges.txt
  std::string eos;               // the token of config.json's eos_token_id ("" when it has none)
};

/// Converts `tokenizer_json` once into a folder named by its SHA-256 under lmlab's cache
/// (LMLAB_CACHE_DIR, else $XDG_CACHE_HOME/lmlab, else ~/.cache/lmlab: hf-tokenizers/<digest>/);
/// a later call with the same file reuses it. `eos_id` is config.json's eos_token_id (-1: none).
/// Throws ConfigError naming the field lmlab cannot express, DataError for a damaged file.
ConvertedBpe convert_tokenizer_json(const std::filesystem::path& tokenizer_json, long long eos_id);

}  // namespace lmlab::pretrained
