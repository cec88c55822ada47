// Words as generation metrics count them: whitespace-separated, numbered by first appearance,
// prompts first.
#include <cstdint>
#include <string>
#include <vector>

#include "generation/text_units.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace text_units_tests {

using Ids = std::vector<std::int64_t>;

TEST_CASE("text units: words split on any whitespace and keep punctuation", "[text_units]") {
  lmlab::WordVocabulary v;
  CHECK(v.words("the cat  sat\ton\nthe mat .") == Ids{0, 1, 2, 3, 0, 4, 5});
  CHECK(v.words("") == Ids{});
  CHECK(v.words(" \n\t ") == Ids{});
  CHECK(v.words("The the") == Ids{6, 0});  // case matters: words are compared byte for byte
  CHECK(v.size() == 7);
}

TEST_CASE("text units: prompts are numbered before continuations", "[text_units]") {
  const lmlab::GeneratedText words = lmlab::as_words({"a b", "c"}, {"b d b", ""});
  CHECK(words.unit == "words");
  CHECK(words.prompts == std::vector<Ids>{{0, 1}, {2}});
  CHECK(words.continuations == std::vector<Ids>{{1, 3, 1}, {}});
  CHECK(words.vocab_size == 4);
  const lmlab::GeneratedText tokens = lmlab::as_tokens({{5}}, {{7, 7}}, 9);
  CHECK(tokens.unit == "tokens");
  CHECK(tokens.continuations == std::vector<Ids>{{7, 7}});
  CHECK(tokens.vocab_size == 9);
}

}  // namespace text_units_tests
