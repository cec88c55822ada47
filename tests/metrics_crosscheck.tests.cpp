// The generation metric plugins against tests/metrics_reference.py, an independent Python
// implementation written from the papers' definitions (checked once, outside this suite, against
// NLTK's sentence_bleu, scipy's linregress and degen's loop rule, which the papers' code uses), on
// the continuations of tests/data/metric_generations.txt: every value must agree to 1e-9, with the
// default options and with others. Needs python3 (the standard library only); without it the test
// fails, saying so.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "generated/test_paths.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace metrics_crosscheck_tests {

using lmlab::Metric;

namespace {

const std::vector<std::string> metric_names{"seq_rep", "uniq_seq", "distinct", "rep_loop", "zipf", "self_bleu"};

/// One option override, given to the plugin and, as `plugin.key=value`, to the script.
struct Override {
  std::string plugin, key;
  std::int64_t value = 0;
};

std::string source_path(const std::string& relative) {
  return std::string(lmlab::test_paths::source_dir) + "/" + relative;
}

std::vector<std::vector<std::int64_t>> read_generations(const std::string& file) {
  std::ifstream in(file);
  REQUIRE(in.good());
  std::vector<std::vector<std::int64_t>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::int64_t> ids;
    for (std::int64_t id = 0; words >> id;) ids.push_back(id);
    REQUIRE(words.eof());  // whole line read: ids only
    out.push_back(ids);
  }
  return out;
}

/// Runs the reference script; its `name value` lines as a map. Fails the test when python3 is
/// missing or the script fails.
std::map<std::string, double> reference_values(const std::string& file, const std::vector<Override>& overrides) {
  if (lmlab::test::run_command("command -v python3").exit_code != 0) {
    FAIL("python3 is not installed: run ./scripts/install-deps (Debian package python3)");
  }
  std::string command = "python3 '" + source_path("tests/metrics_reference.py") + "' '" + file + "'";
  for (const auto& o : overrides) command += " " + o.plugin + "." + o.key + "=" + std::to_string(o.value);
  const lmlab::test::CommandResult run = lmlab::test::run_command(command);
  INFO(command << "\n" << run.output);
  REQUIRE(run.exit_code == 0);
  std::map<std::string, double> values;
  std::istringstream lines(run.output);
  for (std::string name, value; lines >> name >> value;) values[name] = std::stod(value);  // "nan" too
  REQUIRE_FALSE(values.empty());
  return values;
}

std::map<std::string, double> plugin_values(const std::vector<std::vector<std::int64_t>>& texts,
                                            const std::vector<Override>& overrides) {
  std::int64_t max_id = -1;
  for (const auto& ids : texts) {
    for (std::int64_t id : ids) max_id = std::max(max_id, id);
  }
  lmlab::GeneratedText text;
  text.unit = "tokens";
  text.prompts.resize(texts.size());
  text.continuations = texts;
  text.vocab_size = max_id + 1;

  const lmlab::Registry& plugins = lmlab::test::builtin_plugins();
  std::map<std::string, double> values;
  for (const std::string& name : metric_names) {
    toml::table options;
    for (const auto& o : overrides) {
      if (o.plugin == name) options.insert_or_assign(o.key, o.value);
    }
    const toml::table resolved = lmlab::resolve_plugin<Metric>(plugins, name, options, "metrics." + name);
    const auto metric = lmlab::make_plugin<Metric>(plugins, name, resolved, lmlab::MetricContext{text.vocab_size});
    for (const lmlab::MetricValue& v : metric->generated(text)) values[v.name] = v.value;
  }
  return values;
}

void check_against_reference(const std::vector<Override>& overrides) {
  const std::string file = source_path("tests/data/metric_generations.txt");
  const auto texts = read_generations(file);
  REQUIRE(texts.size() == 12);
  const auto want = reference_values(file, overrides);
  const auto got = plugin_values(texts, overrides);
  std::vector<std::string> want_names, got_names;
  for (const auto& [name, value] : want) want_names.push_back(name);
  for (const auto& [name, value] : got) got_names.push_back(name);
  CHECK(got_names == want_names);
  for (const auto& [name, value] : want) {
    if (got.count(name) == 0) continue;
    std::ostringstream shown;
    shown << std::setprecision(17) << name << ": plugin " << got.at(name) << ", reference " << value;
    INFO(shown.str());
    if (std::isnan(value)) {
      CHECK(std::isnan(got.at(name)));
    } else {
      CHECK(std::abs(got.at(name) - value) <= 1e-9);
    }
  }
}

}  // namespace

TEST_CASE("generation metrics agree with the Python reference, default options", "[metrics][crosscheck]") {
  check_against_reference({});
}

TEST_CASE("generation metrics agree with the Python reference, other options", "[metrics][crosscheck]") {
  check_against_reference({{"seq_rep", "max_n", 6},
                           {"distinct", "max_n", 3},
                           {"self_bleu", "max_n", 2},
                           {"zipf", "max_ranks", 3},
                           {"rep_loop", "max_phrase", 8},
                           {"rep_loop", "min_repeats", 3},
                           {"rep_loop", "min_phrase", 2},
                           {"rep_loop", "short_repeats", 6}});
}

}  // namespace metrics_crosscheck_tests
