// The run's tokenizer as the host builds it from an experiment: data.tokenizer names the plugin,
// [tokenizer] holds its options; errors name the key and its line; the identity joins the run id
// and is checked against what a checkpoint recorded; objectives take their special ids from it.
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "experiment/experiment_loader.hpp"
#include "lmlab/error.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "plugin_host/run_tokenizer.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace run_tokenizer_tests {

namespace {

const char* experiment_text = R"([experiment]
name = "tok"

[data]
tokenizer = "byte"

[model]
arch = "causal_decoder"

[objective]
name = "causal_lm"
)";

std::vector<lmlab::Experiment> load(const std::string& text, const std::vector<std::string>& overrides = {}) {
  lmlab::test::TempDir dir;
  lmlab::test::write_file(dir / "tok.toml", text);
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  return lmlab::load_runs(dir / "tok.toml", overrides, loader, registry);
}

// Ids unlike the byte tokenizer's, so a test sees whose ids an objective used.
class ShiftedTokenizer final : public lmlab::Tokenizer {
 public:
  ShiftedTokenizer() {
    special_.pad = 0, special_.bos = 1, special_.eos = 2, special_.mask = 3;
    special_.first_sentinel = 4, special_.n_sentinels = 10;
    special_.ordinary_begin = 14, special_.ordinary_end = 64;
  }
  std::vector<std::int64_t> encode(std::string_view text) const override {
    std::vector<std::int64_t> ids;
    for (const char c : text) ids.push_back(14 + (static_cast<unsigned char>(c) % 50));
    return ids;
  }
  std::string decode(std::span<const std::int64_t> ids) const override { return std::string(ids.size(), 'x'); }
  std::int64_t vocab_size() const override { return 64; }
  const lmlab::SpecialIds& special() const override { return special_; }
  std::string piece(std::int64_t id) const override { return std::to_string(id); }
  std::string identity() const override { return "shifted:v1"; }

 private:
  lmlab::SpecialIds special_;
};

}  // namespace

TEST_CASE("run tokenizer: the experiment's tokenizer is built, recorded and part of the run id", "[tokenizer]") {
  const auto runs = load(experiment_text);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].tokenizer.name == "byte");
  CHECK(runs[0].tokenizer_identity == "byte:v1");
  CHECK(runs[0].vocab_size == lmlab::ByteTokenizer::byte_vocab_size);
  const auto& hashes = runs[0].plugin_hashes;
  CHECK(std::find(hashes.begin(), hashes.end(), "tokenizer-identity byte:v1") != hashes.end());
  // The byte tokenizer has no options: its experiments keep the config (and hash) they had.
  CHECK_FALSE(runs[0].resolved.contains("tokenizer"));
}

TEST_CASE("run tokenizer: an unknown tokenizer or option is a config error naming the key and line", "[tokenizer]") {
  std::string unknown = experiment_text;
  unknown.replace(unknown.find("\"byte\""), 6, "\"bytes\"");
  CHECK_THROWS_AS(load(unknown), lmlab::ConfigError);
  CHECK_THROWS_WITH(load(unknown), Catch::Matchers::Contains("data.tokenizer") && Catch::Matchers::Contains("tok.toml:5") &&
                           Catch::Matchers::Contains("byte"));
  const std::string option = std::string(experiment_text) + "\n[tokenizer]\nvocab = 3\n";
  CHECK_THROWS_AS(load(option), lmlab::ConfigError);
  CHECK_THROWS_WITH(load(option), Catch::Matchers::Contains("tokenizer.vocab") && Catch::Matchers::Contains("tok.toml:14"));
}

TEST_CASE("run tokenizer: a tokenizer whose files changed is refused, naming both identities", "[tokenizer]") {
  const lmlab::ByteTokenizer byte;
  lmlab::PluginChoice choice{"byte", {}, {}};
  CHECK_NOTHROW(lmlab::check_tokenizer_identity(byte, "byte:v1", "checkpoint c.ckpt", choice));
  CHECK_NOTHROW(lmlab::check_tokenizer_identity(byte, "", "an old checkpoint", choice));  // recorded none
  CHECK_THROWS_AS(lmlab::check_tokenizer_identity(byte, "byte:v0", "checkpoint c.ckpt", choice), lmlab::DataError);
  CHECK_THROWS_WITH(lmlab::check_tokenizer_identity(byte, "byte:v0", "checkpoint c.ckpt", choice),
                       Catch::Matchers::Contains("checkpoint c.ckpt") && Catch::Matchers::Contains("byte:v0") &&
                           Catch::Matchers::Contains("byte:v1"));
}

TEST_CASE("run tokenizer: objectives take pad, bos, eos, mask and sentinels from the run's tokenizer", "[tokenizer]") {
  const ShiftedTokenizer tokenizer;
  const lmlab::Registry& registry = lmlab::test::builtin_plugins();
  const lmlab::ObjectiveContext context{tokenizer.vocab_size(), &tokenizer, {}};
  const auto model = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options(), tokenizer.vocab_size(), 64);
  at::manual_seed(5);
  const at::Tensor block = at::randint(14, 64, {2, 33}, at::kLong);  // (B, T+1) ordinary ids only
  auto span = lmlab::make_plugin<lmlab::Objective>(registry, "span_corruption", toml::table{}, context);
  const lmlab::LossOutput out = span->compute(*model, block);
  const at::Tensor targets = out.targets;  // (B, L') sentinels 4..13 and eos 2, never the byte tokenizer's
  const at::Tensor scored = targets.masked_select(targets.ne(lmlab::ignore_index));
  CHECK(scored.lt(64).all().item<bool>());
  CHECK(scored.ge(4).logical_and(scored.lt(14)).any().item<bool>());
  CHECK(scored.eq(2).any().item<bool>());
  auto masked = lmlab::make_plugin<lmlab::Objective>(registry, "masked_lm", toml::table{}, lmlab::ObjectiveContext{
      tokenizer.vocab_size(), &tokenizer, {}});
  (void)masked;  // built: its mask id 3 is within the vocabulary
  const lmlab::ByteTokenizer byte;
  CHECK_THROWS(lmlab::make_plugin<lmlab::Objective>(registry, "masked_lm", toml::table{},
                                                    lmlab::ObjectiveContext{200, &byte, {}}));  // mask 259 >= 200
}

}  // namespace run_tokenizer_tests
