// What the data-parallel tests (distributed_training, distributed_sharded_optimizer) share: one
// tiny experiment for every run they compare, the command that starts it, and the run file it writes.
#pragma once
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace lmlab::test {

/// A tiny experiment named `name` over `corpus` writing under `results`: no dropout (the model's
/// default), one thread per rank, no sampling at evaluation, so that the ranks' sums are the only
/// difference, and gradient clipping (which must see the whole averaged gradient).
inline SmallExperiment tiny_distributed(const std::filesystem::path& corpus, const std::filesystem::path& results,
                                        std::int64_t steps, std::int64_t batch, const std::string& name) {
  SmallExperiment s{.corpus = corpus, .results = results, .name = name};
  s.regularisers = "[[regularisers]]\nname = \"grad_clip\"\nmax_norm = 1.0\n";
  s.steps = steps;
  s.batch_size = batch;
  s.lr = 3e-3;
  s.warmup = 5;
  s.eval_every = steps;
  s.eval_batches = 2;
  return s;
}

/// The command line of `lmlab run FILE ARGS`.
inline std::string lmlab_run(const std::filesystem::path& file, const std::string& args) {
  return lmlab_binary() + " run " + file.string() + " " + args;
}

/// The one file with `extension` under `results` (the index.h5 of a results folder aside).
inline std::filesystem::path find_with_extension(const std::filesystem::path& results, const std::string& extension) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(results)) {
    if (entry.path().extension() == extension && entry.path().filename() != "index.h5") return entry.path();
  }
  FAIL("no " << extension << " file under " << results.string());
  return {};
}

/// Two runs' logged losses, row by row, within `tolerance` of the first's.
inline void check_same_losses(const std::vector<double>& one, const std::vector<double>& two, double tolerance) {
  REQUIRE(one.size() == two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    INFO("logged row " << i << ": " << one[i] << " vs " << two[i]);
    CHECK(std::abs(one[i] - two[i]) <= tolerance * std::abs(one[i]));
  }
}

/// A temporary folder holding a generated corpus.
struct CorpusFixture {
  TempDir dir;
  std::filesystem::path corpus = dir / "corpus";
  CorpusFixture() { write_generated_corpus(corpus); }
};

}  // namespace lmlab::test
