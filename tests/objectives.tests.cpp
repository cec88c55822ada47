// Every objective against every architecture family, as the registry declares them: each pair
// whose needs the family meets trains (its loss falls on a fixed batch), and each other pair is
// refused when the experiment is validated, with a message naming what would work. The lists come
// from the registry, so a new objective or family is covered without editing this file.
#include "support/catch.hpp"

#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "experiment/experiment_loader.hpp"
#include "generated/test_paths.hpp"
#include "lmlab/capabilities.hpp"
#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace objectives_tests {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t V = lmlab::ByteTokenizer::byte_vocab_size;
constexpr std::int64_t T = 32;

const lmlab::Registry& plugins() { return lmlab::test::builtin_plugins(); }

// Defaults sized for real runs that do not fit a 32-token block.
toml::table small_options(const std::string& objective) {
  if (objective == "unlikelihood_sequence") {
    // rate 1: every step sequence-level, so first and last losses are the same kind of term.
    return toml::table{{"prefix_len", 8}, {"cont_len", 8}, {"rate", 1.0}};
  }
  return {};
}

bool supports(const std::string& objective, const std::string& family) {
  const auto& needs = plugins().get<lmlab::Objective>(objective).info.traits.needs;
  return !lmlab::unmet(needs, plugins().get<lmlab::Architecture>(family).info.traits.provides);
}

// A (2, T+1) block of bytes from a repetitive sentence: a tiny model fits it within 40 steps.
at::Tensor sentence_block() {
  const std::string text = "the cat sees the dog and the dog sees the cat. ";
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; ids.size() < static_cast<std::size_t>(2 * (T + 1)); ++i) {
    ids.push_back(static_cast<unsigned char>(text[i % text.size()]));
  }
  return at::tensor(ids, at::kLong).view({2, T + 1});
}

std::string experiment(const fs::path& corpus, const std::string& family, const std::string& objective) {
  return fmt::format(R"([data]
corpus = "{}"
block_size = {}

[model]
arch = "{}"
d_model = 32
n_layers = 1
n_heads = 2

[objective]
name = "{}"

[eval]
max_new_tokens = 0
)",
                     corpus.string(), T, family, objective);
}

}  // namespace

TEST_CASE("every supported architecture x objective pair trains; the loss falls") {
  const at::Tensor block = sentence_block();
  int trained = 0;
  for (const std::string& objective : plugins().names<lmlab::Objective>()) {
    if (plugins().get<lmlab::Objective>(objective).info.traits.composite) continue;  // below
    for (const std::string& family : lmlab::test::families) {
      if (!supports(objective, family)) continue;
      INFO(objective << " on " << family);
      at::manual_seed(3);
      const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), V, 2 * T, 5);
      const auto loss = lmlab::test::make_objective(objective, small_options(objective), V);
      const auto [first, last] = lmlab::test::train_on(*loss, *model, block, 40, 3e-3);
      CHECK(std::isfinite(last));
      CHECK(last < 0.8 * first);
      ++trained;
    }
  }
  CHECK(trained >= 10);  // causal LM 1, masked LM 1, prefix LM 3, span corruption 3, unlikelihood 1 + 1
}

TEST_CASE("a composite objective trains on each family over the objectives that family supports") {
  const at::Tensor block = sentence_block();
  for (const std::string& composite : plugins().names<lmlab::Objective>()) {
    if (!plugins().get<lmlab::Objective>(composite).info.traits.composite) continue;
    for (const std::string& family : lmlab::test::families) {
      toml::array tasks;
      toml::table options;
      for (const std::string& objective : plugins().names<lmlab::Objective>()) {
        if (plugins().get<lmlab::Objective>(objective).info.traits.composite || !supports(objective, family)) continue;
        tasks.push_back(objective);
        options.insert(objective, small_options(objective));
      }
      if (tasks.empty()) continue;
      options.insert("tasks", tasks);
      INFO(composite << " of " << tasks << " on " << family);
      at::manual_seed(3);
      const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), V, 2 * T, 5);
      const auto loss = lmlab::test::make_objective(composite, options, V);
      const auto [first, last] = lmlab::test::train_on(*loss, *model, block, 40, 3e-3);
      CHECK(last < 0.8 * first);
    }
  }
}

TEST_CASE("every unsupported architecture x objective pair fails validation, naming what would work") {
  lmlab::test::TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus", 4000, 1);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  loader.load_folder(lmlab::test_paths::plugin_dir);
  int refused = 0;
  for (const std::string& objective : registry.names<lmlab::Objective>()) {
    if (registry.get<lmlab::Objective>(objective).info.traits.composite) continue;
    std::vector<std::string> compatible;
    for (const std::string& family : lmlab::test::families) {
      if (supports(objective, family)) compatible.push_back(family);
    }
    for (const std::string& family : lmlab::test::families) {
      const fs::path file = dir / fmt::format("{}-{}.toml", objective, family);
      lmlab::test::write_file(file, experiment(dir / "corpus", family, objective));
      INFO(objective << " on " << family);
      if (supports(objective, family)) {
        CHECK_NOTHROW(lmlab::load_runs(file, {}, loader, registry));
        continue;
      }
      ++refused;
      try {
        lmlab::load_runs(file, {}, loader, registry);
        FAIL("validation accepted an unsupported pair");
      } catch (const lmlab::ConfigError& e) {
        const std::string message = e.what();
        CHECK_THAT(message, Catch::Contains(file.string() + ":12:8") &&
                                Catch::Contains(fmt::format("objective '{}' needs", objective)) &&
                                Catch::Contains(fmt::format("architecture '{}'", family)));
        for (const auto& ok : compatible) CHECK_THAT(message, Catch::Contains(ok));
      }
    }
  }
  CHECK(refused >= 14);
}

}  // namespace objectives_tests
