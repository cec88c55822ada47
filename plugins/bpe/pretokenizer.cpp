#define PCRE2_CODE_UNIT_WIDTH 8
#include "pretokenizer.hpp"

#include <pcre2.h>

#include <algorithm>

#include "lmlab/error.hpp"

namespace bpe_plugin {

const std::vector<NamedPattern>& named_patterns() {
  // As published with each model (openai/gpt-2 encoder.py; tiktoken_ext/openai_public.py; Meta's
  // llama3 tokenizer.py; Qwen2's tokenizer.json). cl100k's possessive ?+ and ++ are PCRE syntax.
  static const std::vector<NamedPattern> patterns = {
      {"gpt2", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
       "GPT-2, GPT-3 (r50k_base, p50k_base), RoBERTa"},
      {"cl100k", R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)",
       "GPT-3.5/GPT-4 (cl100k_base)"},
      {"llama3", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       "LLaMA 3 (cl100k's earlier form)"},
      {"qwen2", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       "Qwen, Qwen2 (llama3's with one digit a piece)"},
      {"o200k",
       R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       "GPT-4o (o200k_base)"},
  };
  return patterns;
}

namespace {

// Unicode's White_Space property, which the published patterns' \s means in the regex engines
// their models were trained with (Python's regex, Rust's fancy-regex). PCRE2's \s with UCP
// differs: it also takes U+180E, which Unicode 6.3 moved out of White_Space.
constexpr std::string_view white_space =
    R"(\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

// A named pattern with \s and \S spelled out as White_Space, in and out of brackets.
std::string spell_out_white_space(std::string_view regex) {
  std::string out;
  bool in_class = false;
  for (std::size_t i = 0; i < regex.size(); ++i) {
    const char c = regex[i];
    if (c == '\\' && i + 1 < regex.size()) {
      const char next = regex[++i];
      if (next == 's') {
        out += in_class ? std::string(white_space) : "[" + std::string(white_space) + "]";
      } else if (next == 'S' && !in_class) {
        out += "[^" + std::string(white_space) + "]";
      } else {
        out += c, out += next;
      }
      continue;
    }
    if (c == '[') in_class = true;
    if (c == ']') in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string pattern_regex(const std::string& pattern) {
  for (const auto& p : named_patterns()) {
    if (pattern == p.name) return spell_out_white_space(p.regex);
  }
  const bool plain_word = !pattern.empty() && std::all_of(pattern.begin(), pattern.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!plain_word) return pattern;
  std::string names;
  for (const auto& p : named_patterns()) names += std::string(names.empty() ? "" : ", ") + p.name;
  throw lmlab::ConfigError("bpe: pattern \"" + pattern + "\" is not a known name (" + names +
                           ") nor a regex; a regex has at least one character other than a-z, 0-9 and _");
}

namespace {

// UTF with Unicode properties for \s, \w and \p; invalid UTF-8 in the text matches nothing
// instead of failing the whole match, so encode() takes any bytes.
constexpr std::uint32_t compile_flags = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(code, buffer, sizeof buffer);
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<const char*>(buffer));
}

pcre2_code* compile(const std::string& regex, std::string& error) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* compiled = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(), compile_flags, &code,
                                       &offset, nullptr);
  if (!compiled) error = pcre2_message(code) + " at offset " + std::to_string(offset);
  return compiled;
}

}  // namespace

std::string regex_error(const std::string& regex) {
  std::string error;
  pcre2_code_free(compile(regex, error));
  return error;
}

struct Pretokenizer::Scratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  ~Scratch() { pcre2_match_data_free(data); }
};

Pretokenizer::Pretokenizer(const std::string& regex) {
  std::string error;
  pcre2_code* compiled = compile(regex, error);
  if (!compiled) throw lmlab::ConfigError("bpe: pattern: the regex does not compile: " + error);
  // Without a JIT (an unsupported platform) the interpreter gives the same matches, slower.
  pcre2_jit_compile(compiled, PCRE2_JIT_COMPLETE);
  code_ = compiled;
}

Pretokenizer::~Pretokenizer() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

Pretokenizer::Scratch* Pretokenizer::take() const {
  {
    std::lock_guard lock(pool_mutex_);
    if (!pool_.empty()) {
      Scratch* s = pool_.back().release();
      pool_.pop_back();
      return s;
    }
  }
  auto* s = new Scratch;
  if (!s->data) {
    delete s;
    throw std::bad_alloc();
  }
  return s;
}

void Pretokenizer::give_back(Scratch* s) const {
  std::unique_ptr<Scratch> owned(s);
  std::lock_guard lock(pool_mutex_);
  pool_.push_back(std::move(owned));
}

bool Pretokenizer::next_match(Scratch& s, std::string_view text, std::size_t from, std::size_t& begin,
                              std::size_t& end) const {
  // NOTEMPTY: a custom regex that can match nothing would otherwise never move on.
  const int rc = pcre2_match(static_cast<const pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(text.data()),
                             text.size(), from, PCRE2_NOTEMPTY, s.data, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) throw lmlab::Error("bpe: pre-tokenisation failed at byte " + std::to_string(from) + ": " + pcre2_message(rc));
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.data);
  begin = ovector[0];
  end = ovector[1];
  // \K can move a match's start; whatever does not move forward is left to the caller as a gap.
  return begin >= from && end > begin;
}

}  // namespace bpe_plugin
