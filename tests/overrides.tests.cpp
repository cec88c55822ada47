// `--set section.key=value` overrides: how values are read, where they report coming from, and
// how malformed ones are rejected.
#include "support/catch.hpp"

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "experiment/config.hpp"
#include "support/config_fixtures.hpp"
#include "support/test_support.hpp"

namespace overrides_tests {

using Catch::Contains;
using lmlab::test::config_error_of;
using lmlab::test::make_registry;
using lmlab::test::minimal;
using lmlab::test::resolve;
using lmlab::test::resolve_error;
using lmlab::test::TempDir;

TEST_CASE("--set overrides numbers, strings, bare words and nested keys", "[overrides]") {
  const TempDir dir;
  const lmlab::Experiment e =
      resolve(dir, minimal,
              {"model.n_layers=4", "train.lr = 3e-4", "experiment.name=\"quoted name\"", "train.schedule=linear",
               "experiment.device=cuda:0", "experiment.seed=3", "decoding.chain=[\"temperature\", \"sample\"]",
               "decoding.temperature.value=0.7", "train.decay_embeddings=true"});
  CHECK(e.model.options["n_layers"].value<std::int64_t>() == 4);
  CHECK(e.train.lr == 3e-4);
  CHECK(e.experiment.name == "quoted name");
  CHECK(e.train.schedule == "linear");
  CHECK(e.experiment.device == "cuda:0");
  CHECK(e.experiment.seed == 3);
  CHECK(e.train.decay_embeddings);
  REQUIRE(e.decoding.size() == 2);
  CHECK(e.decoding[0].options["value"].value<double>() == 0.7);

  toml::table config;
  lmlab::apply_overrides(config, {"a.b=1", "a.b=2", "word=hello world"});
  CHECK(config["a"]["b"].value<std::int64_t>() == 2);
  CHECK(config["word"].value<std::string>() == "hello world");
}

TEST_CASE("values from --set are reported as coming from --set", "[overrides]") {
  CHECK_THAT(resolve_error(minimal, {"model.n_layers=0"}), Contains("--set: model.n_layers: 0 is out of range"));
  CHECK_THAT(resolve_error(minimal, {"model.d_modle=64"}),
             Contains("--set: model.d_modle: unknown key (did you mean 'd_model'?)"));
  CHECK_THAT(resolve_error(minimal, {"modle.n_layers=2"}), Contains("--set: modle: unknown section"));
  CHECK_THAT(resolve_error(minimal, {"train.steps=many"}),
             Contains("--set: train.steps: expected an integer, got string \"many\""));
}

TEST_CASE("malformed overrides are rejected, quoting them", "[overrides]") {
  toml::table config = toml::parse("[model]\nn_layers = 2\n");
  CHECK(config_error_of([&] { lmlab::apply_overrides(config, {"model.n_layers"}); }) ==
        "--set: 'model.n_layers': expected section.key=value");
  CHECK_THAT(config_error_of([&] { lmlab::apply_overrides(config, {"=3"}); }), Contains("'=3'") && Contains("empty"));
  CHECK_THAT(config_error_of([&] { lmlab::apply_overrides(config, {"model..x=3"}); }), Contains("'model..x=3'"));
  CHECK_THAT(config_error_of([&] { lmlab::apply_overrides(config, {"model.n_layers="}); }), Contains("value is empty"));
  CHECK_THAT(config_error_of([&] { lmlab::apply_overrides(config, {"model.n_layers.x=3"}); }),
             Contains("'model.n_layers.x=3': model.n_layers") && Contains("is not a table"));

  // Where the key path is well formed, the message leads with it, as every other config error does.
  CHECK(config_error_of([&] { lmlab::apply_overrides(config, {"model.n_layers= "}); }) ==
        "--set: model.n_layers: 'model.n_layers= ': the value is empty (write key=\"\" for an empty string)");
  CHECK(config_error_of([&] { lmlab::apply_overrides(config, {"model.n_layers.x=3"}); }) ==
        "--set: model.n_layers.x: 'model.n_layers.x=3': model.n_layers (<input>:2:12) is not a table");
}

}  // namespace overrides_tests
