// `lmlab prepare` as a user runs it: into the cache or a folder of one's choice, up to date on a
// second call, the prepared folder as a run's corpus, and the errors a bad corpus or option gives.
#include "support/catch.hpp"

#include <filesystem>
#include <string>

#include "support/test_support.hpp"

namespace prepare_tests {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using lmlab::test::run_command;
using lmlab::test::TempDir;
using lmlab::test::write_file;

namespace {

std::string lmlab_prepare(const std::string& args) {
  return lmlab::test::lmlab_binary() + " prepare " + args + " 2>&1";
}

}  // namespace

TEST_CASE("prepare command: prepares once, then finds it up to date; a run trains on the prepared folder",
          "[prepare]") {
  TempDir tmp;
  lmlab::test::write_generated_corpus(tmp / "c", 6000);
  const std::string args = "--corpus " + (tmp / "c").string() + " --out " + (tmp / "p").string();
  const auto first = run_command(lmlab_prepare(args));
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.output, Contains("preparing corpus") && Contains("train") && Contains("byte:v1") &&
                               Contains("data.corpus = \"" + (tmp / "p").string() + "\""));
  CHECK(fs::exists(tmp / "p" / "manifest.json"));
  const auto second = run_command(lmlab_prepare(args));
  CHECK(second.exit_code == 0);
  CHECK_THAT(second.output, Contains("up to date") && !Contains("preparing corpus"));
  const auto forced = run_command(lmlab_prepare(args + " --force --threads 2"));
  CHECK(forced.exit_code == 0);
  CHECK_THAT(forced.output, Contains("preparing corpus"));

  write_file(tmp / "exp.toml", lmlab::test::tiny_experiment(tmp / "p", tmp / "results"));
  const auto run = run_command(lmlab::test::lmlab_binary() + " run " + (tmp / "exp.toml").string() + " 2>&1");
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.output, Contains("corpus " + (tmp / "p").string()));
  // The experiment file names what to prepare, into the corpus's cache.
  write_file(tmp / "exp2.toml", lmlab::test::tiny_experiment(tmp / "c", tmp / "results"));
  const auto from_file = run_command(lmlab_prepare((tmp / "exp2.toml").string()));
  CHECK(from_file.exit_code == 0);
  CHECK_THAT(from_file.output, Contains((tmp / "c" / "prepared").string()));
}

TEST_CASE("prepare command: bad corpora and options are bad input (exit 2) with a message", "[prepare]") {
  TempDir tmp;
  write_file(tmp / "bad.jsonl", "{\"text\": \"good\"}\n{\"text\": 3}\n");
  const auto bad_line = run_command(lmlab_prepare("--corpus " + (tmp / "bad.jsonl").string()));
  CHECK(bad_line.exit_code == 2);
  CHECK_THAT(bad_line.output, Contains((tmp / "bad.jsonl").string() + ":2:") && Contains("not a string"));

  const auto missing = run_command(lmlab_prepare("--corpus " + (tmp / "nowhere").string()));
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.output, Contains("nowhere") && Contains("does not exist"));

  lmlab::test::write_generated_corpus(tmp / "c", 2000);
  const auto unknown = run_command(lmlab_prepare("--corpus " + (tmp / "c").string() + " --tokenizer nosuch"));
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.output, Contains("nosuch"));
  const auto other_section = run_command(lmlab_prepare("--corpus " + (tmp / "c").string() + " --set model.d_model=8"));
  CHECK(other_section.exit_code == 2);
  CHECK_THAT(other_section.output, Contains("tokenizer.KEY=VALUE"));
}

}  // namespace prepare_tests
