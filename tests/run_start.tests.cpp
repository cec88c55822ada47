// Starting and resuming a run's file: --resume of a run that trained to its end.
#include "support/catch.hpp"

#include "nn/cpu_onednn.hpp"
#include "support/test_support.hpp"

namespace run_start_tests {

namespace fs = std::filesystem;
using Catch::Contains;

TEST_CASE("--resume of a complete run whose file is damaged says what is wrong with the file, and only that") {
  lmlab::test::TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  lmlab::test::write_file(dir / "exp.toml", lmlab::test::tiny_experiment(dir / "corpus", dir / "results"));
  const std::string run = lmlab::test::lmlab_binary() + " run " + (dir / "exp.toml").string();
  REQUIRE(lmlab::test::run_command(run).exit_code == 0);
  fs::path h5;
  for (const auto& entry : fs::directory_iterator(dir / "results" / "cli")) {
    if (entry.path().extension() == ".h5" && entry.path().filename() != "index.h5") h5 = entry.path();
  }
  REQUIRE_FALSE(h5.empty());
  fs::resize_file(h5, fs::file_size(h5) / 3);

  const auto r = lmlab::test::run_command(run + " --resume");
  INFO(r.output);
  CHECK(r.exit_code > 0);
  CHECK(r.exit_code < 128);
  // It said "already complete; nothing to resume" first, then failed reading the file.
  CHECK_THAT(r.output, !Contains("nothing to resume"));
  CHECK_THAT(r.output, Contains("its run file is damaged") && Contains(h5.string()) && Contains("truncated file"));
}

TEST_CASE("--resume of a run whose file predates cpu_float32_products goes on with LibTorch's BLAS") {
  if (!lmlab::nn::onednn_built()) {
    WARN("skipped: this build has no oneDNN, so every run multiplies on LibTorch's BLAS");
    return;
  }
  lmlab::test::TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  lmlab::test::write_file(dir / "exp.toml", lmlab::test::tiny_experiment(dir / "corpus", dir / "results"));
  const std::string run = lmlab::test::lmlab_binary() + " run " + (dir / "exp.toml").string();
  REQUIRE(lmlab::test::run_command(run + " --stop-after 2").exit_code == 130);
  fs::path h5;
  for (const auto& entry : fs::directory_iterator(dir / "results" / "cli")) {
    if (entry.path().extension() == ".h5" && entry.path().filename() != "index.h5") h5 = entry.path();
  }
  REQUIRE_FALSE(h5.empty());
  // The file as a run from before the choice wrote it: no such attribute.
  const auto dropped = lmlab::test::run_command(
      "/usr/bin/python3 -c \"import h5py, sys; f = h5py.File(sys.argv[1], 'a'); del f.attrs['cpu_float32_products']\" " +
      h5.string() + " 2>&1");
  INFO(dropped.output);
  REQUIRE(dropped.exit_code == 0);
  // The suite's environment asks for oneDNN; the run started on the BLAS and keeps it.
  const auto r = lmlab::test::run_command(run + " --resume");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("float32 products: ") && Contains("as the run started"));
  CHECK_THAT(r.output, !Contains("float32 products: oneDNN"));
}

}  // namespace run_start_tests
