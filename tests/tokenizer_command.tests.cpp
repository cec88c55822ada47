// `lmlab tokenizer train|encode|show` as a user runs them: the files train writes, the ids encode
// prints (those of the plugin), show's side-by-side splits, --stats, and the errors with their
// exit codes (2 for bad input).
#include "support/catch.hpp"

#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "support/test_support.hpp"

namespace tokenizer_command_tests {

namespace fs = std::filesystem;
using lmlab::test::run_command;
using lmlab::test::TempDir;
using lmlab::test::write_file;

namespace {

std::string lmlab(const std::string& args) { return lmlab::test::lmlab_binary() + " " + args + " 2>&1"; }

// A small corpus folder of English and Chinese lines.
void write_corpus(const fs::path& folder) {
  std::string text;
  for (int i = 0; i < 300; ++i) {
    text += fmt::format("The jury said line {} of the report was {} and fair.\n", i, i % 2 ? "long" : "short");
    if (i % 4 == 0) text += "杭州是个好地方，我们喜欢西湖。\n";
  }
  write_file(folder / "train.txt", text);
  write_file(folder / "valid.txt", "The jury said.\n");
}

}  // namespace

TEST_CASE("tokenizer command: train writes the model and its vocabulary, encode and show use it",
          "[tokenizer_command]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const fs::path model = dir / "out" / "small.model";
  const auto trained = run_command(lmlab(fmt::format("tokenizer train --corpus {} --type bpe --vocab-size 450 --out {}",
                                                     (dir / "corpus").string(), model.string())));
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  CHECK_THAT(trained.output, Catch::Contains("bpe SentencePiece model of 450 pieces"));
  CHECK_THAT(trained.output, Catch::Contains(model.string()));
  CHECK(fs::is_regular_file(model));
  CHECK(fs::is_regular_file(dir / "out" / "small.vocab"));
  // No temporary file is left beside them.
  CHECK(std::distance(fs::directory_iterator(dir / "out"), fs::directory_iterator()) == 2);

  const auto ids = run_command(lmlab(fmt::format("tokenizer encode --model {} 'The jury' said", model.string())));
  INFO(ids.output);
  REQUIRE(ids.exit_code == 0);
  const auto pieces = run_command(lmlab(fmt::format("tokenizer encode --model {} --pieces 'The jury' said", model.string())));
  REQUIRE(pieces.exit_code == 0);
  CHECK_THAT(pieces.output, Catch::Contains("▁The"));
  CHECK_THAT(pieces.output, Catch::Contains("▁jury"));
  // The same through --tokenizer and --set, with the model path relative to the working folder.
  const auto set = run_command(fmt::format("cd {} && {}", (dir / "out").string(),
                                           lmlab("tokenizer encode --tokenizer sentencepiece --set model=small.model "
                                                 "'The jury' said")));
  CHECK(set.exit_code == 0);
  CHECK(set.output == ids.output);

  const auto show = run_command(lmlab(fmt::format("tokenizer show --model {} 杭州是个好地方", model.string())));
  INFO(show.output);
  REQUIRE(show.exit_code == 0);
  CHECK_THAT(show.output, Catch::Contains("text: 杭州是个好地方 (21 bytes, 7 characters)"));
  CHECK_THAT(show.output, Catch::Contains("byte (byte:v1), 21 tokens"));
  CHECK_THAT(show.output, Catch::Contains("  ids:    230 157 173 229"));
  CHECK_THAT(show.output, Catch::Contains("sentencepiece (sentencepiece:"));
  CHECK_THAT(show.output, Catch::Contains("杭州"));

  write_file(dir / "text.txt", "The jury said line 3 of the report was long.\n杭州是个好地方\n");
  const auto stats = run_command(lmlab(fmt::format("tokenizer encode --model {} --file {} --stats", model.string(),
                                                   (dir / "text.txt").string())));
  INFO(stats.output);
  REQUIRE(stats.exit_code == 0);
  CHECK_THAT(stats.output, Catch::Contains("bytes 67  characters 53"));
  CHECK_THAT(stats.output, Catch::Contains("MB/s"));
}

TEST_CASE("tokenizer command: bad names, options, files and training settings exit 2 naming them",
          "[tokenizer_command]") {
  TempDir dir;
  write_corpus(dir / "corpus");
  const auto unknown = run_command(lmlab("tokenizer encode --tokenizer sentencepeice hello"));
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.output, Catch::Contains("sentencepeice"));
  CHECK_THAT(unknown.output, Catch::Contains("sentencepiece"));
  CHECK_THAT(unknown.output, Catch::Contains("byte"));

  const auto bad_key = run_command(lmlab("tokenizer encode --tokenizer sentencepiece --set modle=x.model hello"));
  CHECK(bad_key.exit_code == 2);
  CHECK_THAT(bad_key.output, Catch::Contains("modle"));

  const auto missing = run_command(lmlab(fmt::format("tokenizer show --model {} hello", (dir / "nope.model").string())));
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Catch::Contains((dir / "nope.model").string()));

  const auto corpus = (dir / "corpus").string();
  const auto type = run_command(lmlab(fmt::format("tokenizer train --corpus {} --type wordpiece --out {}", corpus,
                                                  (dir / "m.model").string())));
  CHECK(type.exit_code == 2);
  CHECK_THAT(type.output, Catch::Contains("'wordpiece'"));
  const auto big = run_command(lmlab(fmt::format("tokenizer train --corpus {} --vocab-size 90000 --out {}", corpus,
                                                 (dir / "m.model").string())));
  CHECK(big.exit_code == 2);
  CHECK_THAT(big.output, Catch::Contains("Vocabulary size too high (90000)"));
  const auto no_corpus = run_command(lmlab(fmt::format("tokenizer train --corpus {} --out {}",
                                                       (dir / "absent").string(), (dir / "m.model").string())));
  CHECK(no_corpus.exit_code == 2);
  CHECK_THAT(no_corpus.output, Catch::Contains("absent"));
  CHECK_FALSE(fs::exists(dir / "m.model"));
}

}  // namespace tokenizer_command_tests
