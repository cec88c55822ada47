// The registry: named factories per kind, duplicates, wrong kinds, unknown names, and the
// wrapper that re-throws plugin failures with the plugin's name.
#include "support/catch.hpp"

#include <ATen/ATen.h>

#include "lmlab/plugin.hpp"
#include "lmlab/plugin_call.hpp"

namespace registry_tests {

namespace {

struct StepOptions {
  double scale = 2.0;
};

class Scale final : public lmlab::DecodingStep {
 public:
  explicit Scale(double s) : scale_(s) {}
  std::string name() const override { return "scale"; }
  void apply(lmlab::DecodeState& state) override { state.logits.mul_(scale_); }
  std::shared_ptr<lmlab::DecodingStep> clone() const override { return std::make_shared<Scale>(*this); }
  double scale() const { return scale_; }

 private:
  double scale_;
};

lmlab::OptionSet<StepOptions> step_options() {
  return lmlab::OptionSet<StepOptions>{}.add("scale", &StepOptions::scale, "multiplier", {.min = 0.0});
}

void add_scale(lmlab::Registrar& r, const std::string& name) {
  r.add<lmlab::DecodingStep>(name, "scales logits", step_options(),
                             [](const StepOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<Scale>(o.scale);
                             });
}

}  // namespace

TEST_CASE("registered plugins are found by kind and name, with their options described") {
  lmlab::Registry registry;
  lmlab::Registrar r(registry, "libtest.so");
  add_scale(r, "scale");
  const auto& f = registry.get<lmlab::DecodingStep>("scale");
  CHECK(f.info.kind == "decoding");
  CHECK(f.info.library == "libtest.so");
  REQUIRE(f.info.options.size() == 1);
  CHECK(f.info.options[0].name == "scale");
  CHECK(f.info.options[0].type == "float");
  CHECK(f.info.options[0].default_value == "2.0");

  toml::table user;
  user.insert("scale", 3.0);
  const toml::table resolved = lmlab::resolve_plugin<lmlab::DecodingStep>(registry, "scale", user, "decoding.scale");
  auto step = lmlab::make_plugin<lmlab::DecodingStep>(registry, "scale", resolved, {});
  CHECK(std::dynamic_pointer_cast<Scale>(step)->scale() == 3.0);
  // Defaults fill in what the user left out.
  const toml::table defaults = lmlab::resolve_plugin<lmlab::DecodingStep>(registry, "scale", {}, "decoding.scale");
  CHECK(defaults["scale"].value<double>() == 2.0);
}

TEST_CASE("a duplicate name in one kind is rejected, naming both libraries") {
  lmlab::Registry registry;
  lmlab::Registrar first(registry, "liba.so");
  lmlab::Registrar second(registry, "libb.so");
  add_scale(first, "scale");
  REQUIRE_THROWS_AS(add_scale(second, "scale"), lmlab::PluginError);
  REQUIRE_THROWS_WITH(add_scale(second, "scale"), Catch::Contains("duplicate decoding plugin 'scale'") &&
                                                      Catch::Contains("liba.so") && Catch::Contains("libb.so"));
}

TEST_CASE("an unknown name lists the known ones and the closest match") {
  lmlab::Registry registry;
  lmlab::Registrar r(registry, "libtest.so");
  add_scale(r, "scale");
  add_scale(r, "shift");
  REQUIRE_THROWS_WITH(registry.get<lmlab::DecodingStep>("scael"),
                      Catch::Contains("unknown decoding step 'scael'") && Catch::Contains("did you mean 'scale'") &&
                          Catch::Contains("known decoding step plugins: scale, shift"));
  REQUIRE_THROWS_WITH(registry.get<lmlab::Architecture>("gpt"), Catch::Contains("no architecture plugins are loaded"));
}

TEST_CASE("a name of another kind is reported as that kind") {
  lmlab::Registry registry;
  lmlab::Registrar r(registry, "libtest.so");
  add_scale(r, "scale");
  REQUIRE_THROWS_AS(registry.get<lmlab::Objective>("scale"), lmlab::PluginError);
  REQUIRE_THROWS_WITH(registry.get<lmlab::Objective>("scale"),
                      Catch::Contains("'scale' is a decoding plugin (from libtest.so), not an objective"));
}

TEST_CASE("bad options are configuration errors; other plugin failures name the plugin") {
  lmlab::Registry registry;
  lmlab::Registrar r(registry, "libtest.so");
  add_scale(r, "scale");
  toml::table bad;
  bad.insert("scale", -1.0);
  REQUIRE_THROWS_AS(lmlab::resolve_plugin<lmlab::DecodingStep>(registry, "scale", bad, "decoding.scale"),
                    lmlab::ConfigError);

  const auto& info = registry.get<lmlab::DecodingStep>("scale").info;
  auto failing = [] { throw std::runtime_error("tensor shapes differ"); };
  REQUIRE_THROWS_AS(lmlab::plugin_call(info, "apply", failing), lmlab::PluginError);
  REQUIRE_THROWS_WITH(lmlab::plugin_call(info, "apply", failing),
                      "decoding 'scale' (libtest.so) failed during apply: tensor shapes differ");
  CHECK(lmlab::plugin_call(info, "apply", [] { return 7; }) == 7);
}

TEST_CASE("all() lists every plugin, by kind then name") {
  lmlab::Registry registry;
  lmlab::Registrar r(registry, "libtest.so");
  add_scale(r, "b_step");
  add_scale(r, "a_step");
  const auto all = registry.all();
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "a_step");
  CHECK(all[1].name == "b_step");
}

}  // namespace registry_tests
