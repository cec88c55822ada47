#include "generation/text_units.hpp"

namespace lmlab {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::vector<std::int64_t> WordVocabulary::words(std::string_view text) {
  std::vector<std::int64_t> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) {
      const auto [it, added] = ids_.try_emplace(std::string(text.substr(start, i - start)), size());
      out.push_back(it->second);
    }
  }
  return out;
}

GeneratedText as_tokens(const std::vector<std::vector<std::int64_t>>& prompts,
                        const std::vector<std::vector<std::int64_t>>& continuations, std::int64_t vocab_size) {
  return GeneratedText{"tokens", prompts, continuations, vocab_size};
}

std::int64_t count_characters(std::string_view text) {
  std::int64_t n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

GeneratedText as_words(const std::vector<std::string>& prompts, const std::vector<std::string>& continuations) {
  WordVocabulary vocabulary;
  GeneratedText out{"words", {}, {}, 0};
  for (const auto& p : prompts) out.prompts.push_back(vocabulary.words(p));
  for (const auto& c : continuations) out.continuations.push_back(vocabulary.words(c));
  out.vocab_size = vocabulary.size();
  return out;
}

}  // namespace lmlab
