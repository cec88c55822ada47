// The paper reproductions in experiments/ (docs/reproductions.md), scaled down: each file's own
// sweep (its arms, its two-stage runs, its decoding configurations and metrics) with a width-16,
// one-layer model, a few steps and one seed, on a small generated corpus. A file inherits the
// real one (`base =`) and overrides only sizes, so an edit to an experiment file is tested as
// it stands. `lmlab check --metrics-only` then confirms that every run each [[expect]] claim
// selects exists, completed, and reports the claim's metrics; the values of runs this small mean
// nothing and are not judged (the full runs' are, in results/<name>/report.md).
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "generated/test_paths.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace reproductions_tests {

namespace fs = std::filesystem;
using lmlab::test::run_command;
using lmlab::test::TempDir;
using lmlab::test::write_file;

namespace {

struct Scale {
  int steps = 20;          // the first stage's steps; the files' fine-tuning arms keep their own
  bool generates = true;   // the file decodes prompts: keep a few, shorter
  bool subword = false;    // the file reads SentencePiece ids: train a small model on the corpus for it
};

// A SentencePiece unigram model of the generated corpus, in place of the file's model of Brown.
std::string small_tokenizer(const fs::path& dir) {
  const fs::path model = dir / "small-unigram.model";
  const auto trained = run_command(fmt::format("{} tokenizer train --corpus {} --type unigram --vocab-size 390 --out {}",
                                               lmlab::test::lmlab_binary(), (dir / "corpus").string(), model.string()));
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  return fmt::format("[tokenizer]\nmodel = \"{}\"\n", model.string());
}

// Runs the scaled-down sweep of experiments/<name>.toml and checks its claims' metrics.
void reproduce(const std::string& name, const Scale& scale) {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus", 30000);
  const fs::path original = fs::path(lmlab::test_paths::source_dir) / "experiments" / (name + ".toml");
  const std::string eval = scale.generates ? "prompts = 3\nmax_new_tokens = 24\n" : "";
  const std::string tokenizer = scale.subword ? small_tokenizer(dir.path()) : "";
  write_file(dir / "small.toml", fmt::format(R"(base = "{}"
[experiment]
results_dir = "{}"
[data]
corpus = "{}"
[model]
d_model = 16
n_layers = 1
n_heads = 2
[train]
steps = {}
eval_every = {}
batch_size = 4
log_every = 5
[eval]
batches = 2
{}
[sweep]
seeds = [1]
{})",
                                              original.string(), (dir / "results").string(),
                                              (dir / "corpus").string(), scale.steps, scale.steps, eval, tokenizer));
  const auto sweep = run_command(fmt::format("{} sweep {} --jobs 2", lmlab::test::lmlab_binary(), (dir / "small.toml").string()));
  INFO(sweep.output);
  REQUIRE(sweep.exit_code == 0);
  const fs::path results = dir / "results" / name;
  const auto check = run_command(fmt::format("{} check {} --file {} --metrics-only", lmlab::test::lmlab_binary(),
                                             results.string(), (dir / "small.toml").string()));
  INFO(check.output);
  CHECK(check.exit_code == 0);
  CHECK_THAT(check.output, !Catch::Contains("FAIL"));
}

}  // namespace

TEST_CASE("welleck2020_unlikelihood: MLE, UL-token, and the fine-tuned arms after their base runs", "[reproductions]") {
  reproduce("welleck2020_unlikelihood", {});
}

TEST_CASE("welleck2020_unlikelihood_subword: the same arms on SentencePiece ids", "[reproductions]") {
  reproduce("welleck2020_unlikelihood_subword", {.subword = true});
}

TEST_CASE("repetition_ablation: one base model, decoding cures and unlikelihood fine-tuning", "[reproductions]") {
  reproduce("repetition_ablation", {});
}

TEST_CASE("holtzman2020_decoding: seven decoding strategies on one checkpoint", "[reproductions]") {
  reproduce("holtzman2020_decoding", {});
}

TEST_CASE("holtzman2020_decoding_subword: the seven strategies on SentencePiece ids", "[reproductions]") {
  reproduce("holtzman2020_decoding_subword", {.subword = true});
}

TEST_CASE("raffel2020_architectures: five architectures x two objectives, each fine-tuned", "[reproductions]") {
  reproduce("raffel2020_architectures", {.steps = 20, .generates = false});
}

TEST_CASE("gradient_flow: depth, norm position, activation, initialisation, clipping", "[reproductions]") {
  reproduce("gradient_flow", {.steps = 20, .generates = false});
}

TEST_CASE("repetition_self_reinforcement: the repeated-span probe on MLE models", "[reproductions]") {
  reproduce("repetition_self_reinforcement", {.steps = 20, .generates = false});
}

}  // namespace reproductions_tests
