// The sentencepiece tokenizer plugin: models trained here (unigram and BPE, through the same
// trainer as `lmlab tokenizer train`) encode a mixed text to the ids Debian's python3-sentencepiece
// gives (tests/reference/spm_encode.py); special ids, published models' id layouts (T5's, LLaMA's),
// decoding that never throws, identities, loading errors and encoding from several threads.
#include "support/catch.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands/tokenizer_train.hpp"
#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "support/test_support.hpp"

namespace sentencepiece_tests {

namespace fs = std::filesystem;
using lmlab::test::read_file;
using lmlab::test::run_command;
using lmlab::test::TempDir;
using lmlab::test::write_file;

namespace {

const std::string fffd = "\xEF\xBF\xBD";
const std::string python = "/usr/bin/python3";  // Debian's, which python3-sentencepiece belongs to

// A few hundred lines of English and Chinese, the same every time (a fixed LCG picks words).
std::string training_text() {
  const std::vector<std::string> english = {"the", "jury", "said", "it", "did", "find", "that", "many", "of",
                                            "registration", "laws", "are", "outmoded", "and", "a", "city",
                                            "election", "was", "conducted", "in", "September", "report", "1961",
                                            "42", "percent", "(", ")", ",", ".", "!", "?", "\"", "'s"};
  const std::vector<std::string> chinese = {"杭州", "是", "个", "好", "地方", "我们", "今天", "天气", "很",
                                            "北京", "上海", "的", "人", "喜欢", "西湖", "。", "，"};
  std::uint64_t state = 12345;
  const auto pick = [&state](std::size_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>((state >> 33) % n);
  };
  std::string text;
  for (int line = 0; line < 400; ++line) {
    const bool zh = line % 3 == 2;
    const int words = 6 + static_cast<int>(pick(12));
    for (int w = 0; w < words; ++w) {
      if (zh) {
        text += chinese[pick(chinese.size())];
      } else {
        text += (w ? " " : "") + english[pick(english.size())];
      }
    }
    text += '\n';
  }
  return text;
}

// A few kilobytes of what a tokenizer meets: prose, punctuation, numbers, whitespace runs, tabs,
// blank lines, Chinese, emoji, a special piece written out, characters the model never saw.
std::string mixed_text() {
  std::string text;
  for (int i = 0; i < 12; ++i) {
    text += fmt::format("The jury said it did find that {} of {} laws are outmoded (report {}, {}%)!\n", i * 7,
                        i + 1961, i, 42 + i);
    text += "  Leading spaces,   runs   of spaces,\ttabs\t\tand trailing spaces   \n\n";
    text += "杭州是个好地方。我们今天很喜欢西湖，天气很好！ 北京 上海\n";
    text += "Emoji 🙂👍🏽 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, café naïve Ω≈ç√ — “quotes” … 1,234.56e-7 #@$^&*_+={}[]|\\:;<>/~`\n";
    text += "a <mask> here and <extra_id_3> there; numbers 0123456789 00 000\n";
  }
  return text;
}

struct TrainedModels {
  TempDir dir;
  fs::path unigram, bpe;
};

// One unigram and one BPE model of 500 pieces, trained once per test process.
const TrainedModels& models() {
  static const auto trained = [] {
    auto t = std::make_unique<TrainedModels>();
    write_file(t->dir / "corpus" / "train.txt", training_text());
    write_file(t->dir / "corpus" / "valid.txt", "the jury\n");
    for (const char* type : {"unigram", "bpe"}) {
      lmlab::SentencePieceTraining o;
      o.corpus = (t->dir / "corpus").string();
      o.type = type;
      o.vocab_size = 500;
      o.out = t->dir / fmt::format("{}.model", type);
      o.threads = 2;
      lmlab::train_sentencepiece(o);
      (std::string(type) == "bpe" ? t->bpe : t->unigram) = o.out;
    }
    return t;
  }();
  return *trained;
}

std::shared_ptr<lmlab::Tokenizer> sentencepiece(const fs::path& model, toml::table options = {},
                                                const fs::path& base = fs::current_path()) {
  options.insert_or_assign("model", model.string());
  const auto& registry = lmlab::test::builtin_plugins();
  const toml::table resolved = lmlab::resolve_plugin<lmlab::Tokenizer>(registry, "sentencepiece", options, "tokenizer");
  return lmlab::make_plugin<lmlab::Tokenizer>(registry, "sentencepiece", resolved, lmlab::TokenizerContext{base});
}

// Debian's python3-sentencepiece on `text`: its JSON answer (tests/reference/spm_encode.py).
nlohmann::json python_reference(const fs::path& model, const std::string& text, const TempDir& dir) {
  if (run_command(python + " -c 'import sentencepiece'").exit_code != 0) {
    FAIL("python3-sentencepiece is missing: run ./scripts/install-deps (Debian package python3-sentencepiece)");
  }
  write_file(dir / "text.txt", text);
  const auto r = run_command(fmt::format("{} {}/tests/reference/spm_encode.py '{}' '{}' 2>&1", python,
                                         lmlab::test_paths::source_dir, model.string(), (dir / "text.txt").string()));
  INFO(r.output.substr(0, 2000));
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.output);
}

// Trains a model with python3-sentencepiece with the given id layout, as published models have.
fs::path python_trained(const TempDir& dir, const std::string& name, int vocab, const std::string& ids) {
  write_file(dir / "corpus.txt", training_text());
  const auto r = run_command(fmt::format(
      "{} -c 'import sentencepiece as s; s.SentencePieceTrainer.train(input=\"{}\", model_prefix=\"{}\", "
      "vocab_size={}, minloglevel=2, {})' 2>&1",
      python, (dir / "corpus.txt").string(), (dir / name).string(), vocab, ids));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return dir / (name + ".model");
}

std::vector<std::int64_t> as_ids(const nlohmann::json& j) { return j.get<std::vector<std::int64_t>>(); }

}  // namespace

TEST_CASE("sentencepiece: ids and pieces are python3-sentencepiece's on mixed text, unigram and bpe",
          "[sentencepiece]") {
  TempDir dir;
  const std::string text = mixed_text();
  REQUIRE(text.size() > 3000);
  for (const fs::path& model : {models().unigram, models().bpe}) {
    INFO(model.string());
    const auto tok = sentencepiece(model);
    const nlohmann::json ref = python_reference(model, text, dir);
    const std::vector<std::int64_t> ids = tok->encode(text);
    REQUIRE(ids == as_ids(ref["ids"]));
    for (std::size_t i = 0; i < ids.size(); ++i) REQUIRE(tok->piece(ids[i]) == ref["pieces"][i].get<std::string>());
    CHECK(tok->vocab_size() == ref["size"].get<std::int64_t>());
    // Identity normalisation and byte fallback: the text comes back whole, as the library decodes it.
    CHECK(tok->decode(ids) == text);
    CHECK(ref["decoded"].get<std::string>() == text);
    // A text long enough to be encoded in parts (PartEncoder) gives the whole text's ids.
    std::string long_text;
    for (int i = 0; i < 6; ++i) long_text += mixed_text();
    REQUIRE(long_text.size() > 20000);
    CHECK(tok->encode(long_text) == as_ids(python_reference(model, long_text, dir)["ids"]));
    // Line by line too: each line's own dummy prefix.
    const std::string line = "  杭州是个好地方 🙂 <mask>x";
    CHECK(tok->encode(line) == as_ids(python_reference(model, line, dir)["ids"]));
    CHECK(tok->decode(tok->encode(line)) == line);
  }
}

TEST_CASE("sentencepiece: a trained model holds every special id lmlab needs, in its own ids", "[sentencepiece]") {
  const auto tok = sentencepiece(models().unigram);
  const lmlab::SpecialIds& s = tok->special();
  CHECK(tok->vocab_size() == 500);  // nothing appended
  CHECK(s.unk == 0);
  CHECK(s.bos == 1);
  CHECK(s.eos == 2);
  CHECK(s.pad == 3);
  CHECK(s.mask == 4);
  CHECK(s.first_sentinel == 5);
  CHECK(s.n_sentinels == 100);
  CHECK(tok->piece(s.sentinel(99)) == "<extra_id_99>");
  // Bytes follow the user-defined pieces; ordinary ids are the text pieces after them.
  CHECK(tok->piece(105) == "<0x00>");
  CHECK(s.ordinary_begin == 105 + 256);
  CHECK(s.ordinary_end == 500);
  // <mask> is a user-defined piece: written in a text, it is the mask id (after the dummy prefix).
  CHECK(tok->encode("<mask>") == std::vector<std::int64_t>{tok->encode(" ")[0], s.mask});
  CHECK(tok->decode({s.bos, s.sentinel(3), s.eos, s.pad, s.unk}) == "<s><extra_id_3></s><pad><unk>");
  CHECK(tok->newline_ids() == std::vector<std::int64_t>{105 + '\n'});

  // More sentinels than the model has: a whole block appended after its pieces; none: none.
  const auto more = sentencepiece(models().unigram, toml::table{{"sentinels", 150}});
  CHECK(more->vocab_size() == 650);
  CHECK(more->special().first_sentinel == 500);
  CHECK(more->piece(649) == "<extra_id_149>");
  CHECK(more->decode({649, 500}) == "<extra_id_149><extra_id_0>");
  const auto none = sentencepiece(models().unigram, toml::table{{"sentinels", 0}});
  CHECK(none->special().n_sentinels == 0);
  CHECK(none->vocab_size() == 500);
}

TEST_CASE("sentencepiece: published layouts keep their ids, and what they lack is appended", "[sentencepiece]") {
  TempDir dir;
  // T5's: pad 0, eos 1, unk 2, no bos; no <mask> or sentinels in the model itself. And a
  // user-defined piece, which is not an ordinary id though the library's calls cannot tell.
  const fs::path t5 = python_trained(dir, "t5", 300, "pad_id=0, eos_id=1, unk_id=2, bos_id=-1, "
                                                     "user_defined_symbols=[\"<sep>\"]");
  const auto tok = sentencepiece(t5);
  const lmlab::SpecialIds& s = tok->special();
  CHECK(s.pad == 0);
  CHECK(s.eos == 1);
  CHECK(s.unk == 2);
  CHECK(s.bos == 300);
  CHECK(s.mask == 301);
  CHECK(s.first_sentinel == 302);
  CHECK(tok->vocab_size() == 402);
  CHECK(tok->piece(300) == "<bos>");
  CHECK(tok->piece(401) == "<extra_id_99>");
  CHECK(tok->piece(3) == "<sep>");
  CHECK(s.ordinary_begin == 4);
  CHECK(s.ordinary_end == 300);
  const std::string text = mixed_text().substr(0, mixed_text().find('\n', 600) + 1);
  CHECK(tok->encode(text) == as_ids(python_reference(t5, text, dir)["ids"]));
  // Its normaliser turns line breaks into spaces and merges them: a long text is encoded whole.
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += text + " \n \n";
  REQUIRE(long_text.size() > 20000);
  CHECK(tok->encode(long_text) == as_ids(python_reference(t5, long_text, dir)["ids"]));

  // LLaMA's: unk 0, bos 1, eos 2, no pad, byte fallback.
  const fs::path llama = python_trained(dir, "llama", 400, "unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True");
  const auto l = sentencepiece(llama);
  CHECK(l->special().bos == 1);
  CHECK(l->special().eos == 2);
  CHECK(l->special().pad == 400);
  CHECK(l->special().mask == 401);
  CHECK(l->piece(3) == "<0x00>");
  CHECK(l->special().ordinary_begin == 3 + 256);
  CHECK(l->encode(text) == as_ids(python_reference(llama, text, dir)["ids"]));
}

TEST_CASE("sentencepiece: decoding never throws: bad bytes, unknown ids, special ids", "[sentencepiece]") {
  const auto tok = sentencepiece(models().bpe);
  const std::int64_t byte0 = 105;  // <0x00>
  const auto byte = [&](int b) { return byte0 + b; };
  const std::vector<std::int64_t> hello = tok->encode("hello");
  std::string out;
  // E6 9D is a cut-short character: one U+FFFD, then the text piece.
  std::vector<std::int64_t> ids = {byte(0xE6), byte(0x9D)};
  ids.insert(ids.end(), hello.begin(), hello.end());
  REQUIRE_NOTHROW(out = tok->decode(ids));
  CHECK(out == fffd + " hello");
  CHECK(tok->decode({byte(0xE6), byte(0x9D), byte(0xAD)}) == "杭");
  CHECK(tok->decode({byte(0xFF), byte(0x41)}) == fffd + "A");
  // Text that is not UTF-8 encodes as the library's normaliser makes it: U+FFFD for each bad byte.
  CHECK(tok->decode(tok->encode("a\xFF\xFE b\xE6\x9D")) == "a" + fffd + fffd + " b" + fffd + fffd);
  CHECK(tok->decode({-1, 500, 1'000'000'000'000LL, INT64_MIN}) == fffd + fffd + fffd + fffd);
  CHECK(tok->piece(500) == "<unknown 500>");
  // A special id between two texts: the second keeps its leading space.
  std::vector<std::int64_t> two = hello;
  two.push_back(tok->special().eos);
  two.insert(two.end(), hello.begin(), hello.end());
  CHECK(tok->decode(two) == "hello</s> hello");
  std::vector<std::int64_t> all;
  for (std::int64_t id = -3; id < tok->vocab_size() + 3; ++id) all.push_back(id);
  REQUIRE_NOTHROW(out = tok->decode(all));
  CHECK(out.find("<extra_id_42>") != std::string::npos);
}

TEST_CASE("sentencepiece: identity follows the model's bytes and the sentinel count", "[sentencepiece]") {
  TempDir dir;
  fs::copy_file(models().unigram, dir / "copy.model");
  const std::string id = sentencepiece(models().unigram)->identity();
  CHECK(id.starts_with("sentencepiece:"));
  CHECK(id.size() == std::string("sentencepiece:").size() + 64);
  // Relative paths start at the context's folder.
  CHECK(sentencepiece("copy.model", {}, dir.path())->identity() == id);
  CHECK(sentencepiece(models().unigram, toml::table{{"sentinels", 50}})->identity() != id);
  CHECK(sentencepiece(models().bpe)->identity() != id);
}

TEST_CASE("sentencepiece: a missing, foreign, empty or cut-short model file is an error naming it",
          "[sentencepiece]") {
  TempDir dir;
  const std::string bytes = read_file(models().unigram);
  write_file(dir / "garbage.model", "this is not a sentencepiece model, just text\n");
  write_file(dir / "empty.model", "");
  write_file(dir / "cut.model", bytes.substr(0, bytes.size() / 2));
  fs::create_directories(dir / "folder.model");
  for (const char* name : {"missing.model", "garbage.model", "empty.model", "cut.model", "folder.model"}) {
    const fs::path file = dir / name;
    INFO(name);
    try {
      sentencepiece(file);
      FAIL("no error for " << name);
    } catch (const lmlab::Error& e) {
      CHECK_THAT(e.what(), Catch::Contains(file.string()));
      CHECK_THAT(e.what(), Catch::Contains("sentencepiece model"));
    }
  }
  CHECK_THROWS_WITH(sentencepiece(""), Catch::Contains("model must name a .model file"));
}

TEST_CASE("sentencepiece: several threads encoding at once get the ids one thread gets", "[sentencepiece]") {
  const auto tok = sentencepiece(models().unigram);
  const std::string text = mixed_text();
  const std::vector<std::int64_t> expected = tok->encode(text);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) mismatches[t] += tok->encode(text) != expected;
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(mismatches == std::vector<int>(4, 0));
}

TEST_CASE("sentencepiece: training twice on the same text writes the same bytes", "[sentencepiece]") {
  TempDir dir;
  write_file(dir / "corpus" / "train.txt", training_text());
  write_file(dir / "corpus" / "valid.txt", "x\n");
  std::map<std::string, std::string> first;
  for (int round = 0; round < 2; ++round) {
    for (const char* type : {"unigram", "bpe"}) {
      lmlab::SentencePieceTraining o;
      o.corpus = (dir / "corpus").string();
      o.type = type;
      o.vocab_size = 500;
      o.out = dir / fmt::format("{}-{}.model", type, round);
      const lmlab::TrainedTokenizer t = lmlab::train_sentencepiece(o);
      CHECK(t.vocab_size == 500);
      CHECK(t.sentences == 400);
      const std::string model = read_file(o.out);
      const std::string vocab = read_file(t.vocab);
      CHECK(std::count(vocab.begin(), vocab.end(), '\n') == 500);
      if (round == 0) first[type] = model;
      else CHECK(model == first[type]);
    }
  }
}

}  // namespace sentencepiece_tests
