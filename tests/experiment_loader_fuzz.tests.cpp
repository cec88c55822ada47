// Fuzzing the experiment loader (experiment/experiment_loader.cpp and what it calls: the TOML
// parser, overrides, sweeps, option resolution): mutated copies of the shipped experiment files
// (support/experiment_mutator.hpp) must each be accepted or refused with one of lmlab's errors,
// in a message of bounded size; nothing else may escape, and nothing may crash the process.
//
// The suite runs a few hundred inputs from a fixed seed. The long run is a hidden test:
//
//     LMLAB_FUZZ_SECONDS=1800 LMLAB_FUZZ_SEED=7 build/bin/lmlab_tests "[.fuzz-long]"
//
// (or ./scripts/fuzz-loader MINUTES [SEED]). Before each input it writes the input to
// build/fuzz/current.toml, so a crash leaves the input that caused it there; at the end it
// prints how many inputs it tried and how many were accepted and refused.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "generated/test_paths.hpp"
#include "support/experiment_mutator.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace experiment_loader_fuzz_tests {

namespace {

// A refusal quotes what it refuses, bounded: a 1 MiB value must not make a 1 MiB message.
constexpr std::size_t longest_message = 16 * 1024;

struct Tally {
  std::int64_t tried = 0, accepted = 0, refused = 0;
};

// One input, checked; `keep` (when set) receives the input first, so a crash leaves it behind.
void check_one(const std::string& input, const std::filesystem::path& folder, lmlab::PluginLoader& loader,
               const lmlab::Registry& registry, Tally& tally, const std::filesystem::path& keep = {}) {
  if (!keep.empty()) std::ofstream(keep, std::ios::binary | std::ios::trunc) << input;
  const lmlab::test::LoadOutcome outcome = lmlab::test::load_input(input, folder, loader, registry);
  ++tally.tried;
  if (outcome.kind == lmlab::test::LoadOutcome::escaped) {
    const auto saved = folder / "escaped.toml";
    std::ofstream(saved, std::ios::binary | std::ios::trunc) << input;
    FAIL("input " << tally.tried << " (kept at " << saved.string() << ") let out " << outcome.message.substr(0, 2000));
  }
  if (outcome.kind == lmlab::test::LoadOutcome::refused) {
    ++tally.refused;
    INFO("input " << tally.tried << ": " << outcome.message.substr(0, 2000));
    REQUIRE(outcome.message.size() <= longest_message);
  } else {
    ++tally.accepted;
  }
}

}  // namespace

TEST_CASE("the experiment loader accepts or refuses mutated experiment files, and nothing escapes", "[experiment_loader_fuzz]") {
  lmlab::test::TempDir dir;
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  lmlab::test::ExperimentMutator mutator(lmlab::test::shipped_experiments(), 20261206);
  Tally tally;
  for (int i = 0; i < 300; ++i) check_one(mutator.next(), dir.path(), loader, registry, tally);
  // Both outcomes occur: the mutations neither all break the files nor all leave them valid.
  CHECK(tally.refused > 50);
  CHECK(tally.accepted > 5);
}

TEST_CASE("fuzzing the experiment loader for LMLAB_FUZZ_SECONDS", "[.fuzz-long]") {
  const char* seconds_text = std::getenv("LMLAB_FUZZ_SECONDS");
  const char* seed_text = std::getenv("LMLAB_FUZZ_SEED");
  const double seconds = seconds_text ? std::stod(seconds_text) : 60.0;
  const std::uint64_t seed = seed_text ? std::stoull(seed_text) : 1;
  const std::filesystem::path keep_dir = std::filesystem::path(lmlab::test_paths::binary_dir) / "fuzz";
  std::filesystem::create_directories(keep_dir);
  lmlab::test::TempDir dir;
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  lmlab::test::ExperimentMutator mutator(lmlab::test::shipped_experiments(), seed);
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    check_one(mutator.next(), dir.path(), loader, registry, tally, keep_dir / "current.toml");
    if (std::chrono::steady_clock::now() - last > std::chrono::seconds(60)) {
      last = std::chrono::steady_clock::now();
      WARN("fuzz: " << tally.tried << " inputs so far (" << tally.accepted << " accepted, " << tally.refused << " refused)");
    }
  }
  std::filesystem::remove(keep_dir / "current.toml");
  WARN("fuzz: seed " << seed << ", " << seconds << " s: " << tally.tried << " inputs, " << tally.accepted
                     << " accepted, " << tally.refused << " refused, none escaped or crashed");
}

}  // namespace experiment_loader_fuzz_tests
