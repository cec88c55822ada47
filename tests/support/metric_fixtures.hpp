/// Shared by the generation metrics' tests (seq_rep, uniq_seq, distinct, rep_loop, zipf,
/// self_bleu, generation_metrics): build a built-in metric as an experiment file would, and
/// measure continuations given as id lists.
#pragma once
#include "support/catch.hpp"

#include <cmath>
#include <cstdint>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "lmlab/metric.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"
#include "support/test_support.hpp"

namespace lmlab::test {

using Texts = std::vector<std::vector<std::int64_t>>;

/// Built-in metric `name` with `options` resolved as [metrics.<name>] would be, for a vocabulary of 100.
inline std::shared_ptr<Metric> make_metric(const std::string& name, const toml::table& options = {}) {
  const Registry& plugins = builtin_plugins();
  const toml::table resolved = resolve_plugin<Metric>(plugins, name, options, "metrics." + name);
  return make_plugin<Metric>(plugins, name, resolved, MetricContext{100});
}

/// Every value `name` reports on `texts`, after checking that it reports exactly the names it
/// declares, in that order, and takes no part in validation.
inline std::map<std::string, double> measure(const std::string& name, const Texts& texts,
                                             const toml::table& options = {}, const Texts& prompts = {}) {
  const std::shared_ptr<Metric> metric = make_metric(name, options);
  GeneratedText text;
  text.unit = "tokens";
  text.prompts = prompts.empty() ? Texts(texts.size()) : prompts;
  text.continuations = texts;
  text.vocab_size = 100;
  const std::vector<MetricValue> values = metric->generated(text);
  const std::vector<std::string> declared = metric->generation_values();
  CHECK(metric->validation_values().empty());
  REQUIRE(values.size() == declared.size());
  std::map<std::string, double> out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    CHECK(values[i].name == declared[i]);
    out[values[i].name] = values[i].value;
  }
  return out;
}

/// The one value named `value` that metric `name` reports on `texts`.
inline double measure_one(const std::string& name, const std::string& value, const Texts& texts,
                          const toml::table& options = {}) {
  const auto values = measure(name, texts, options);
  REQUIRE(values.count(value) == 1);
  return values.at(value);
}

/// Checks |got - want| <= tolerance, showing both to 17 digits when it fails.
inline void check_close(double got, double want, double tolerance = 1e-12) {
  std::ostringstream shown;
  shown << std::setprecision(17) << "got " << got << ", want " << want;
  INFO(shown.str());
  CHECK(std::abs(got - want) <= tolerance);
}

/// Welleck et al.'s example: [a b c d a b c d].
inline const std::vector<std::int64_t> abcdabcd{1, 2, 3, 4, 1, 2, 3, 4};

}  // namespace lmlab::test
