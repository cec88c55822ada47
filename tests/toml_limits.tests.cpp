// Size and nesting limits on TOML documents: no experiment file or --set value may crash the
// parser (issue 20, case 3), whatever its depth.
#include "support/catch.hpp"

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "experiment/config.hpp"
#include "experiment/toml_limits.hpp"
#include "support/config_fixtures.hpp"
#include "support/test_support.hpp"

namespace toml_limits_tests {

using Catch::Contains;
using lmlab::test::config_error_of;
using lmlab::test::TempDir;
using lmlab::test::write_file;

namespace {

// "a.a.a" with `n` parts.
std::string dotted(std::size_t n, const std::string& part = "a") {
  std::string out = part;
  for (std::size_t i = 1; i < n; ++i) out += "." + part;
  return out;
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string load_error(const std::string& text) {
  const TempDir dir;
  write_file(dir / "exp.toml", text);
  return config_error_of([&] { lmlab::load_experiment_file(dir / "exp.toml"); });
}

void loads(const std::string& text) {
  const TempDir dir;
  write_file(dir / "exp.toml", text);
  CHECK_NOTHROW(lmlab::load_experiment_file(dir / "exp.toml"));
}

}  // namespace

TEST_CASE("a 40,000-level dotted key or table header is refused with its line and the limit, not a crash",
          "[config]") {
  const std::string key = load_error("# deep\n" + dotted(40000) + " = 1\n");
  CHECK_THAT(key, Contains("exp.toml:2:") && Contains("nested deeper than 64 levels") && Contains("at most 64"));
  const std::string header = load_error("x = 1\n\n[" + dotted(40000) + "]\nb = 2\n");
  CHECK_THAT(header, Contains("exp.toml:3:") && Contains("nested deeper than 64"));
  CHECK_THAT(load_error("[[" + dotted(40000) + "]]\n"), Contains("nested deeper than 64"));
}

TEST_CASE("deeply nested arrays and inline tables are refused before the parser", "[config]") {
  CHECK_THAT(load_error("a = " + repeat("[", 40000) + repeat("]", 40000) + "\n"), Contains("nested deeper than 64"));
  CHECK_THAT(load_error("a = " + repeat("{b=", 40000) + "1" + repeat("}", 40000) + "\n"),
             Contains("nested deeper than 64"));
  // Header, dotted keys and inline tables add up: 30 + 20 + 20 levels.
  CHECK_THAT(load_error("[" + dotted(30) + "]\n" + dotted(20, "b") + " = { " + dotted(20, "c") + " = 1 }\n"),
             Contains("exp.toml:2:") && Contains("nested deeper than 64"));
  CHECK_THAT(load_error("a = [\n  1,\n  " + repeat("[", 70) + repeat("]", 70) + "\n]\n"), Contains("exp.toml:3:"));
}

TEST_CASE("nesting up to the limit loads, and brackets, dots and quotes inside strings or comments do not count",
          "[config]") {
  loads(dotted(64) + " = 1\n");
  loads("[" + dotted(60) + "]\n" + dotted(4, "b") + " = 1\n");
  loads("a = " + repeat("[", 63) + repeat("]", 63) + "\n");
  loads("a = " + repeat("{b=", 63) + "1" + repeat("}", 63) + "\n");
  const std::string noise = repeat("[{.", 100);
  loads("\"" + dotted(200) + "\" = '" + noise + "'\n# " + noise + "\nb = \"\\\"" + noise + "\"\n");
  loads("c = \"\"\"\n" + noise + "\n\"\"\"\"\nd = '''" + noise + "'''\n[e]\nf = [1.5, 2.5, {g = 1.25}]\n");
}

TEST_CASE("a file larger than the size limit is refused before it is read", "[config]") {
  const std::string big = "# " + std::string(lmlab::max_toml_bytes, 'x') + "\n";
  CHECK_THAT(load_error(big), Contains("too large for an experiment file") && Contains("at most 4 MiB"));
  CHECK_THAT(config_error_of([&] { lmlab::check_toml_limits(big, "text.toml"); }),
             Contains("text.toml") && Contains("too large"));
}

TEST_CASE("--set refuses a 40,000-part key path and a deeply nested value", "[config]") {
  toml::table config;
  const std::string path = config_error_of([&] { lmlab::apply_overrides(config, {dotted(40000) + "=1"}); });
  CHECK_THAT(path, Contains("--set") && Contains("40000 parts") && Contains("at most 64"));
  CHECK(path.size() < 1000);
  // A value too deep for its key path is not TOML lmlab accepts, so it is read as a string.
  lmlab::apply_overrides(config, {dotted(10) + "=" + repeat("[", 60) + repeat("]", 60)});
  CHECK(config.at_path(dotted(10)).is_string());
  lmlab::apply_overrides(config, {"x.y=" + repeat("[", 40) + repeat("]", 40)});
  CHECK(config.at_path("x.y").is_array());
}

}  // namespace toml_limits_tests
