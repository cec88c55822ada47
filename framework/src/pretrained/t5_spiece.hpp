/// What T5's import needs to know of a SentencePiece `spiece.model` before any tokenizer is built:
/// its pieces and the ids its trainer gave pad and eos, read from the file's protobuf. With them
/// the import sizes the sentinel block so that lmlab's tokenizer has as many ids as config.json's
/// vocab_size (T5's 100 extra ids and its padding rows), and names the piece T5's decoder starts with.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lmlab::pretrained {

struct SpieceFacts {
  std::vector<std::string> pieces;  // by id
  std::int64_t pad_id = -1;         // the trainer's ids (SentencePiece's defaults where unset)
  std::int64_t eos_id = 2;
};

/// Reads `file`'s pieces and special ids; DataError naming the file when it is not a readable
/// SentencePiece model (truncated, or a field that runs past its end).
SpieceFacts read_spiece_facts(const std::filesystem::path& file);

}  // namespace lmlab::pretrained
