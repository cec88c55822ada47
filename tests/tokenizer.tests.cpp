#include "support/catch.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"

namespace tokenizer_tests {

using lmlab::ByteTokenizer;

namespace {

const std::string fffd = "\xEF\xBF\xBD";

std::vector<std::int64_t> bytes(std::initializer_list<int> values) {
  return std::vector<std::int64_t>(values.begin(), values.end());
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("tokenizer: ASCII round trip, one id per byte", "[tokenizer]") {
  const ByteTokenizer tok;
  const std::string text = "Hello, world!\n\tTabs & <tags> stay.";
  const auto ids = tok.encode(text);
  REQUIRE(ids.size() == text.size());
  CHECK(ids[0] == 'H');
  CHECK(ids[13] == '\n');
  CHECK(tok.decode(ids) == text);
  CHECK(tok.encode("").empty());
  CHECK(tok.decode(std::vector<std::int64_t>{}).empty());
}

TEST_CASE("tokenizer: Chinese text is its UTF-8 bytes and decodes back", "[tokenizer]") {
  const ByteTokenizer tok;
  const std::string text = "杭州是个好地方";
  const auto ids = tok.encode(text);
  const auto expected = bytes({0xE6, 0x9D, 0xAD, 0xE5, 0xB7, 0x9E, 0xE6, 0x98, 0xAF, 0xE4, 0xB8, 0xAA,
                               0xE5, 0xA5, 0xBD, 0xE5, 0x9C, 0xB0, 0xE6, 0x96, 0xB9});
  REQUIRE(ids.size() == 21);
  CHECK(ids == expected);
  CHECK(tok.decode(ids) == text);
}

TEST_CASE("tokenizer: emoji and mixed scripts round trip", "[tokenizer]") {
  const ByteTokenizer tok;
  const std::string text = "ok 👍🏽 café ∑ 𝄞 \xF4\x8F\xBF\xBF end";  // includes U+10FFFF, the largest code point
  const auto ids = tok.encode(text);
  CHECK(ids.size() == text.size());
  const auto thumbs = tok.encode("👍");
  CHECK(thumbs == bytes({0xF0, 0x9F, 0x91, 0x8D}));
  CHECK(tok.decode(ids) == text);
  for (const auto id : ids) {
    CHECK(id >= 0);
    CHECK(id < 256);
  }
}

TEST_CASE("tokenizer: invalid UTF-8 becomes one U+FFFD per maximal invalid subpart", "[tokenizer]") {
  const ByteTokenizer tok;
  struct Case {
    const char* what;
    std::vector<std::int64_t> ids;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"lone continuation byte", bytes({'a', 0x80, 'b'}), "a" + fffd + "b"},
      {"two continuation bytes", bytes({0x80, 0xBF}), fffd + fffd},
      {"truncated 3-byte sequence", bytes({0xE6, 0x9D}), fffd},
      {"truncated 3-byte sequence before ASCII", bytes({0xE6, 0x9D, 'x'}), fffd + "x"},
      {"truncated 4-byte sequence", bytes({0xF0, 0x9F, 0x91}), fffd},
      {"truncated then valid", bytes({0xE6, 0xE6, 0x9D, 0xAD}), fffd + "杭"},
      {"overlong C0", bytes({0xC0, 0xAF}), fffd + fffd},
      {"overlong C1", bytes({0xC1, 0x81}), fffd + fffd},
      {"overlong E0 80..9F", bytes({0xE0, 0x80, 0xAF}), repeat(fffd, 3)},
      {"overlong F0 80..8F", bytes({0xF0, 0x8F, 0xBF, 0xBF}), repeat(fffd, 4)},
      {"surrogate ED A0", bytes({0xED, 0xA0, 0x80}), repeat(fffd, 3)},
      {"surrogate pair", bytes({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80}), repeat(fffd, 6)},
      {"above U+10FFFF via F4 90", bytes({0xF4, 0x90, 0x80, 0x80}), repeat(fffd, 4)},
      {"F5 lead", bytes({0xF5, 0x80, 0x80, 0x80}), repeat(fffd, 4)},
      {"FF byte", bytes({'a', 0xFF, 'b'}), "a" + fffd + "b"},
      {"lead followed by lead", bytes({0xC3, 0xC3, 0xA9}), fffd + "é"},
      // The Unicode standard's own example (3.9, Table 3-8): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64
      {"Unicode table 3-8", bytes({0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64}),
       "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(tok.decode(c.ids) == c.expected);
  }
}

TEST_CASE("tokenizer: special ids render by name", "[tokenizer]") {
  const ByteTokenizer tok;
  CHECK(tok.decode({ByteTokenizer::pad_id}) == "<pad>");
  CHECK(tok.decode({ByteTokenizer::bos_id, 'h', 'i', ByteTokenizer::eos_id}) == "<bos>hi<eos>");
  CHECK(tok.decode({'a', ByteTokenizer::mask_id, 'b'}) == "a<mask>b");
  CHECK(tok.decode({ByteTokenizer::sentinel(0), 'x', ByteTokenizer::sentinel(99)}) == "<extra_id_0>x<extra_id_99>");
  CHECK(ByteTokenizer::sentinel(7) == 267);
  CHECK(ByteTokenizer::byte_vocab_size == 360);
  CHECK_THROWS_AS(ByteTokenizer::sentinel(100), lmlab::Error);
  CHECK_THROWS_AS(ByteTokenizer::sentinel(-1), lmlab::Error);
  CHECK_FALSE(ByteTokenizer::is_special(255));
  CHECK(ByteTokenizer::is_special(256));
  CHECK(ByteTokenizer::is_special(359));
  CHECK_FALSE(ByteTokenizer::is_special(360));
  CHECK_FALSE(ByteTokenizer::is_special(-1));
}

TEST_CASE("tokenizer: a special id inside a multi-byte sequence cuts it", "[tokenizer]") {
  const ByteTokenizer tok;
  // E6 9D <eos> AD: the prefix is one invalid subpart, the stray AD another.
  CHECK(tok.decode(bytes({0xE6, 0x9D, ByteTokenizer::eos_id, 0xAD})) == fffd + "<eos>" + fffd);
}

TEST_CASE("tokenizer: ids outside the vocabulary decode to U+FFFD and never throw", "[tokenizer]") {
  const ByteTokenizer tok;
  std::string out;
  REQUIRE_NOTHROW(out = tok.decode({'a', -1, 360, 1'000'000'000'000LL, INT64_MIN, 'b'}));
  CHECK(out == std::string("a").append(repeat(fffd, 4)).append("b"));
  // Every id of a wide range, in one sequence: decoding must stay total.
  std::vector<std::int64_t> all;
  for (std::int64_t id = -5; id < ByteTokenizer::byte_vocab_size + 5; ++id) all.push_back(id);
  REQUIRE_NOTHROW(out = tok.decode(all));
  CHECK(out.find("<extra_id_42>") != std::string::npos);
}

}  // namespace tokenizer_tests
