/// T5's vocabulary in lmlab. What the import needs to know of a SentencePiece `spiece.model`
/// before any tokenizer is built: its pieces and the ids its trainer gave pad and eos, read from
/// the file's protobuf. With them the import sizes the sentinel block so that lmlab's tokenizer has
/// as many ids as config.json's vocab_size (T5's 100 extra ids and its padding rows), names the
/// piece T5's decoder starts with, and places each published row under the lmlab id of its name.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lmlab::pretrained {

struct SpieceFacts {
  std::vector<std::string> pieces;  // by id
  std::int64_t pad_id = -1;         // the trainer's ids (SentencePiece's defaults where unset)
  std::int64_t eos_id = 2;
};

/// Reads `file`'s pieces and special ids; DataError naming the file when it is not a readable
/// SentencePiece model (truncated, or a field that runs past its end).
SpieceFacts read_spiece_facts(const std::filesystem::path& file);

/// Hugging Face's T5 tokenizer keeps `extra_ids` (100) after the pieces, then the model has
/// padding rows up to vocab_size V; lmlab appends <mask> there, then sentinels. The extra ids
/// lmlab maps: 100, or fewer where fewer rows follow the pieces (one stays for <mask>).
std::int64_t t5_extra_ids(std::int64_t pieces, std::int64_t V);

/// The Hugging Face row each lmlab id reads, (V) int64: a piece its own row; lmlab's
/// <extra_id_i> T5's <extra_id_i>, which counts down from pieces + extra - 1; <mask> the first
/// padding row, and the sentinels past `extra` the other padding rows, in order.
at::Tensor t5_hf_rows(std::int64_t pieces, std::int64_t extra, std::int64_t V);

}  // namespace lmlab::pretrained
