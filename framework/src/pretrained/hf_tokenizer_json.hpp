/// A folder whose only tokenizer file is Hugging Face's `tokenizer.json`: its byte-level BPE model
/// written out in a form the `bpe` plugin reads. GPT-2's form (a ByteLevel pre-tokenizer, merges
/// applied to every word) becomes vocab.json + merges.txt; LLaMA 3's (a Split regex, then
/// ByteLevel without its own regex, `ignore_merges`: a word that is a token stays whole, as
/// tiktoken does) becomes a tiktoken rank file with the regex and the special tokens. Any other
/// model, normaliser or pre-tokenizer is refused naming the field.
#pragma once
#include <filesystem>

#include <toml++/toml.h>

namespace lmlab::pretrained {

/// Converts `tokenizer_json` once into a folder named by its SHA-256 under lmlab's cache
/// (LMLAB_CACHE_DIR, else $XDG_CACHE_HOME/lmlab, else ~/.cache/lmlab: hf-tokenizers/<digest>/);
/// a later call with the same file reuses it. Returns the bpe plugin's options for it (the files,
/// pattern, specials, and eos: the token of `eos_id`, config.json's eos_token_id, -1 for none).
/// Throws ConfigError naming the field lmlab cannot express, DataError for a damaged file.
toml::table convert_tokenizer_json(const std::filesystem::path& tokenizer_json, long long eos_id);

}  // namespace lmlab::pretrained
