/// The units generation metrics count in: model tokens as they are, and the whitespace-separated
/// words of the decoded text, numbered by a vocabulary shared by every text of one measurement
/// (papers report words; a byte-level model's tokens are bytes).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lmlab/metric.hpp"

namespace lmlab {

/// Word ids in order of first appearance.
class WordVocabulary {
 public:
  /// The ids of the words of `text`: maximal runs of non-whitespace bytes (space, tab, newline,
  /// carriage return, vertical tab, form feed separate them).
  std::vector<std::int64_t> words(std::string_view text);
  std::int64_t size() const { return static_cast<std::int64_t>(ids_.size()); }

 private:
  std::unordered_map<std::string, std::int64_t> ids_;
};

/// Unicode characters (code points) of UTF-8 `text`: bytes that do not continue a sequence. Papers
/// that compare tokenizers normalise by characters, which every tokenizer of a text shares.
std::int64_t count_characters(std::string_view text);

/// Continuations (and their prompts) as model tokens.
GeneratedText as_tokens(const std::vector<std::vector<std::int64_t>>& prompts,
                        const std::vector<std::vector<std::int64_t>>& continuations, std::int64_t vocab_size);

/// The same texts, decoded, as words; prompts first, so a word's id does not depend on the
/// continuations.
GeneratedText as_words(const std::vector<std::string>& prompts, const std::vector<std::string>& continuations);

}  // namespace lmlab
