#include "support/catch.hpp"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>

#include <ATen/ATen.h>

#include "data/corpus.hpp"
#include "data/prepared_corpus.hpp"
#include "lmlab/error.hpp"
#include "support/test_support.hpp"

namespace corpus_tests {

using Catch::Matchers::Contains;
using lmlab::ByteTokenizer;
using lmlab::DataSection;

namespace {

DataSection folder_data(const std::filesystem::path& folder) {
  DataSection data;
  data.corpus = folder.string();
  return data;
}

// The corpus as a run reads it: prepared with the byte tokenizer on first use, then mapped.
lmlab::PreparedCorpus load_bytes(const DataSection& data) {
  return lmlab::open_or_prepare(data, ByteTokenizer{}, lmlab::PrepareOptions{});
}

}  // namespace

TEST_CASE("corpus: a generated corpus loads as int64 byte streams", "[corpus]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_generated_corpus(tmp / "gen", 20000, 3);
  const std::string train_text = lmlab::test::read_file(tmp / "gen" / "train.txt");
  const std::string valid_text = lmlab::test::read_file(tmp / "gen" / "valid.txt");
  const std::string test_text = lmlab::test::read_file(tmp / "gen" / "test.txt");

  const lmlab::PreparedCorpus corpus = load_bytes(folder_data(tmp / "gen"));
  CHECK(corpus.source == tmp / "gen");
  CHECK(corpus.folder.parent_path() == tmp / "gen" / "prepared");
  CHECK(corpus.manifest.dtype == lmlab::TokenDtype::u16);
  CHECK(corpus.train.size() == static_cast<std::int64_t>(train_text.size()));
  CHECK(corpus.valid.size() == static_cast<std::int64_t>(valid_text.size()));
  CHECK(corpus.test.size() == static_cast<std::int64_t>(test_text.size()));
  const at::Tensor train = corpus.train.to_tensor();
  REQUIRE(train.scalar_type() == at::kLong);
  const auto* ids = train.data_ptr<std::int64_t>();
  bool same = true;
  for (std::size_t i = 0; i < train_text.size(); ++i) same = same && ids[i] == static_cast<unsigned char>(train_text[i]);
  CHECK(same);
  CHECK(corpus.valid.at(0) == static_cast<unsigned char>(valid_text[0]));
  CHECK(corpus.test.at(corpus.test.size() - 1) == static_cast<unsigned char>(test_text.back()));
}

TEST_CASE("corpus: non-ASCII bytes stay in 0..255", "[corpus]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_file(tmp / "c" / "train.txt", "杭州是个好地方\n");
  lmlab::test::write_file(tmp / "c" / "valid.txt", "\xFF\x80");
  const lmlab::PreparedCorpus corpus = load_bytes(folder_data(tmp / "c"));
  CHECK(corpus.train.size() == 22);
  CHECK(corpus.train.at(0) == 0xE6);
  CHECK(corpus.valid.at(0) == 0xFF);
  CHECK(corpus.valid.at(1) == 0x80);
}

TEST_CASE("corpus: a name is looked up under data_dir", "[corpus]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_generated_corpus(tmp / "corpora" / "tiny", 5000);
  DataSection data;
  data.corpus = "tiny";
  data.data_dir = (tmp / "corpora").string();
  CHECK(lmlab::corpus_path(data) == tmp / "corpora" / "tiny");
  CHECK(load_bytes(data).train.size() > 4000);
}

TEST_CASE("corpus: missing folders and files are DataErrors naming them", "[corpus]") {
  lmlab::test::TempDir tmp;
  SECTION("missing brown folder mentions the fetch script") {
    DataSection data;
    data.data_dir = (tmp / "nowhere").string();
    CHECK_THROWS_AS(lmlab::find_corpus(data), lmlab::DataError);
    CHECK_THROWS_WITH(lmlab::find_corpus(data), Contains((tmp / "nowhere" / "brown").string()) &&
                                                      Contains("./scripts/fetch-brown"));
  }
  SECTION("missing named corpus does not mention the brown script") {
    DataSection data;
    data.corpus = "other";
    data.data_dir = tmp.path().string();
    CHECK_THROWS_WITH(load_bytes(data),
                      Contains((tmp / "other").string()) && !Contains("fetch-brown"));
  }
  SECTION("missing valid.txt") {
    lmlab::test::write_file(tmp / "c" / "train.txt", "some text");
    CHECK_THROWS_AS(load_bytes(folder_data(tmp / "c")), lmlab::DataError);
    CHECK_THROWS_WITH(load_bytes(folder_data(tmp / "c")),
                      Contains("valid.txt") && Contains((tmp / "c").string()));
  }
  SECTION("missing train.txt") {
    lmlab::test::write_file(tmp / "c" / "valid.txt", "some text");
    CHECK_THROWS_WITH(lmlab::find_corpus(folder_data(tmp / "c")), Contains("train.txt"));
  }
  SECTION("missing brown files mention the fetch script") {
    lmlab::test::write_file(tmp / "brown" / "train.txt", "x");
    DataSection data;
    data.data_dir = tmp.path().string();
    CHECK_THROWS_WITH(lmlab::find_corpus(data), Contains("valid.txt") && Contains("fetch-brown"));
  }
  SECTION("empty train or valid") {
    lmlab::test::write_file(tmp / "c" / "train.txt", "");
    lmlab::test::write_file(tmp / "c" / "valid.txt", "v");
    CHECK_THROWS_WITH(load_bytes(folder_data(tmp / "c")),
                      Contains("train.txt") && Contains("empty"));
    lmlab::test::write_file(tmp / "c" / "train.txt", "t");
    lmlab::test::write_file(tmp / "c" / "valid.txt", "");
    CHECK_THROWS_WITH(load_bytes(folder_data(tmp / "c")),
                      Contains("valid.txt") && Contains("empty"));
  }
}

TEST_CASE("corpus: test split is optional", "[corpus]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_file(tmp / "c" / "train.txt", "train");
  lmlab::test::write_file(tmp / "c" / "valid.txt", "valid");
  const lmlab::PreparedCorpus corpus = load_bytes(folder_data(tmp / "c"));
  CHECK(corpus.train.size() == 5);
  CHECK(corpus.test.size() == 0);
  CHECK(corpus.test.to_tensor().scalar_type() == at::kLong);
}

TEST_CASE("corpus: unigram baseline on a hand-computed example", "[corpus]") {
  // train [0 0 1] over a vocabulary of 3: add-one counts 3 2 1 of 6.
  const at::Tensor train = at::tensor(std::vector<std::int64_t>{0, 0, 1});
  const at::Tensor eval = at::tensor(std::vector<std::int64_t>{0, 2});
  const double expected = -(std::log(3.0 / 6.0) + std::log(1.0 / 6.0)) / 2.0;
  CHECK(lmlab::unigram_cross_entropy(train, eval, 3) == Approx(expected).epsilon(1e-12));
  // A uniform train gives log V whatever the eval tokens.
  const at::Tensor uniform = at::tensor(std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(lmlab::unigram_cross_entropy(uniform, eval, 4) == Approx(std::log(4.0)).epsilon(1e-12));
  CHECK_THROWS_AS(lmlab::unigram_cross_entropy(train, at::tensor(std::vector<std::int64_t>{3}), 3), lmlab::DataError);
  CHECK_THROWS_AS(lmlab::unigram_cross_entropy(train, at::empty({0}, at::kLong), 3), lmlab::DataError);
}

TEST_CASE("corpus: unigram baseline of a generated corpus lies below log(256)", "[corpus]") {
  lmlab::test::TempDir tmp;
  lmlab::test::write_generated_corpus(tmp / "gen", 20000);
  const lmlab::PreparedCorpus corpus = load_bytes(folder_data(tmp / "gen"));
  const double h = lmlab::unigram_cross_entropy(corpus.train, corpus.valid, ByteTokenizer::byte_vocab_size);
  // About 25 distinct letters, space and punctuation: entropy near log(20), far from uniform.
  CHECK(h > 2.0);
  CHECK(h < 3.2);
}

}  // namespace corpus_tests
