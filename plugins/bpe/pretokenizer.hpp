// Pre-tokenisation: the regex that cuts text into the pieces BPE merges within (words with their
// leading space, runs of digits, punctuation, whitespace). Each model was trained with one, and
// encoding with another gives other ids. PCRE2 in UTF mode with Unicode properties (\p{L}, \p{N},
// \s over all of Unicode), compiled to machine code by its JIT where the platform has one.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bpe_plugin {

/// The names `pattern` accepts, each with its regex.
struct NamedPattern {
  const char* name;
  const char* regex;
  const char* model;
};
const std::vector<NamedPattern>& named_patterns();

/// The regex of `pattern`: a name from named_patterns() (its \s and \S spelled out as Unicode's
/// White_Space, which PCRE2's \s is not quite), or, when it is not a plain lowercase word, the
/// pattern itself. Throws lmlab::ConfigError for an unknown name.
std::string pattern_regex(const std::string& pattern);

/// PCRE2's message when `regex` does not compile, empty when it does.
std::string regex_error(const std::string& regex);

class Pretokenizer {
 public:
  /// Throws lmlab::ConfigError when the regex does not compile.
  explicit Pretokenizer(const std::string& regex);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  /// Calls piece(std::string_view) on consecutive pieces that together are exactly `text`: the
  /// regex's matches, and between them whatever it does not match (bytes that are not valid
  /// UTF-8, or text a custom regex leaves out), so no byte is ever dropped.
  template <class F>
  void split(std::string_view text, F&& piece) const {
    Scratch* s = take();
    std::size_t at = 0;
    std::size_t begin = 0, end = 0;
    try {
      while (at < text.size() && next_match(*s, text, at, begin, end)) {
        if (begin > at) piece(text.substr(at, begin - at));
        piece(text.substr(begin, end - begin));
        at = end;
      }
      if (at < text.size()) piece(text.substr(at));
    } catch (...) {
      give_back(s);
      throw;
    }
    give_back(s);
  }

 private:
  struct Scratch;
  Scratch* take() const;
  void give_back(Scratch* s) const;
  // The next non-empty match at or after `from`; false when there is none.
  bool next_match(Scratch& s, std::string_view text, std::size_t from, std::size_t& begin, std::size_t& end) const;

  void* code_ = nullptr;  // pcre2_code_8*, kept out of this header
  // Match data for each thread that is encoding: taken from and given back to a pool, since
  // PCRE2's match data is not shared between concurrent matches.
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<Scratch>> pool_;
};

}  // namespace bpe_plugin
