// Prepared token files: the files and their manifest, preparing a corpus (shards, .jsonl, chunks
// and threads), the checks that refuse a preparation that no longer matches, and windows drawn
// from a memory-mapped split.
#include "support/catch.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "data/batches.hpp"
#include "data/corpus_chunks.hpp"
#include "data/prepared_corpus.hpp"
#include "data/token_file.hpp"
#include "data/token_manifest.hpp"
#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"
#include "support/test_support.hpp"

namespace token_file_tests {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// Bytes as ids above 65,535, so that files need uint32.
class WideTokenizer final : public lmlab::Tokenizer {
 public:
  static constexpr std::int64_t offset = 65600;
  std::vector<std::int64_t> encode(std::string_view text) const override {
    std::vector<std::int64_t> ids;
    for (const char c : text) ids.push_back(offset + static_cast<unsigned char>(c));
    return ids;
  }
  using Tokenizer::decode;
  std::string decode(std::span<const std::int64_t> ids) const override {
    std::string text;
    for (const auto id : ids) text.push_back(static_cast<char>(id - offset));
    return text;
  }
  std::int64_t vocab_size() const override { return offset + 256; }
  const lmlab::SpecialIds& special() const override { return special_; }
  std::string piece(std::int64_t) const override { return ""; }
  std::string identity() const override { return "wide:v1"; }

 private:
  lmlab::SpecialIds special_;
};

// The byte tokenizer's ids under another identity: a tokenizer whose files changed.
class RenamedByteTokenizer final : public lmlab::Tokenizer {
 public:
  std::vector<std::int64_t> encode(std::string_view text) const override { return bytes_.encode(text); }
  using Tokenizer::decode;
  std::string decode(std::span<const std::int64_t> ids) const override { return bytes_.decode(ids); }
  std::int64_t vocab_size() const override { return bytes_.vocab_size(); }
  const lmlab::SpecialIds& special() const override { return bytes_.special(); }
  std::string piece(std::int64_t id) const override { return bytes_.piece(id); }
  std::string identity() const override { return "byte:v2"; }

 private:
  lmlab::ByteTokenizer bytes_;
};

lmlab::DataSection corpus_at(const fs::path& path) {
  lmlab::DataSection data;
  data.corpus = path.string();
  return data;
}

std::vector<std::int64_t> ids_of(const lmlab::TokenFile& file) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(file.size()));
  file.copy(0, file.size(), ids.data());
  return ids;
}

std::string text_of(const lmlab::TokenFile& file) { return lmlab::ByteTokenizer{}.decode(ids_of(file)); }

fs::path write_tokens(const fs::path& file, const std::vector<std::int64_t>& ids, lmlab::TokenDtype dtype,
                      std::int64_t vocab) {
  lmlab::TokenFileWriter writer(file, dtype);
  writer.append_packed(lmlab::pack_ids(ids, dtype, vocab, "test"));
  writer.publish();
  return file;
}

lmlab::PrepareOptions quiet_prepare(std::size_t chunk_bytes = lmlab::PrepareOptions{}.chunk_bytes, int threads = 1) {
  lmlab::PrepareOptions options;
  options.chunk_bytes = chunk_bytes;
  options.threads = threads;
  return options;
}

}  // namespace

TEST_CASE("token files: uint16 and uint32 ids round-trip through a mapped file", "[token_file]") {
  lmlab::test::TempDir tmp;
  const std::vector<std::int64_t> small = {0, 1, 359, 65535, 7};
  const std::vector<std::int64_t> wide = {0, 65536, 70000, 4294967295LL, 3};
  for (const auto& [ids, dtype, vocab] : {std::tuple{small, lmlab::TokenDtype::u16, std::int64_t{65536}},
                                          std::tuple{wide, lmlab::TokenDtype::u32, std::int64_t{1} << 32}}) {
    const fs::path file = write_tokens(tmp / std::string(lmlab::dtype_name(dtype)), ids, dtype, vocab);
    CHECK(fs::file_size(file) == ids.size() * lmlab::dtype_bytes(dtype) + lmlab::seal_size);
    CHECK_FALSE(fs::exists(file.string() + ".tmp"));
    const auto mapped = lmlab::TokenFile::open(file, dtype, static_cast<std::int64_t>(ids.size()),
                                               lmlab::TokenFile::Access::random, true);
    CHECK(mapped.size() == 5);
    CHECK(ids_of(mapped) == ids);
    CHECK(mapped.at(2) == ids[2]);
    const at::Tensor w = mapped.windows(at::tensor(std::vector<std::int64_t>{3, 0}), 2);
    REQUIRE(w.sizes() == at::IntArrayRef({2, 2}));
    CHECK(w[0][1].item<std::int64_t>() == ids[4]);
    CHECK(w[1][0].item<std::int64_t>() == ids[0]);
    CHECK(at::equal(mapped.to_tensor(), at::tensor(ids, at::kLong)));
    mapped.release(0, 5);  // a hint only: the ids read back the same
    CHECK(ids_of(mapped) == ids);
    CHECK_THROWS_AS(mapped.copy(4, 2, std::vector<std::int64_t>(2).data()), lmlab::DataError);
    CHECK_THROWS_AS(mapped.windows(at::tensor(std::vector<std::int64_t>{-1}), 2), lmlab::DataError);
  }
  CHECK(lmlab::dtype_for_vocab(65536) == lmlab::TokenDtype::u16);
  CHECK(lmlab::dtype_for_vocab(65537) == lmlab::TokenDtype::u32);
  CHECK_THROWS_WITH(lmlab::pack_ids(std::vector<std::int64_t>{3, 360}, lmlab::TokenDtype::u16, 360, "tokenizer t"),
                    Contains("tokenizer t") && Contains("360") && Contains("0..359"));
  CHECK_THROWS_AS(lmlab::pack_ids(std::vector<std::int64_t>{-1}, lmlab::TokenDtype::u16, 360, "t"), lmlab::DataError);
}

TEST_CASE("token files: a cut-short, damaged or foreign file is refused", "[token_file]") {
  lmlab::test::TempDir tmp;
  std::vector<std::int64_t> ids(1000);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i % 300);
  const fs::path file = write_tokens(tmp / "t.tokens", ids, lmlab::TokenDtype::u16, 360);
  using Access = lmlab::TokenFile::Access;
  SECTION("a count that disagrees with the size") {
    CHECK_THROWS_WITH(lmlab::TokenFile::open(file, lmlab::TokenDtype::u16, 1001, Access::random, false),
                      Contains(file.string()) && Contains("cut short"));
    CHECK_THROWS_AS(lmlab::TokenFile::open(file, lmlab::TokenDtype::u32, 1000, Access::random, false),
                    lmlab::DataError);
    CHECK_THROWS_AS(lmlab::TokenFile::open(file, lmlab::TokenDtype::u16, -5, Access::random, false), lmlab::DataError);
    CHECK_THROWS_AS(lmlab::TokenFile::open(file, lmlab::TokenDtype::u16, INT64_MAX, Access::random, false),
                    lmlab::DataError);
  }
  SECTION("a truncated file") {
    fs::resize_file(file, fs::file_size(file) - 2);
    CHECK_THROWS_WITH(lmlab::TokenFile::open(file, lmlab::TokenDtype::u16, 1000, Access::random, false),
                      Contains("cut short"));
  }
  SECTION("a flipped byte is found when the seal is checked") {
    {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(10);
      f.put('\x7f');
    }
    CHECK_NOTHROW(lmlab::TokenFile::open(file, lmlab::TokenDtype::u16, 1000, Access::random, false));
    CHECK_THROWS_WITH(lmlab::TokenFile::open(file, lmlab::TokenDtype::u16, 1000, Access::sequential, true),
                      Contains("damaged"));
  }
  SECTION("a missing file") {
    CHECK_THROWS_WITH(lmlab::TokenFile::open(tmp / "none.tokens", lmlab::TokenDtype::u16, 0, Access::random, false),
                      Contains("none.tokens"));
  }
}

TEST_CASE("prepared manifests: hostile or damaged manifests are DataErrors naming the key", "[token_file]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_file(tmp / "c" / "train.txt", "some training text\n");
  lmlab::test::write_file(tmp / "c" / "valid.txt", "valid text\n");
  const auto prepared = lmlab::prepare_into(lmlab::find_corpus(corpus_at(tmp / "c")), lmlab::ByteTokenizer{}, tmp / "p",
                                            quiet_prepare(), false);
  const fs::path manifest = tmp / "p" / "manifest.json";
  const std::string good = lmlab::test::read_file(manifest);
  CHECK(lmlab::read_token_manifest(manifest).split("train")->tokens == 19);
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not JSON"},
      {good.substr(0, good.size() / 2), "not a JSON object"},
      {"[1, 2]", "not a JSON object"},
      {replaced("\"format_version\": 1", "\"format_version\": 7"), "format_version"},
      {replaced("\"dtype\": \"uint16\"", "\"dtype\": \"float64\""), "dtype"},
      {replaced("\"dtype\": \"uint16\"", "\"dtype\": 3"), "dtype"},
      {replaced("\"tokens\": 19", "\"tokens\": -19"), "tokens"},
      {replaced("\"tokens\": 19", "\"tokens\": 1e300"), "tokens"},
      {replaced("\"tokens\": 19", "\"tokens\": 18446744073709551615"), "tokens"},
      {replaced("\"file\": \"train.tokens\"", "\"file\": \"../../etc/passwd\""), "splits[].file"},
      {replaced("\"name\": \"train\"", "\"name\": \"valid\""), "splits"},
      {replaced("\"vocab_size\": 360", "\"vocab_size\": 99999999"), "vocab_size"},
      {replaced("\"identity\": \"byte:v1\"", "\"identity\": null"), "tokenizer.identity"},
      {replaced("\"sources\": [", "\"sources\": 5, \"x\": ["), "sources"},
  };
  for (const auto& [text, key] : cases) {
    CAPTURE(key);
    lmlab::test::write_file(manifest, text);
    CHECK_THROWS_WITH(lmlab::read_token_manifest(manifest),
                      Contains(manifest.string()) && (Contains(key) || Contains("JSON")));
  }
  // A count that passes the manifest's checks but not the file's size.
  lmlab::test::write_file(manifest, replaced("\"tokens\": 19", "\"tokens\": 20"));
  CHECK_THROWS_WITH(lmlab::open_or_prepare(corpus_at(tmp / "p"), lmlab::ByteTokenizer{}, quiet_prepare()),
                    Contains("train.tokens") && Contains("cut short"));
  // lmlab prepare replaces what it cannot read.
  const auto again = lmlab::prepare_into(lmlab::find_corpus(corpus_at(tmp / "c")), lmlab::ByteTokenizer{}, tmp / "p",
                                         quiet_prepare(), false);
  CHECK(again.prepared_now);
  CHECK(text_of(again.train) == "some training text\n");
  CHECK(prepared.manifest.tokenizer_identity == "byte:v1");
}

TEST_CASE("prepared corpus: a preparation made by another tokenizer is refused, never reused", "[token_file]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_generated_corpus(tmp / "c", 3000);
  const lmlab::ByteTokenizer bytes;
  const auto first = lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare());
  CHECK(first.prepared_now);
  CHECK(first.folder == lmlab::prepared_cache_folder(lmlab::find_corpus(corpus_at(tmp / "c")), bytes));
  CHECK(first.folder.parent_path() == tmp / "c" / "prepared");
  CHECK_FALSE(lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare()).prepared_now);
  // Another identity has its own cache folder...
  const RenamedByteTokenizer renamed;
  const auto other = lmlab::open_or_prepare(corpus_at(tmp / "c"), renamed, quiet_prepare());
  CHECK(other.folder != first.folder);
  CHECK(other.prepared_now);
  // ...and a folder prepared for one is refused to the other, saying what differs and what to do.
  lmlab::prepare_into(lmlab::find_corpus(corpus_at(tmp / "c")), bytes, tmp / "out", quiet_prepare(), false);
  CHECK_THROWS_WITH(lmlab::open_or_prepare(corpus_at(tmp / "out"), renamed, quiet_prepare()),
                    Contains("byte:v1") && Contains("byte:v2") && Contains("lmlab prepare") && Contains("--force"));
  // So is one encoded in chunks of another size (SentencePiece's ids may differ at their edges).
  lmlab::prepare_into(lmlab::find_corpus(corpus_at(tmp / "c")), bytes, tmp / "small", quiet_prepare(1000), false);
  CHECK_THROWS_WITH(lmlab::open_or_prepare(corpus_at(tmp / "small"), bytes, quiet_prepare()),
                    Contains("1000 bytes at a time"));
  CHECK_NOTHROW(lmlab::open_or_prepare(corpus_at(tmp / "small"), bytes, quiet_prepare(1000)));
  // A cached manifest edited to claim another identity is refused too.
  const fs::path manifest = first.folder / "manifest.json";
  std::string text = lmlab::test::read_file(manifest);
  text.replace(text.find("byte:v1"), 7, "byte:v9");
  lmlab::test::write_file(manifest, text);
  CHECK_THROWS_WITH(lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare()),
                    Contains("byte:v9") && Contains(first.folder.string()));
  // One that cannot be read (an older format, a damaged file) describes nothing to reuse: the
  // cache is prepared afresh, and the log says why.
  lmlab::test::write_file(manifest, "{\"format_version\": 0}");
  std::ostringstream log;
  lmlab::PrepareOptions logged = quiet_prepare();
  logged.log = &log;
  CHECK(lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, logged).prepared_now);
  CHECK_THAT(log.str(), Contains("replacing") && Contains("format_version"));
}

TEST_CASE("prepared corpus: changed, added or removed sources are refused; touched ones are rehashed", "[token_file]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_file(tmp / "c" / "train.txt", "the train text\n");
  lmlab::test::write_file(tmp / "c" / "valid.txt", "the valid text\n");
  const lmlab::ByteTokenizer bytes;
  const auto first = lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare());
  const fs::path manifest = first.folder / "manifest.json";
  SECTION("new content") {
    lmlab::test::write_file(tmp / "c" / "valid.txt", "other valid text\n");
    CHECK_THROWS_WITH(lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare()),
                      Contains("valid.txt changed") && Contains("15 bytes") && Contains("17 bytes") &&
                          Contains("lmlab prepare --corpus"));
    // lmlab prepare replaces it; the run then uses the new text.
    lmlab::prepare_into(lmlab::find_corpus(corpus_at(tmp / "c")), bytes, first.folder, quiet_prepare(), false);
    CHECK(text_of(lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare()).valid) == "other valid text\n");
  }
  SECTION("the same content with a new time") {
    const auto before = lmlab::read_token_manifest(manifest).sources.at(1).mtime_ns;
    fs::last_write_time(tmp / "c" / "valid.txt", fs::last_write_time(tmp / "c" / "valid.txt") + std::chrono::hours(1));
    const auto reused = lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare());
    CHECK_FALSE(reused.prepared_now);
    CHECK(lmlab::read_token_manifest(manifest).sources.at(1).mtime_ns > before);  // not hashed again next time
  }
  SECTION("a new shard") {
    lmlab::test::write_file(tmp / "c" / "train-2.txt", "more\n");
    CHECK_THROWS_WITH(lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare()),
                      Contains("train-2.txt is new"));
  }
  SECTION("a shard gone") {
    lmlab::test::write_file(tmp / "c" / "train-2.txt", "more\n");
    lmlab::prepare_into(lmlab::find_corpus(corpus_at(tmp / "c")), bytes, first.folder, quiet_prepare(), false);
    fs::remove(tmp / "c" / "train-2.txt");
    CHECK_THROWS_WITH(lmlab::open_or_prepare(corpus_at(tmp / "c"), bytes, quiet_prepare()),
                      Contains("train-2.txt is gone"));
  }
}

TEST_CASE("prepared corpus: shards of a split are read in name order", "[token_file]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_file(tmp / "c" / "train_b.txt", "second\n");
  lmlab::test::write_file(tmp / "c" / "train_a.txt", "first\n");
  lmlab::test::write_file(tmp / "c" / "valid.txt", "v1\n");
  lmlab::test::write_file(tmp / "c" / "valid-2.txt", "v2\n");
  lmlab::test::write_file(tmp / "c" / "notes.txt", "not a split\n");
  const auto corpus = lmlab::find_corpus(corpus_at(tmp / "c"));
  REQUIRE(corpus.files.size() == 4);
  CHECK(corpus.files[0].name == "train_a.txt");
  CHECK_FALSE(corpus.has_split(2));
  const auto prepared = lmlab::open_or_prepare(corpus_at(tmp / "c"), lmlab::ByteTokenizer{}, quiet_prepare());
  CHECK(text_of(prepared.train) == "first\nsecond\n");
  CHECK(text_of(prepared.valid) == "v2\nv1\n");  // "valid-2.txt" sorts before "valid.txt"
  CHECK(prepared.test.size() == 0);
}

TEST_CASE("prepared corpus: a .jsonl gives every 100th document to validation", "[token_file]") {
  lmlab::test::TempDir tmp;
  std::string lines, train, valid;
  for (int i = 0; i < 250; ++i) {
    const std::string text = "doc " + std::to_string(i) + (i % 7 == 0 ? " \\\"quoted\\\"\\n\u00e9" : "");
    lines += "{\"id\": " + std::to_string(i) + ", \"text\": \"" + text + "\"}\n";
    if (i == 3) lines += "   \n";  // blank lines are no documents
    const std::string decoded = "doc " + std::to_string(i) + (i % 7 == 0 ? " \"quoted\"\n\u00e9" : "") + "\n\n";
    (i % 100 == 0 ? valid : train) += decoded;
  }
  lmlab::test::write_file(tmp / "web.jsonl", lines.substr(0, lines.size() - 1));  // no final newline
  for (const std::size_t chunk : {std::size_t{64}, std::size_t{1} << 20}) {
    lmlab::PrepareOptions options = quiet_prepare(chunk, 2);
    const auto prepared = lmlab::prepare_into(lmlab::find_corpus(corpus_at(tmp / "web.jsonl")), lmlab::ByteTokenizer{},
                                              tmp / ("p" + std::to_string(chunk)), options, false);
    CHECK(text_of(prepared.train) == train);
    CHECK(text_of(prepared.valid) == valid);
    CHECK(prepared.manifest.corpus_kind == "jsonl");
    CHECK(prepared.manifest.valid_every == 100);
  }
  const auto cached = lmlab::open_or_prepare(corpus_at(tmp / "web.jsonl"), lmlab::ByteTokenizer{}, quiet_prepare());
  CHECK(cached.folder.parent_path() == tmp / "prepared" / "web.jsonl");
}

TEST_CASE("prepared corpus: malformed .jsonl lines name the file and line", "[token_file]") {
  lmlab::test::TempDir tmp;
  const std::string good = "{\"text\": \"fine\"}\n{\"text\": \"also fine\"}\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"text\": \"cut", "not valid JSON"},      {"[\"text\"]", "expected an object"},
      {"{\"body\": \"x\"}", "no \"text\" field"},  {"{\"text\": 42}", "not a string"},
      {"\"just a string\"", "expected an object"}, {std::string(5000, '{'), "not valid JSON"},
  };
  for (const auto& [line, what] : cases) {
    CAPTURE(what);
    lmlab::test::write_file(tmp / "bad.jsonl", good + "\n" + line + "\n");
    CHECK_THROWS_WITH(lmlab::open_or_prepare(corpus_at(tmp / "bad.jsonl"), lmlab::ByteTokenizer{}, quiet_prepare()),
                      Contains((tmp / "bad.jsonl").string() + ":4:") && Contains(what));
  }
  // Nothing that looks complete is left behind: no manifest, no token file, no temporary.
  const fs::path folder =
      lmlab::prepared_cache_folder(lmlab::find_corpus(corpus_at(tmp / "bad.jsonl")), lmlab::ByteTokenizer{});
  for (const auto& entry : fs::directory_iterator(folder)) CHECK(entry.path().filename() == ".lock");
}

TEST_CASE("prepared corpus: chunk size and threads do not change the ids", "[token_file]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_generated_corpus(tmp / "c", 30000);
  const auto corpus = lmlab::find_corpus(corpus_at(tmp / "c"));
  const std::string train_text = lmlab::test::read_file(tmp / "c" / "train.txt");
  const lmlab::ByteTokenizer bytes;
  const WideTokenizer wide;
  const auto whole = lmlab::prepare_into(corpus, bytes, tmp / "whole", quiet_prepare(), false);
  const auto chunked = lmlab::prepare_into(corpus, bytes, tmp / "chunked", quiet_prepare(100, 4), false);
  CHECK(text_of(whole.train) == train_text);
  CHECK(lmlab::test::read_file(tmp / "whole" / "train.tokens") ==
        lmlab::test::read_file(tmp / "chunked" / "train.tokens"));
  CHECK(lmlab::test::read_file(tmp / "whole" / "test.tokens") ==
        lmlab::test::read_file(tmp / "chunked" / "test.tokens"));
  const auto wide_prepared = lmlab::prepare_into(corpus, wide, tmp / "wide", quiet_prepare(1000, 3), false);
  CHECK(wide_prepared.manifest.dtype == lmlab::TokenDtype::u32);
  CHECK(wide.decode(ids_of(wide_prepared.train)) == train_text);
  CHECK(wide_prepared.train.at(0) >= WideTokenizer::offset);
}

TEST_CASE("prepared corpus: chunks end after a newline that a word follows", "[token_file]") {
  CHECK(lmlab::chunk_cut("ab\ncd\n\nef\n  gh", 100) == 7);  // before "ef"
  CHECK(lmlab::chunk_cut("ab\ncd\n\nef\n  gh", 6) == 3);    // the limit leaves only "ab\n" + a word
  CHECK(lmlab::chunk_cut("ab\n\n\n  ", 7) == 5);            // only newlines that whitespace follows
  CHECK(lmlab::chunk_cut("abcdef", 4) == 4);                // no newline: at the limit
  CHECK(lmlab::chunk_cut("ab\xe6\x9d\xad", 4) == 2);        // never inside a UTF-8 character
}

TEST_CASE("prepared corpus: windows from the mapped file equal the int64 tensor's for the same seed", "[token_file]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_generated_corpus(tmp / "c", 20000);
  const auto prepared = lmlab::open_or_prepare(corpus_at(tmp / "c"), lmlab::ByteTokenizer{}, quiet_prepare());
  std::vector<std::int64_t> bytes;
  for (const char c : lmlab::test::read_file(tmp / "c" / "train.txt")) bytes.push_back(static_cast<unsigned char>(c));
  const at::Tensor tensor = at::tensor(bytes, at::kLong);
  // What the sampler did before token files: one randint on its generator, then index_select.
  at::Generator old_generator = at::make_generator<at::CPUGeneratorImpl>(42);
  const auto old_next = [&](std::int64_t batch, std::int64_t window) {
    const auto starts = at::randint(0, tensor.numel() - window + 1, {batch, 1}, old_generator, at::kLong);
    const auto index = starts + at::arange(window, at::kLong).unsqueeze(0);
    return tensor.index_select(0, index.flatten()).view({batch, window});
  };
  lmlab::WindowSampler mapped(prepared.train, 33, 42);
  for (int step = 0; step < 5; ++step) CHECK(at::equal(mapped.next(8), old_next(8, 33)));
  const auto state = mapped.generator().get_state();
  const auto next = mapped.next(8);
  mapped.generator().set_state(state);
  CHECK(at::equal(mapped.next(8), next));
  const at::Tensor valid = prepared.valid.to_tensor();
  CHECK(at::equal(lmlab::fixed_windows(prepared.valid, 33, 5), lmlab::fixed_windows(valid, 33, 5)));
  const std::int64_t newline[] = {'\n'}, space[] = {' '};
  CHECK(lmlab::prompt_windows(prepared.valid, 4, 12, newline, space) == lmlab::prompt_windows(valid, 4, 12));
  CHECK(lmlab::prompt_space_ids(lmlab::ByteTokenizer{}) == std::vector<std::int64_t>{' '});
  CHECK(lmlab::unigram_cross_entropy(prepared.train, prepared.valid, 360) ==
        Approx(lmlab::unigram_cross_entropy(tensor, valid, 360)).epsilon(1e-12));
}

TEST_CASE("prepared corpus: training windows from a mapped file and from an int64 tensor, timed", "[.timing]") {
  // 50M ids (100 MB as uint16, 400 MB as int64): batches as the quickstart draws them (32 x 129).
  lmlab::test::TempDir tmp;
  const std::int64_t n = 50'000'000, batch = 32, window = 129, draws = 2000;
  const at::Tensor tensor = at::randint(0, 360, {n}, at::kLong);
  write_tokens(tmp / "t.tokens",
               std::vector<std::int64_t>(tensor.data_ptr<std::int64_t>(), tensor.data_ptr<std::int64_t>() + n),
               lmlab::TokenDtype::u16, 360);
  const auto mapped =
      lmlab::TokenFile::open(tmp / "t.tokens", lmlab::TokenDtype::u16, n, lmlab::TokenFile::Access::random, false);
  lmlab::WindowSampler sampler(mapped, window, 7);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto seconds = [](auto&& fn) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  bool same = true;
  const double old_s = seconds([&] {
    for (int i = 0; i < draws; ++i) {
      const auto starts = at::randint(0, n - window + 1, {batch, 1}, generator, at::kLong);
      const auto index = starts + at::arange(window, at::kLong).unsqueeze(0);
      const auto x = tensor.index_select(0, index.flatten()).view({batch, window});
      if (i == 0) same = at::equal(x, lmlab::WindowSampler(mapped, window, 7).next(batch));
    }
  });
  const double mapped_s = seconds([&] {
    for (int i = 0; i < draws; ++i) sampler.next(batch);
  });
  std::cout << "windows (32 x 129) from 50M ids: int64 tensor " << old_s / draws * 1e6
            << " us a batch, mapped uint16 file " << mapped_s / draws * 1e6 << " us a batch\n";
  CHECK(same);
}

}  // namespace token_file_tests
