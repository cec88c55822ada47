// [distributed] shard_optimizer (ZeRO stage 1): the partition of the parameters among the ranks,
// and end to end through `lmlab run --nproc-per-node 2` on 127.0.0.1 with Gloo: the same losses as
// unsharded ranks, each rank's share of the AdamW state, and a checkpoint of sharded ranks that
// resumes in one unsharded process and back on sharded ranks as the uninterrupted run goes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "distributed/sharded_optimizer.hpp"
#include "results/run_reader.hpp"
#include "support/distributed_runs.hpp"
#include "support/test_support.hpp"

namespace distributed_sharded_optimizer_tests {
namespace {

namespace fs = std::filesystem;
using lmlab::distributed::partition_parameters;
using lmlab::test::SmallExperiment;

// Every tensor owned by exactly one rank in [0, ranks), and the ranks' element counts within the
// largest tensor of each other.
void check_partition(const std::vector<std::int64_t>& numels, int ranks) {
  const std::vector<int> owners = partition_parameters(numels, ranks);
  REQUIRE(owners.size() == numels.size());
  std::vector<std::int64_t> load(static_cast<std::size_t>(ranks), 0);
  for (std::size_t i = 0; i < owners.size(); ++i) {
    REQUIRE(owners[i] >= 0);
    REQUIRE(owners[i] < ranks);
    load[static_cast<std::size_t>(owners[i])] += numels[i];
  }
  CHECK(std::accumulate(load.begin(), load.end(), std::int64_t{0}) ==
        std::accumulate(numels.begin(), numels.end(), std::int64_t{0}));
  const std::int64_t largest = numels.empty() ? 0 : *std::max_element(numels.begin(), numels.end());
  CHECK(*std::max_element(load.begin(), load.end()) - *std::min_element(load.begin(), load.end()) <= largest);
  CHECK(partition_parameters(numels, ranks) == owners);  // the same on every rank: no state, no randomness
}

using Fixture = lmlab::test::CorpusFixture;
using lmlab::test::find_with_extension;

SmallExperiment tiny(const fs::path& corpus, const fs::path& results, std::int64_t steps, std::int64_t batch) {
  return lmlab::test::tiny_distributed(corpus, results, steps, batch, "zero");
}

std::string sharded(const SmallExperiment& s) { return s.text() + "\n[distributed]\nshard_optimizer = true\n"; }

std::string run(const fs::path& file, const std::string& args) { return lmlab::test::lmlab_run(file, args); }

std::vector<std::int64_t> numbers(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::int64_t> out;
  for (std::int64_t n; in >> n;) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("sharded optimizer: the partition gives each parameter one owner, balanced, the same everywhere") {
  check_partition({4096, 64, 64, 4096, 64, 64, 1024, 32}, 2);
  check_partition({4096, 64, 64, 4096, 64, 64, 1024, 32}, 3);
  check_partition({7, 7, 7, 7, 7}, 2);
  check_partition({}, 2);
  // More ranks than tensors: each tensor alone, the ranks after them own nothing.
  const std::vector<int> few = partition_parameters({10, 30, 20}, 5);
  CHECK(few == std::vector<int>{2, 0, 1});
  check_partition({10, 30, 20}, 5);
  // More ranks than tensors of some size: the one large tensor alone, the small ones spread.
  const std::vector<int> mixed = partition_parameters({1, 1000, 1, 1, 1}, 3);
  CHECK(mixed == std::vector<int>{1, 0, 2, 1, 2});
  check_partition({1, 1000, 1, 1, 1}, 3);
  CHECK(partition_parameters({5, 5}, 1) == std::vector<int>{0, 0});
  CHECK_THROWS(partition_parameters({5}, 0));
}

TEST_CASE("sharded optimizer: 2 ranks with shard_optimizer log the same losses as 2 ranks without, over 30 steps") {
  Fixture f;
  const fs::path plain_file = f.dir / "plain.toml", sharded_file = f.dir / "sharded.toml";
  // Both write under "res" ([distributed] is no part of the run's name): the first is moved aside.
  lmlab::test::write_file(plain_file, tiny(f.corpus, f.dir / "res", 30, 4).text());
  lmlab::test::write_file(sharded_file, sharded(tiny(f.corpus, f.dir / "res", 30, 4)));
  const auto plain = lmlab::test::run_command(run(plain_file, "--nproc-per-node 2"));
  INFO(plain.output);
  REQUIRE(plain.exit_code == 0);
  fs::rename(f.dir / "res", f.dir / "plain");
  const auto zero = lmlab::test::run_command(run(sharded_file, "--nproc-per-node 2"));
  INFO(zero.output);
  REQUIRE(zero.exit_code == 0);
  CHECK(zero.output.find("rank 0 keeps the AdamW state of") != std::string::npos);
  const lmlab::RunReader a(find_with_extension(f.dir / "plain", ".h5")), b(find_with_extension(f.dir / "res", ".h5"));
  CHECK(a.attribute("config_hash") == b.attribute("config_hash"));
  // Each parameter gets the update an unsharded rank computes, so the runs agree bit for bit.
  CHECK(a.floats("train/loss").size() == 30);
  CHECK(a.floats("train/loss") == b.floats("train/loss"));
  CHECK(a.floats("train/grad_norm") == b.floats("train/grad_norm"));
  CHECK(a.floats("eval/val_loss") == b.floats("eval/val_loss"));
  CHECK(a.attribute("distributed.shard_optimizer") == "false");
  CHECK(b.attribute("distributed.shard_optimizer") == "true");
  // Unsharded, each rank holds the whole state; sharded, the two shares add up to it.
  const std::vector<std::int64_t> whole = numbers(a.attribute("distributed.optimizer_state_bytes").value_or(""));
  const std::vector<std::int64_t> shares = numbers(b.attribute("distributed.optimizer_state_bytes").value_or(""));
  REQUIRE(whole.size() == 2);
  REQUIRE(shares.size() == 2);
  CHECK(whole[0] == whole[1]);
  CHECK(shares[0] + shares[1] == whole[0]);
  CHECK(std::max(shares[0], shares[1]) < whole[0] * 3 / 4);
}

TEST_CASE("sharded optimizer: a checkpoint of 3 sharded ranks resumes in one unsharded process, then on 2 sharded") {
  Fixture f;
  const fs::path ref_file = f.dir / "ref.toml", three_file = f.dir / "three.toml", one_file = f.dir / "one.toml",
                 two_file = f.dir / "two.toml";
  lmlab::test::write_file(ref_file, sharded(tiny(f.corpus, f.dir / "ref", 12, 6)));
  const auto reference = lmlab::test::run_command(run(ref_file, "--nproc-per-node 2"));
  INFO(reference.output);
  REQUIRE(reference.exit_code == 0);
  // One global batch of 12 under "run": 3 sharded ranks of 4, one unsharded process of 12, or 2
  // sharded ranks of 6. Three ranks make rank 0 gather from two others.
  lmlab::test::write_file(three_file, sharded(tiny(f.corpus, f.dir / "run", 12, 4)));
  lmlab::test::write_file(one_file, tiny(f.corpus, f.dir / "run", 12, 12).text());
  lmlab::test::write_file(two_file, sharded(tiny(f.corpus, f.dir / "run", 12, 6)));
  auto step = lmlab::test::run_command(run(three_file, "--nproc-per-node 3 --stop-after 4"));
  INFO(step.output);
  REQUIRE(step.exit_code == 130);
  // Rank 0 gathered the others' shares: the checkpoint is as large as an unsharded one (below).
  const fs::path checkpoint = find_with_extension(f.dir / "run", ".ckpt");
  const auto sharded_size = static_cast<double>(fs::file_size(checkpoint));
  step = lmlab::test::run_command(run(one_file, "--resume --stop-after 8"));
  INFO(step.output);
  REQUIRE(step.exit_code == 130);
  const auto unsharded_size = static_cast<double>(fs::file_size(checkpoint));
  CHECK(std::abs(sharded_size - unsharded_size) < 0.01 * unsharded_size);
  step = lmlab::test::run_command(run(two_file, "--nproc-per-node 2 --resume"));
  INFO(step.output);
  REQUIRE(step.exit_code == 0);
  const lmlab::RunReader ref(find_with_extension(f.dir / "ref", ".h5")),
      resumed(find_with_extension(f.dir / "run", ".h5"));
  const std::vector<double> expected = ref.floats("train/loss"), got = resumed.floats("train/loss");
  // One process sums the ranks' gradients in another order: float rounding, not bit for bit.
  lmlab::test::check_same_losses(expected, got, 1e-5);
  CHECK(resumed.ints("resumes/step") == std::vector<std::int64_t>{4, 8});
  CHECK(resumed.attribute("distributed.shard_optimizer") == "true");
  CHECK(resumed.attribute("status") == "complete");
}

}  // namespace distributed_sharded_optimizer_tests
