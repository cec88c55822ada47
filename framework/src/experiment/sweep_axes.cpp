// The sweep's axes, zipped axes and arm settings checked against what this experiment can set:
// the fixed sections' options and those of the plugins it names.
#include "experiment/sweep_axes.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "experiment/experiment_schema.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/options.hpp"
#include "lmlab/tokenizer.hpp"
#include "util/suggest.hpp"

namespace lmlab::detail {
namespace {

template <class I>
std::vector<std::string> plugin_option_names(const Registry& registry, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& option : registry.get<I>(name).info.options) out.push_back(option.name);
  return out;
}

// The options of the plugin that [section] names with `name_key`, or nothing when it names none
// that is loaded (resolution reports that, at its own line).
template <class I>
std::optional<std::vector<std::string>> named_plugin_options(const toml::table& config, const Registry& registry,
                                                             const std::string& section_name,
                                                             const std::string& name_key) {
  const auto name = toml::at_path(config, section_name + "." + name_key).value<std::string>();
  const auto known = registry.names<I>();
  if (!name || std::find(known.begin(), known.end(), *name) == known.end()) return std::nullopt;
  std::vector<std::string> names = plugin_option_names<I>(registry, *name);
  names.push_back(name_key);
  return names;
}

// What a sweep axis below `parent` ("model", "decoding.temperature") may set; nullopt when that
// cannot be told before resolution.
std::optional<std::vector<std::string>> settable(const toml::table& config, const Registry& registry,
                                                 std::string_view parent) {
  if (parent == "experiment") return experiment_options().names();
  if (parent == "data") return data_options().names();
  if (parent == "train") return train_options().names();
  if (parent == "eval") return eval_options().names();
  if (parent == "model") {
    // model.from, a checkpoint folder, has become the folder's [model] by now (pretrained/model_from.hpp).
    auto names = named_plugin_options<Architecture>(config, registry, "model", "arch");
    if (names) names->push_back("from");
    return names;
  }
  if (parent == "objective") {
    auto names = named_plugin_options<Objective>(config, registry, "objective", "name");
    // A composite objective's tasks are sub-tables, and so sweepable as objective.<task>.<option>.
    if (names) {
      if (const toml::array* tasks = toml::at_path(config, "objective.tasks").as_array()) {
        for (const auto& t : *tasks) {
          if (auto task = t.value<std::string>()) names->push_back(*task);
        }
      }
    }
    return names;
  }
  if (parent.starts_with("objective.")) {
    const std::string task(parent.substr(10));
    const auto known = registry.names<Objective>();
    if (std::find(known.begin(), known.end(), task) != known.end()) return plugin_option_names<Objective>(registry, task);
  }
  // [tokenizer] holds the options of the plugin that data.tokenizer names (not a key of its own).
  if (parent == "tokenizer") {
    auto names = named_plugin_options<Tokenizer>(config, registry, "data", "tokenizer");
    if (names) names->pop_back();
    return names;
  }
  if (parent == "metrics") {
    std::vector<std::string> names = registry.names<Metric>();
    names.push_back("names");
    return names;
  }
  if (parent.starts_with("metrics.")) {
    const std::string metric(parent.substr(8));
    const auto known = registry.names<Metric>();
    if (std::find(known.begin(), known.end(), metric) != known.end()) return plugin_option_names<Metric>(registry, metric);
  }
  const std::vector<std::string> steps = registry.names<DecodingStep>();
  if (parent == "decoding") {
    std::vector<std::string> names = steps;
    names.push_back("chain");
    return names;
  }
  if (parent.starts_with("decoding.")) {
    const std::string step(parent.substr(9));
    if (std::find(steps.begin(), steps.end(), step) != steps.end()) {
      return plugin_option_names<DecodingStep>(registry, step);
    }
  }
  return std::vector<std::string>{};
}

}  // namespace

// Runs before everything else: each sweep point's config already holds the axis's value, and a
// bad axis must be reported at its line in [sweep], not as an unknown key from "--set".
void check_sweep_axes(const toml::table& config, const Registry& registry) {
  const toml::table* sweep = section(config, "sweep");
  if (!sweep) return;
  // Grid and zip axes, and the options each arm sets: every one must name an option.
  const auto check = [&](const toml::node* keys, const std::string& parent, const toml::table& against) {
    if (!keys || !keys->is_table()) return;
    for (const auto& [key, values] : *keys->as_table()) {
      const std::string axis(key.str());
      if (axis == "regularisers") continue;  // an arm's whole list, resolved as the file's own [[regularisers]]
      const std::size_t dot = axis.rfind('.');
      const std::string option = axis.substr(dot + 1);
      std::optional<std::vector<std::string>> accepted = settable(against, registry, axis.substr(0, dot));
      if (!accepted || std::find(accepted->begin(), accepted->end(), option) != accepted->end()) continue;
      std::sort(accepted->begin(), accepted->end());
      std::string message = fmt::format("'{}' is not an option of this experiment", axis);
      if (auto best = closest_match(option, *accepted)) message += fmt::format(" (did you mean '{}'?)", *best);
      config_error(&values, key_path(parent, axis), message, join(*accepted));
    }
  };
  check(sweep->get("grid"), "sweep.grid", config);
  check(sweep->get("zip"), "sweep.zip", config);
  if (const toml::array* arms = sweep->get("arm") ? sweep->get("arm")->as_array() : nullptr) {
    for (std::size_t i = 0; i < arms->size(); ++i) {
      const toml::table* arm = arms->get(i)->as_table();
      if (!arm) continue;
      // An arm that picks another architecture, objective or tokenizer may set that plugin's options: they
      // are checked against the plugins the arm picks.
      toml::table picked = config;
      if (const toml::table* set = arm->get("set") ? arm->get("set")->as_table() : nullptr) {
        for (const auto& [section_name, key] :
             {std::pair{"model", "arch"}, std::pair{"objective", "name"}, std::pair{"objective", "tasks"},
              std::pair{"data", "tokenizer"}}) {
          const toml::node* value = set->get(fmt::format("{}.{}", section_name, key));
          toml::table* target = picked.get(section_name) ? picked.get(section_name)->as_table() : nullptr;
          if (!value || !target) continue;
          // A composite objective's tasks too: its task tables are then settable.
          if (value->is_string()) target->insert_or_assign(key, *value->value<std::string>());
          if (value->is_array()) target->insert_or_assign(key, *value->as_array());
        }
      }
      check(arm->get("set"), fmt::format("sweep.arm[{}].set", i), picked);
    }
  }
}

}  // namespace lmlab::detail
