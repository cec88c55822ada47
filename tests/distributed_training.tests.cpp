// Data-parallel training end to end: `lmlab run --nproc-per-node 2` on 127.0.0.1 with Gloo against
// one process with the same global batch (the same losses, validation loss and run identity),
// gradient accumulation, a stop and resume on two ranks and on one, and a rank killed mid-run.
#include <csignal>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "results/run_reader.hpp"
#include "support/distributed_runs.hpp"
#include "support/test_support.hpp"

namespace distributed_training_tests {
namespace {

namespace fs = std::filesystem;
using lmlab::test::SmallExperiment;

using Fixture = lmlab::test::CorpusFixture;
using lmlab::test::check_same_losses;

SmallExperiment tiny(const fs::path& corpus, const fs::path& results, std::int64_t steps, std::int64_t batch) {
  return lmlab::test::tiny_distributed(corpus, results, steps, batch, "dp");
}

std::string run(const fs::path& file, const std::string& args) { return lmlab::test::lmlab_run(file, args); }

fs::path run_file(const fs::path& results) { return lmlab::test::find_with_extension(results, ".h5"); }

}  // namespace

TEST_CASE("distributed training: 2 ranks with half the batch (global_batch_size) log one process's losses over 50 steps") {
  Fixture f;
  const fs::path one_file = f.dir / "one.toml", two_file = f.dir / "two.toml";
  // Both write under "res" (the results folder is part of a run's config): one's is moved aside.
  lmlab::test::write_file(one_file, tiny(f.corpus, f.dir / "res", 50, 8).text());
  // The two ranks' file states the batch over all processes: 8, split into 4 rows each.
  std::string two_text = tiny(f.corpus, f.dir / "res", 50, 8).text();
  two_text.replace(two_text.find("\nbatch_size = 8\n"), 16, "\nglobal_batch_size = 8\n");
  lmlab::test::write_file(two_file, two_text);
  const auto one = lmlab::test::run_command(run(one_file, ""));
  REQUIRE(one.exit_code == 0);
  fs::rename(f.dir / "res", f.dir / "one");
  const auto two = lmlab::test::run_command(run(two_file, "--nproc-per-node 2"));
  INFO(two.output);
  REQUIRE(two.exit_code == 0);
  const lmlab::RunReader a(run_file(f.dir / "one")), b(run_file(f.dir / "res"));
  // The same global batch is the same configuration: the run names' hashes agree.
  CHECK(a.attribute("config_hash") == b.attribute("config_hash"));
  CHECK(a.path().filename() == b.path().filename());
  check_same_losses(a.floats("train/loss"), b.floats("train/loss"), 1e-5);
  CHECK(a.ints("train/tokens") == b.ints("train/tokens"));
  check_same_losses(a.floats("train/grad_norm"), b.floats("train/grad_norm"), 1e-4);
  check_same_losses(a.floats("eval/val_loss"), b.floats("eval/val_loss"), 1e-5);
  CHECK(b.attribute("distributed.world_size") == "2");
  CHECK(b.attribute("distributed.backend") == "gloo");
  CHECK(b.attribute("distributed.rank.1").value_or("").find(" cpu 1") != std::string::npos);
  CHECK(!a.attribute("distributed.world_size"));  // a run of one process writes nothing of it
  CHECK(b.exists("train/comm_s"));
  CHECK(!a.exists("train/comm_s"));
  CHECK(b.attribute("status") == "complete");
}

TEST_CASE("distributed training: with gradient accumulation, 2 ranks match one process") {
  Fixture f;
  SmallExperiment one = tiny(f.corpus, f.dir / "one", 12, 4), two = tiny(f.corpus, f.dir / "two", 12, 2);
  const fs::path one_file = f.dir / "one.toml", two_file = f.dir / "two.toml";
  lmlab::test::write_file(one_file, one.text());
  lmlab::test::write_file(two_file, two.text());
  REQUIRE(lmlab::test::run_command(run(one_file, "--set train.grad_accum=3")).exit_code == 0);
  const auto result = lmlab::test::run_command(run(two_file, "--set train.grad_accum=3 --nproc-per-node 2"));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const lmlab::RunReader a(run_file(f.dir / "one")), b(run_file(f.dir / "two"));
  check_same_losses(a.floats("train/loss"), b.floats("train/loss"), 1e-5);
  CHECK(a.ints("train/tokens") == b.ints("train/tokens"));
}

TEST_CASE("distributed training: a run stopped on 2 ranks resumes on 1 and then on 2 where it left off") {
  Fixture f;
  const fs::path one_file = f.dir / "one.toml", two_file = f.dir / "two.toml";
  lmlab::test::write_file(one_file, tiny(f.corpus, f.dir / "ref", 12, 8).text());
  REQUIRE(lmlab::test::run_command(run(one_file, "")).exit_code == 0);
  // Both files write under "run": one global batch of 8, on 2 ranks of 4 or 1 process of 8.
  lmlab::test::write_file(two_file, tiny(f.corpus, f.dir / "run", 12, 4).text());
  lmlab::test::write_file(one_file, tiny(f.corpus, f.dir / "run", 12, 8).text());
  auto step = lmlab::test::run_command(run(two_file, "--nproc-per-node 2 --stop-after 4"));
  INFO(step.output);
  REQUIRE(step.exit_code == 130);
  step = lmlab::test::run_command(run(one_file, "--resume --stop-after 8"));
  INFO(step.output);
  REQUIRE(step.exit_code == 130);
  CHECK(step.output.find("trained on 2 rank(s) and resumes on 1") != std::string::npos);
  step = lmlab::test::run_command(run(two_file, "--nproc-per-node 2 --resume"));
  INFO(step.output);
  REQUIRE(step.exit_code == 0);
  const lmlab::RunReader ref(run_file(f.dir / "ref")), resumed(run_file(f.dir / "run"));
  check_same_losses(ref.floats("train/loss"), resumed.floats("train/loss"), 1e-5);
  CHECK(resumed.ints("resumes/step") == std::vector<std::int64_t>{4, 8});
  CHECK(resumed.attribute("distributed.world_size") == "2");
  CHECK(resumed.attribute("status") == "complete");
}

TEST_CASE("distributed training: a rank killed mid-run fails the launch within the timeout, naming the rank") {
  Fixture f;
  SmallExperiment s = tiny(f.corpus, f.dir / "run", 100000, 4);
  const fs::path file = f.dir / "run.toml", out = f.dir / "launch.out";
  lmlab::test::write_file(file, s.text() + "\n[distributed]\ntimeout_s = 5\n");
  lmlab::test::CommandResult result;
  std::thread launch([&] { result = lmlab::test::run_command(run(file, "--nproc-per-node 2") + " > " + out.string()); });
  // Rank 1's pid from the launcher's first line, then its log's third step.
  const std::regex pids("pids ([0-9]+) ([0-9]+)");
  std::smatch match;
  pid_t rank1 = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = fs::exists(out) ? lmlab::test::read_file(out) : "";
    if (rank1 == 0 && std::regex_search(text, match, pids)) rank1 = std::stoi(match[2]);
    if (rank1 != 0 && text.find("step 3/") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(rank1 > 0);
  const auto killed = std::chrono::steady_clock::now();
  ::kill(rank1, SIGKILL);
  launch.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  const std::string said = lmlab::test::read_file(out) + result.output;
  INFO(said);
  CHECK(result.exit_code == 1);
  CHECK(seconds < 15.0);  // rank 0 fails at once (its peer's connection closed) or at timeout_s = 5
  CHECK(said.find("rank 1 of 2 failed: killed by signal 9") != std::string::npos);
  const lmlab::RunReader reader(run_file(f.dir / "run"));
  CHECK(reader.attribute("status") == "failed");
  CHECK(reader.attribute("status_reason").value_or("").find("rank 1 of 2 failed: killed by signal 9") !=
        std::string::npos);
}

}  // namespace distributed_training_tests

namespace distributed_training_tests {

TEST_CASE("distributed training: [distributed] is checked like every section, and a rank cannot launch ranks") {
  Fixture f;
  const fs::path file = f.dir / "run.toml";
  lmlab::test::write_file(file, tiny(f.corpus, f.dir / "run", 4, 4).text() + "\n[distributed]\nbackend = \"mpi\"\n");
  const auto bad = lmlab::test::run_command(lmlab::test::lmlab_binary() + " validate " + file.string());
  INFO(bad.output);
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("distributed.backend") != std::string::npos);
  CHECK(bad.output.find("\"mpi\"") != std::string::npos);
  lmlab::test::write_file(file, tiny(f.corpus, f.dir / "run", 4, 4).text() + "\n[distributed]\ntimeout_s = 0\n");
  CHECK(lmlab::test::run_command(lmlab::test::lmlab_binary() + " validate " + file.string()).exit_code == 2);
  lmlab::test::write_file(file, tiny(f.corpus, f.dir / "run", 4, 4).text());
  const auto nested = lmlab::test::run_command("RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29999 " + run(file, "--nproc-per-node 2"));
  INFO(nested.output);
  CHECK(nested.exit_code == 2);
  CHECK(nested.output.find("already rank 0 of 2") != std::string::npos);
}

}  // namespace distributed_training_tests
