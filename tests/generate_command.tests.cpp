// `lmlab generate` (commands/generate_command.cpp) on what a user can get wrong or wait on: a
// prompt longer than the model's context is read from its end, and the command says so.
#include <string>

#include "support/catch.hpp"

#include "support/test_support.hpp"

namespace generate_command_tests {

namespace fs = std::filesystem;
using lmlab::test::run_command;
using lmlab::test::TempDir;
using lmlab::test::write_file;

TEST_CASE("generate says when a prompt is longer than the context, and by how much", "[generate_command]") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  write_file(dir / "exp.toml", lmlab::test::tiny_experiment(dir / "corpus", dir / "results"));
  REQUIRE(run_command(lmlab::test::lmlab_binary() + " run " + (dir / "exp.toml").string()).exit_code == 0);
  const std::string from = lmlab::test::lmlab_binary() + " generate --checkpoint " + (dir / "results" / "cli").string();
  // The tiny experiment's context is 32 byte tokens; 40 bytes are 8 too many, 32 fit.
  const auto cut = run_command(from + " --prompt " + std::string(40, 'a') + " --prompt short --max-new-tokens 2");
  INFO(cut.output);
  REQUIRE(cut.exit_code == 0);
  CHECK_THAT(cut.output, Catch::Contains("prompt 1: 40 tokens, more than the model's context of 32: generation reads "
                                         "its last 32 (8 cut from its start)"));
  CHECK_THAT(cut.output, !Catch::Contains("prompt 2:"));
  const auto fits = run_command(from + " --prompt " + std::string(32, 'a') + " --max-new-tokens 2");
  REQUIRE(fits.exit_code == 0);
  CHECK_THAT(fits.output, !Catch::Contains("more than the model's context"));
}

}  // namespace generate_command_tests
