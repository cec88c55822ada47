#include "experiment/experiment_loader.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "experiment/config.hpp"
#include "experiment/experiment_schema.hpp"
#include "experiment/sweep.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/options.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/regulariser.hpp"
#include "lmlab/tokenizer.hpp"
#include "plugin_host/run_tokenizer.hpp"
#include "pretrained/model_from.hpp"
#include "training/trainer.hpp"
#include "util/suggest.hpp"

namespace lmlab {

namespace {

std::string override_key(const std::string& override_text) { return override_text.substr(0, override_text.find('=')); }

// A plugin library's content, hashed once per process: a rebuilt plugin is other code, so runs
// that use it get new identities. Plugins registered in-process (tests) have no library.
std::string library_hash(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::string> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = cache.find(path); it != cache.end()) return it->second;
  std::string hash = "in-process";
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError("cannot read plugin library " + path + " to hash it");
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    hash = hash_text(bytes);
  }
  return cache[path] = hash;
}

template <class I>
void add_plugin_hash(std::vector<std::string>& lines, const Registry& registry, const std::string& name) {
  const PluginInfo& info = registry.get<I>(name).info;
  lines.push_back(fmt::format("{} {} {}", info.kind, info.name, library_hash(info.library)));
}

// Every plugin the run uses, with its library's hash: what run_id covers besides the config.
std::vector<std::string> plugin_hashes(const Experiment& run, const Registry& registry) {
  std::vector<std::string> lines;
  add_plugin_hash<Tokenizer>(lines, registry, run.tokenizer.name);
  lines.push_back("tokenizer-identity " + run.tokenizer_identity);  // the files the options name
  add_plugin_hash<Architecture>(lines, registry, run.model.name);
  add_plugin_hash<Objective>(lines, registry, run.objective.name);
  for (const auto& task : run.objective.tasks) add_plugin_hash<Objective>(lines, registry, task.name);
  for (const auto& r : run.regularisers) add_plugin_hash<Regulariser>(lines, registry, r.name);
  for (const auto& d : run.decoding) add_plugin_hash<DecodingStep>(lines, registry, d.name);
  for (const auto& config : run.decoding_eval) {
    for (const auto& d : config.chain) add_plugin_hash<DecodingStep>(lines, registry, d.name);
  }
  for (const auto& m : run.metrics) add_plugin_hash<Metric>(lines, registry, m.name);
  std::sort(lines.begin(), lines.end());
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  return lines;
}

// A --set on a sweep axis would make every point of that axis the same run under different names.
void reject_overrides_of_axes(const std::filesystem::path& file, const SweepPoint& point,
                              const std::vector<std::string>& overrides) {
  for (const auto& axis : point.overrides) {
    for (const auto& o : overrides) {
      if (override_key(o) == override_key(axis)) {
        throw ConfigError(fmt::format("--set: {}: is a [sweep] axis of {}; drop the override or the axis",
                                      override_key(o), file.string()));
      }
    }
  }
}

// Each chain is built once here, so a chain that cannot decode (no selector, a selector before a
// warper) is reported by `lmlab validate`, before any run starts.
void check_decoding_chains(const std::filesystem::path& file, const Experiment& run, const Registry& registry,
                           const Tokenizer& tokenizer) {
  const DecodingContext context{tokenizer.vocab_size(), tokenizer.special().eos};
  auto check = [&](const std::vector<PluginChoice>& chain, const std::string& path) {
    std::vector<std::shared_ptr<DecodingStep>> steps;
    for (const auto& d : chain) {
      steps.push_back(make_plugin<DecodingStep>(registry, d.name, d.options, context));
    }
    if (steps.empty()) return;
    try {
      DecodingChain built(std::move(steps));
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("{}: {}: {}", file.string(), path, e.what()));
    }
  };
  check(run.decoding, "decoding.chain");
  for (std::size_t i = 0; i < run.decoding_eval.size(); ++i) {
    check(run.decoding_eval[i].chain, fmt::format("decoding.eval[{}] ('{}').chain", i, run.decoding_eval[i].name));
  }
}

// The architectures of `registry` whose capabilities meet `needs`, for the error message.
std::string compatible_architectures(const Registry& registry, const Requirements& needs) {
  std::string out;
  for (const auto& name : registry.names<Architecture>()) {
    if (!unmet(needs, registry.get<Architecture>(name).info.traits.provides)) out += (out.empty() ? "" : ", ") + name;
  }
  return out.empty() ? "none of those loaded" : out;
}

std::string location_of(const toml::table& config, std::string_view section, std::string_view key,
                        const std::filesystem::path& file) {
  if (const toml::node* n = config.at_path(fmt::format("{}.{}", section, key)).node()) return where(*n);
  return file.string();
}

// Checked before any run starts: an objective that would read the future through a
// bidirectional model, or a decoding chain for a model that cannot generate, is a config error.
void check_compatibility(const std::filesystem::path& file, const toml::table& config, const Experiment& run,
                         const Registry& registry) {
  const PluginInfo& model = registry.get<Architecture>(run.model.name).info;
  const Capabilities& caps = model.traits.provides;
  auto check_objective = [&](const std::string& name, std::string_view key, std::string_view key_name) {
    const PluginInfo& objective = registry.get<Objective>(name).info;
    if (const auto why = unmet(objective.traits.needs, caps)) {
      config_error_at(location_of(config, "objective", key_name, file), key,
                      fmt::format("objective '{}' needs {}, but architecture '{}' {}; compatible architectures: {}",
                                  objective.name, describe(objective.traits.needs), model.name, *why,
                                  compatible_architectures(registry, objective.traits.needs)));
    }
  };
  check_objective(run.objective.name, "objective.name", "name");
  for (const auto& task : run.objective.tasks) check_objective(task.name, "objective.tasks", "tasks");
  const bool decodes = !run.decoding.empty() || !run.decoding_eval.empty();
  if (decodes && run.eval.max_new_tokens > 0 && !caps.generates) {
    const Requirements generating{.generates = true};
    config_error_at(location_of(config, "model", "arch", file), "decoding",
                    fmt::format("architecture '{}' does not generate, so it cannot run the decoding chain; remove "
                                "[decoding], set eval.max_new_tokens = 0, or use an architecture that generates: {}",
                                model.name, compatible_architectures(registry, generating)));
  }
}

}  // namespace

namespace {

// A run's train.init_from that names another run of the sweep ("@arm=mle"): the selector's
// axis=value pairs, each axis by its full key or its last part ("arm", "n_layers").
struct RunReference {
  std::string text;      // as written, for messages
  std::string location;  // file:line of the value
  std::vector<std::pair<std::string, std::string>> pairs;
};

// Where an arm set the value, the override node says "--set": point at the arm's entry instead.
std::string value_location(const toml::table& config, const toml::node& node, const SweepPoint& point) {
  if (node.source().path && *node.source().path != "--set") return where(node);
  const auto arm = std::find_if(point.axes.begin(), point.axes.end(), [](const auto& a) { return a.first == "arm"; });
  const toml::array* arms = config.at_path("sweep.arm").as_array();
  if (arm == point.axes.end() || !arms) return where(node);
  for (const auto& entry : *arms) {
    const toml::table* t = entry.as_table();
    if (!t || t->at_path("name").value<std::string>() != arm->second) continue;
    const toml::table* set = t->get("set") ? t->get("set")->as_table() : nullptr;
    const toml::node* value = set ? set->get("train.init_from") : nullptr;
    return value ? where(*value) : where(*t);
  }
  return where(node);
}

std::optional<RunReference> run_reference(const toml::table& config, const std::filesystem::path& file,
                                          const SweepPoint& point) {
  const toml::node* node = config.at_path("train.init_from").node();
  const std::optional<std::string> value = node ? node->value<std::string>() : std::nullopt;
  if (!value || value->empty() || value->front() != '@') return std::nullopt;
  RunReference ref{*value, value_location(config, *node, point), {}};
  std::string_view rest = std::string_view(*value).substr(1);
  while (!rest.empty()) {
    const std::string_view item = rest.substr(0, rest.find(','));
    rest = item.size() < rest.size() ? rest.substr(item.size() + 1) : std::string_view{};
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      config_error_at(ref.location, "train.init_from",
                      fmt::format("'{}' is not a run of this sweep (in {}); write '@axis=value[,axis=value]', e.g. "
                                  "'@arm=mle': the same-seed run with those values starts this one",
                                  *value, file.string()));
    }
    ref.pairs.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
  }
  if (ref.pairs.empty()) config_error_at(ref.location, "train.init_from", "'@' names no run; write e.g. '@arm=mle'");
  return ref;
}

bool axis_named(const std::string& axis, const std::string& name) {
  return axis == name || (axis.size() > name.size() && axis.ends_with("." + name));
}

// The point `points[self]` starts from: the one with the reference's values and, on every other
// axis (the seed included), the same value as `points[self]`.
std::size_t referenced_point(const RunReference& ref, std::size_t self, const std::vector<SweepPoint>& points) {
  const SweepPoint& point = points[self];
  for (const auto& [axis, value] : ref.pairs) {
    if (std::none_of(point.axes.begin(), point.axes.end(), [&](const auto& a) { return axis_named(a.first, axis); })) {
      std::vector<std::string> axes;
      for (const auto& a : point.axes) axes.push_back(a.first);
      config_error_at(ref.location, "train.init_from",
                      fmt::format("'{}': '{}' is not an axis of this sweep", ref.text, axis), join(axes, ", "));
    }
  }
  const auto wanted = [&](const std::string& axis, const std::string& own) {
    for (const auto& [name, value] : ref.pairs) {
      if (axis_named(axis, name)) return value;
    }
    return own;
  };
  std::vector<std::size_t> found;
  for (std::size_t j = 0; j < points.size(); ++j) {
    const SweepPoint& other = points[j];
    bool same = other.axes.size() == point.axes.size();
    for (std::size_t i = 0; i < point.axes.size() && same; ++i) {
      same = other.axes[i].first == point.axes[i].first &&
             other.axes[i].second == wanted(point.axes[i].first, point.axes[i].second);
    }
    if (same) found.push_back(j);
  }
  // Points differ in at least one axis, so at most one matches.
  if (found.empty()) {
    std::vector<std::string> values;  // each named axis's values, as the sweep labels them
    for (const auto& [name, value] : ref.pairs) {
      std::vector<std::string> seen;
      for (const SweepPoint& p : points) {
        for (const auto& [axis, v] : p.axes) {
          if (axis_named(axis, name) && std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v);
        }
      }
      values.push_back(fmt::format("{} = {}", name, join(seen, " | ")));
    }
    config_error_at(ref.location, "train.init_from",
                    fmt::format("'{}' from run {}: no run of this sweep has those values (an excluded one?)", ref.text,
                                point.label),
                    join(values, "; "));
  }
  if (found.front() == self) {
    config_error_at(ref.location, "train.init_from", fmt::format("'{}' from run {}: names this run itself", ref.text, point.label));
  }
  return found.front();
}

}  // namespace

std::vector<Experiment> load_runs(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                  PluginLoader& loader, const Registry& registry, std::vector<SweepPoint>* excluded,
                                  std::int64_t world_size) {
  std::vector<SweepPoint> points;
  for (SweepPoint& point : expand_sweep(load_experiment_file(file))) {
    if (!point.excluded.empty()) {
      if (excluded) excluded->push_back(point);
      continue;
    }
    reject_overrides_of_axes(file, point, overrides);
    points.push_back(std::move(point));
  }
  // Parsed afresh for each point: toml++ drops a node's file position when it is copied, and
  // errors must point into the file.
  const auto config_of = [&](const SweepPoint& point, const std::vector<std::string>& more) {
    toml::table config = load_experiment_file(file);
    apply_overrides(config, point.overrides);
    apply_overrides(config, overrides);
    apply_overrides(config, more);
    pretrained::apply_model_from(config);  // after every override: --set model.from names the folder
    return config;
  };
  const auto resolve = [&](const SweepPoint& point, const toml::table& config) {
    loader.load_standard(plugin_paths_of(config), file.parent_path(),
                         fmt::format("experiment.plugin_paths in {}", file.string()));
    Experiment run = resolve_experiment(config, registry, file.string(), world_size);
    const auto tokenizer = build_tokenizer(registry, run.tokenizer);
    run.tokenizer_identity = tokenizer->identity();
    run.vocab_size = tokenizer->vocab_size();
    check_decoding_chains(file, run, registry, *tokenizer);
    check_compatibility(file, config, run, registry);
    run.plugin_hashes = plugin_hashes(run, registry);
    run.run_id = hash_text(run.config_hash + "\n" + join(run.plugin_hashes, "\n"));
    run.run_name = fmt::format("seed{}-{}", run.experiment.seed, run.run_id.substr(0, 8));
    if (!point.label.empty()) {
      // Every run name says its seed; a sweep over seeds already has it in the label.
      const bool seeded = std::any_of(point.overrides.begin(), point.overrides.end(),
                                      [](const std::string& o) { return override_key(o) == "experiment.seed"; });
      const std::string label = seeded ? point.label : point.label + ",seed=" + std::to_string(run.experiment.seed);
      run.run_name = file_safe_label(label) + "-" + run.run_id.substr(0, 8);
      run.sweep_label = file_safe_label(label);
      run.sweep_point = point.axes;
    }
    return run;
  };

  // Runs that start from another run's checkpoint ("@arm=mle") are resolved after that run:
  // its checkpoint path, which holds its identity, becomes their init_from, so a changed base
  // run gives the runs fine-tuned from it new identities too.
  std::vector<std::optional<Experiment>> resolved(points.size());
  std::vector<std::optional<std::size_t>> base(points.size());
  std::vector<std::string> location(points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    const toml::table config = config_of(points[i], {});
    const std::optional<RunReference> ref = run_reference(config, file, points[i]);
    if (!ref) {
      resolved[i] = resolve(points[i], config);
      continue;
    }
    if (points[i].label.empty()) {
      config_error_at(ref->location, "train.init_from",
                      fmt::format("'{}' names a run of a sweep, but {} has no [sweep]", ref->text, file.string()));
    }
    base[i] = referenced_point(*ref, i, points);
    location[i] = ref->location;
  }
  for (std::size_t left = points.size(); left > 0;) {
    std::size_t now = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (resolved[i] || !resolved[*base[i]]) continue;
      if (resolved[*base[i]]->train.steps == 0) {
        config_error_at(location[i], "train.init_from",
                        fmt::format("run {} trains no steps (train.steps = 0), so it writes no checkpoint to start "
                                    "from; give this run that run's own train.init_from",
                                    resolved[*base[i]]->run_name));
      }
      std::ostringstream path;  // a TOML string, escaped
      path << toml::value<std::string>(checkpoint_path(*resolved[*base[i]]).string());
      resolved[i] = resolve(points[i], config_of(points[i], {"train.init_from=" + path.str()}));
      ++now;
    }
    left = static_cast<std::size_t>(std::count(resolved.begin(), resolved.end(), std::nullopt));
    if (left > 0 && now == 0) {
      const auto i = static_cast<std::size_t>(std::find(resolved.begin(), resolved.end(), std::nullopt) - resolved.begin());
      config_error_at(location[i], "train.init_from",
                      fmt::format("run {} and the run it starts from start from each other, in a cycle", points[i].label));
    }
  }
  std::vector<Experiment> runs;
  for (auto& run : resolved) runs.push_back(std::move(*run));
  return runs;
}

}  // namespace lmlab
