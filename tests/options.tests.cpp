// OptionSet and its readers: every error names file:line:column, the key path and what is accepted.
#include "support/catch.hpp"

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "lmlab/error.hpp"
#include "lmlab/options.hpp"

namespace options_tests {

using Catch::Contains;
using namespace std::string_view_literals;

namespace {

struct Toy {
  std::int64_t layers = 2;
  double lr = 1e-3;
  bool tied = false;
  std::string act = "gelu";
  std::vector<std::string> tags;
  std::vector<double> ratios{0.5};
  std::int64_t d_model = 64;
  std::int64_t n_heads = 4;
};

lmlab::OptionSet<Toy> toy_options() {
  return lmlab::OptionSet<Toy>()
      .add("layers", &Toy::layers, "blocks", lmlab::Limits{.min = 1, .max = 48})
      .add("lr", &Toy::lr, "learning rate", lmlab::Limits{.min = 0.0, .exclusive_min = true})
      .add("tied", &Toy::tied, "tie embeddings")
      .add("act", &Toy::act, "activation", {"gelu", "relu", "swiglu"})
      .add("tags", &Toy::tags, "labels")
      .add("ratios", &Toy::ratios, "fractions", lmlab::Limits{.min = 0.0, .max = 1.0})
      .add("d_model", &Toy::d_model, "width", lmlab::Limits{.min = 1})
      .add("n_heads", &Toy::n_heads, "heads", lmlab::Limits{.min = 1})
      .check("d_model must be divisible by n_heads", [](const Toy& t) { return t.d_model % t.n_heads == 0; });
}

toml::table parse(std::string_view text) { return toml::parse(text, "exp.toml"sv); }

// The message of the ConfigError `f` throws; fails the test for any other outcome.
template <class F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const lmlab::ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected a ConfigError, got: " << e.what());
  }
  FAIL("expected a ConfigError, nothing was thrown");
  return {};
}

std::string parse_error_of(std::string_view text) {
  return config_error_of([&] { toy_options().parse(parse(text), "model"); });
}

}  // namespace

TEST_CASE("where() gives file:line:column, --set, or says it does not know", "[options]") {
  const toml::table doc = parse("a = 1\n[model]\n  layers = 3\n");
  CHECK(lmlab::where(*doc.get("a")) == "exp.toml:1:5");
  CHECK(lmlab::where(*doc.at_path("model.layers").node()) == "exp.toml:3:12");

  const toml::table from_set = toml::parse("v = 2"sv, "--set"sv);
  CHECK(lmlab::where(*from_set.get("v")) == "--set");

  const toml::value<std::int64_t> made(4);
  CHECK(lmlab::where(made) == "<unknown position>");
}

TEST_CASE("config_error formats location, key path, message and what is accepted", "[options]") {
  const toml::table doc = parse("\n\nlr = -1\n");
  CHECK(config_error_of([&] { lmlab::config_error(doc.get("lr"), "train.lr", "too small", "> 0"); }) ==
        "exp.toml:3:6: train.lr: too small; accepted: > 0");
  CHECK(config_error_of([] { lmlab::config_error(nullptr, "train.lr", "too small"); }) == "train.lr: too small");
  CHECK(config_error_of([] { lmlab::config_error_at("--set", "", "bad"); }) == "--set: bad");
}

TEST_CASE("key_path joins keys and quotes those that are not bare", "[options]") {
  CHECK(lmlab::detail::is_bare_key("n_layers"));
  CHECK(lmlab::detail::is_bare_key("Key-2"));
  CHECK_FALSE(lmlab::detail::is_bare_key(""));
  CHECK_FALSE(lmlab::detail::is_bare_key("model.n_layers"));
  CHECK_FALSE(lmlab::detail::is_bare_key("a b"));
  CHECK_FALSE(lmlab::detail::is_bare_key("caf\xc3\xa9"));
  CHECK(lmlab::key_path("", "a b") == "\"a b\"");
  CHECK(lmlab::key_path("", "model") == "model");
  CHECK(lmlab::key_path("model", "n_layers") == "model.n_layers");
  CHECK(lmlab::key_path("sweep.grid", "model.n_layers") == "sweep.grid.\"model.n_layers\"");
}

TEST_CASE("OptionSet fills defaults and reads every type", "[options]") {
  const Toy defaults = toy_options().parse(parse(""), "model");
  CHECK(defaults.layers == 2);
  CHECK(defaults.act == "gelu");
  CHECK(defaults.ratios == std::vector<double>{0.5});

  const Toy t = toy_options().parse(parse(R"(layers = 6
lr = 3            # integers are accepted where a float is expected
tied = true
act = "swiglu"
tags = ["a", "b"]
ratios = [0, 0.25, 1]
)"),
                                    "model");
  CHECK(t.layers == 6);
  CHECK(t.lr == 3.0);
  CHECK(t.tied);
  CHECK(t.act == "swiglu");
  CHECK(t.tags == std::vector<std::string>{"a", "b"});
  CHECK(t.ratios == std::vector<double>{0.0, 0.25, 1.0});
}

TEST_CASE("to_toml writes every field and describe() shows defaults and limits", "[options]") {
  const toml::table out = toy_options().to_toml(Toy{});
  CHECK(out.size() == 8);
  CHECK(out["layers"].value<std::int64_t>() == 2);
  CHECK(out["lr"].value<double>() == 1e-3);
  CHECK(out["ratios"].as_array()->size() == 1);

  const auto info = toy_options().describe();
  REQUIRE(info.size() == 8);
  CHECK(info[0].name == "layers");
  CHECK(info[0].type == "integer");
  CHECK(info[0].default_value == "2");
  CHECK(info[0].accepted == ">= 1 and <= 48");
  CHECK(info[1].default_value == "0.001");
  CHECK(info[1].accepted == "> 0");
  CHECK(info[3].accepted == "gelu, relu, swiglu");
  CHECK(info[3].default_value == "\"gelu\"");
  CHECK(info[5].default_value == "[0.5]");
}

TEST_CASE("an unknown key names its position, the closest key and what is accepted", "[options]") {
  const std::string message = parse_error_of("layers = 2\n\nlayres = 4\n");
  CHECK_THAT(message, Contains("exp.toml:3:1: model.layres: unknown key") && Contains("did you mean 'layers'?") &&
                          Contains("accepted: act, d_model, layers, lr, n_heads, ratios, tags, tied"));
  CHECK_THAT(parse_error_of("zzzzzz = 1\n"), !Contains("did you mean"));
}

TEST_CASE("reserved keys are skipped and listed as accepted", "[options]") {
  const toml::table doc = parse("name = \"x\"\nlayers = 3\n");
  CHECK(toy_options().parse(doc, "regulariser", {"name"}).layers == 3);
  const std::string message =
      config_error_of([&] { toy_options().parse(parse("nmae = 1\n"), "regulariser", {"name"}); });
  CHECK_THAT(message,
             Contains("regulariser.nmae") && Contains("did you mean 'name'?") && Contains("n_heads, name, ratios"));
}

TEST_CASE("a value of the wrong type names expected and actual type", "[options]") {
  CHECK_THAT(parse_error_of("layers = \"four\""),
             Contains("exp.toml:1:10: model.layers: expected an integer, got string \"four\""));
  CHECK_THAT(parse_error_of("layers = 2.5"), Contains("model.layers: expected an integer, got float 2.5"));
  CHECK_THAT(parse_error_of("lr = \"fast\""), Contains("model.lr: expected a float, got string \"fast\""));
  CHECK_THAT(parse_error_of("tied = 1"), Contains("model.tied: expected a boolean, got integer 1"));
  CHECK_THAT(parse_error_of("act = 3"), Contains("model.act: expected a string, got integer 3"));
  CHECK_THAT(parse_error_of("tags = \"a\""), Contains("model.tags: expected an array of strings, got string"));
  CHECK_THAT(parse_error_of("tags = [\"a\", 2]"), Contains("exp.toml:1:14: model.tags[1]: expected a string"));
  CHECK_THAT(parse_error_of("ratios = [0.5, true]"), Contains("model.ratios[1]: expected a float, got boolean"));
}

TEST_CASE("an out-of-range value is quoted with the accepted range", "[options]") {
  CHECK(parse_error_of("layers = 0") == "exp.toml:1:10: model.layers: 0 is out of range; accepted: >= 1 and <= 48");
  CHECK_THAT(parse_error_of("layers = 49"), Contains("49 is out of range"));
  CHECK_THAT(parse_error_of("lr = 0"), Contains("model.lr: 0.0 is out of range; accepted: > 0"));
  CHECK_THAT(parse_error_of("lr = -1e-5"), Contains("-1e-05 is out of range"));
  CHECK_THAT(parse_error_of("lr = nan"), Contains("nan is out of range"));
  CHECK_THAT(parse_error_of("ratios = [0.5, 1.5]"),
             Contains("model.ratios[1]: 1.5 is out of range; accepted: >= 0 and <= 1"));
}

TEST_CASE("a bounded float option refuses inf, -inf and nan as not finite, naming key, line and range",
          "[options]") {
  CHECK(parse_error_of("lr = inf") ==
        "exp.toml:1:6: model.lr: inf is out of range: not a finite number; accepted: finite and > 0");
  CHECK_THAT(parse_error_of("lr = +inf"), Contains("model.lr: inf is out of range: not a finite number"));
  CHECK_THAT(parse_error_of("lr = -inf"), Contains("-inf is out of range: not a finite number"));
  CHECK_THAT(parse_error_of("lr = nan"), Contains("accepted: finite and > 0"));
  CHECK_THAT(parse_error_of("ratios = [0.5, inf]"),
             Contains("exp.toml:1:16: model.ratios[1]: inf is out of range: not a finite number; accepted: finite and "
                      ">= 0 and <= 1"));
}

TEST_CASE("a string outside its choices lists them and suggests the closest", "[options]") {
  CHECK(parse_error_of("act = \"relu2\"") ==
        "exp.toml:1:7: model.act: unknown value \"relu2\" (did you mean 'relu'?); accepted: gelu, relu, swiglu");
}

TEST_CASE("a failed cross-field check points at the table", "[options]") {
  CHECK_THAT(parse_error_of("d_model = 65\nn_heads = 4\n"), Contains("model: d_model must be divisible by n_heads"));
  CHECK_NOTHROW(toy_options().parse(parse("d_model = 64\nn_heads = 8\n"), "model"));
}

TEST_CASE("describe_limits and format_float", "[options]") {
  using lmlab::detail::describe_limits;
  using lmlab::detail::format_float;
  CHECK(describe_limits({}).empty());
  CHECK(describe_limits({.min = 8}) == ">= 8");
  CHECK(describe_limits({.max = 1, .exclusive_max = true}) == "< 1");
  CHECK(describe_limits({.min = 0, .max = 1, .exclusive_max = true}) == ">= 0 and < 1");
  CHECK(describe_limits({.min = 0.5}) == ">= 0.5");

  CHECK(format_float(1.0) == "1.0");
  CHECK(format_float(0.001) == "0.001");
  CHECK(format_float(3e-4) == "0.0003");
  CHECK(format_float(1e-8) == "1e-08");
  CHECK(format_float(-2.0) == "-2.0");
  // Every rendering must read back as a TOML float with the same value.
  for (double v : {1.0, 0.1, 3e-4, 1e-8, 123456789.125, 1e300}) {
    const toml::table doc = toml::parse("v = " + format_float(v));
    CHECK(doc["v"].is_floating_point());
    CHECK(doc["v"].value<double>() == v);
  }
}

TEST_CASE("SourcedCopy drops keys and keeps the original's positions", "[options]") {
  const toml::table doc = parse("[model]\narch = \"x\"\nlayers = 3\nsub = { k = [1, 2] }\n");
  const toml::table& model = *doc["model"].as_table();

  // Why SourcedCopy exists: a plain toml++ copy forgets where its nodes came from.
  const toml::table plain = model;
  CHECK(lmlab::where(*plain.get("layers")) == "<unknown position>");

  const lmlab::SourcedCopy copy(model, {"arch"});
  CHECK_FALSE(copy.table().contains("arch"));
  CHECK(lmlab::where(*copy.table().get("layers")) == "exp.toml:3:10");
  CHECK(lmlab::where(*copy.table().at_path("sub.k[1]").node()) == "exp.toml:4:17");
  CHECK_THAT(config_error_of([&] { toy_options().parse(copy.table(), "model"); }),
             Contains("exp.toml:4:1: model.sub: unknown key"));
}

namespace {

struct Base {
  std::int64_t width = 8;
  std::string norm = "layernorm";
};

struct Derived : Base {
  bool extra = false;
  std::string preset = "none";
};

lmlab::OptionSet<Derived> preset_options() {
  lmlab::OptionSet<Base> base;
  base.add("width", &Base::width, "width", lmlab::Limits{.min = 1})
      .add("norm", &Base::norm, "norm", {"layernorm", "rmsnorm"})
      .check("width must be even", [](const Base& b) { return b.width % 2 == 0; });
  lmlab::OptionSet<Derived> set;
  set.add("extra", &Derived::extra, "extra").merge_base(base);
  set.presets("preset", &Derived::preset, "a preset",
              {{"small", "a small one", toml::table{{"width", 4}, {"norm", "rmsnorm"}}},
               {"flagged", "sets extra", toml::table{{"extra", true}}}});
  return set;
}

}  // namespace

TEST_CASE("options: a base class's options are declared once and merged", "[options]") {
  const auto set = preset_options();
  CHECK(set.names() == std::vector<std::string>{"extra", "width", "norm", "preset"});
  const Derived d = set.parse(parse("width = 6\nextra = true"), "model");
  CHECK(d.width == 6);
  CHECK(d.extra);
  // The base's checks come along.
  CHECK_THAT(config_error_of([&] { set.parse(parse("width = 5"), "model"); }), Contains("width must be even"));
}

TEST_CASE("options: a preset applies over the defaults and under the table's own keys", "[options]") {
  const auto set = preset_options();
  const Derived small = set.parse(parse("preset = \"small\""), "model");
  CHECK(small.width == 4);
  CHECK(small.norm == "rmsnorm");
  CHECK_FALSE(small.extra);
  const Derived overridden = set.parse(parse("preset = \"small\"\nwidth = 10"), "model");
  CHECK(overridden.width == 10);
  CHECK(overridden.norm == "rmsnorm");
  // The resolved table names the preset and every value, and parses back to the same options.
  const toml::table resolved = set.to_toml(overridden);
  CHECK(resolved["preset"].value<std::string>() == "small");
  CHECK(set.to_toml(set.parse(resolved, "model")) == resolved);
  CHECK_THAT(config_error_of([&] { set.parse(parse("preset = \"smal\""), "model"); }),
             Contains("exp.toml:1:10: model.preset: unknown value \"smal\" (did you mean 'small'?)") &&
                 Contains("accepted: none, small, flagged"));
  const auto described = set.describe_presets();
  REQUIRE(described.size() == 2);
  CHECK(described[0].settings == "norm = \"rmsnorm\", width = 4");
}

TEST_CASE("options: a preset that sets an undeclared option is a programming error", "[options]") {
  lmlab::OptionSet<Derived> set;
  set.add("extra", &Derived::extra, "extra");
  CHECK_THROWS_WITH(set.presets("preset", &Derived::preset, "p", {{"bad", "", toml::table{{"depth", 3}}}}),
                    Contains("preset 'bad' sets 'depth', which is not a declared option"));
}

}  // namespace options_tests
