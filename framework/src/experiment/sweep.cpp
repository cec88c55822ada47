// expand_sweep: the runs of a [sweep] table. Factors, slowest first: the named arms, each grid
// axis in key order (toml++ keeps a table's keys sorted), the zipped axes (which vary together),
// then the seeds, fastest, so all seeds of one configuration run back to back. Points matching an
// `exclude` entry are kept but marked, so `lmlab sweep --dry-run` can say why they do not run.
#include "experiment/sweep.hpp"

#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "experiment/config.hpp"
#include "experiment/quote_bounded.hpp"
#include "lmlab/options.hpp"
#include "util/suggest.hpp"

namespace lmlab {
namespace {

struct AxisValue {
  std::string text;   // TOML, as apply_overrides reads it back
  std::string label;  // for the run label: strings unquoted
};

struct Axis {
  std::string key;        // "model.n_layers"
  std::string label_key;  // "n_layers"
  std::vector<AxisValue> values;
  const toml::node* node = nullptr;  // where the axis is defined, for errors
};

// One level of a factor: the values it sets, by axis.
struct Level {
  std::vector<std::pair<const Axis*, const AxisValue*>> values;
  std::vector<std::string> overrides;  // an arm's `set`
  std::string arm;                     // the arm's name, for arm levels
};

// "section.key[.key...]" with bare parts: what apply_overrides accepts.
bool is_option_path(std::string_view key) {
  std::size_t parts = 0, start = 0;
  for (std::size_t dot = key.find('.');; dot = key.find('.', start)) {
    if (!detail::is_bare_key(key.substr(start, dot == std::string_view::npos ? dot : dot - start))) return false;
    ++parts;
    if (dot == std::string_view::npos) return parts >= 2;
    start = dot + 1;
  }
}

// Floats print in their shortest exact form (toml++ would print 3e-4 as 0.00029999999999999997).
std::string toml_text(const toml::node& n) {
  if (const auto* f = n.as_floating_point()) return detail::format_float(f->get());
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  std::vector<std::string> items;
  if (const auto* a = n.as_array()) {
    for (const auto& element : *a) items.push_back(toml_text(element));
    std::string out = "[";  // appended, not `"[" + ... + "]"`: GCC 12 -O3 false -Wstringop-overflow
    out += join(items, ", ");
    return out += "]";
  }
  if (const auto* t = n.as_table()) {
    for (const auto& [key, value] : *t) items.push_back(key_path("", key.str()) + " = " + toml_text(value));
    std::string out = "{ ";
    out += join(items, ", ");
    return out += " }";
  }
  std::ostringstream os;
  n.visit([&](const auto& v) { os << v; });
  return os.str();
}

std::string label_text(const toml::node& n) {
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* a = n.as_array()) {
    std::vector<std::string> items;
    for (const auto& element : *a) items.push_back(label_text(element));
    return join(items, "+");
  }
  return toml_text(n);
}

void add_value(Axis& axis, AxisValue value, const toml::node& node, const std::string& path) {
  for (const auto& existing : axis.values) {
    if (existing.text == value.text) config_error(&node, path, fmt::format("{} appears twice", value.text));
  }
  axis.values.push_back(std::move(value));
}

Axis read_axis(const std::string& section, const std::string& key, const toml::node& node) {
  const std::string path = key_path(section, key);
  if (!is_option_path(key)) {
    config_error(&node, path, "an axis is the dotted path of an option, quoted",
                 "keys such as \"model.n_layers\" or \"train.lr\"");
  }
  const toml::array& values = detail::read_array(node, path, "a non-empty array of values");
  if (values.empty()) config_error(&node, path, "has no values", "a non-empty array of values");
  Axis axis{key, key.substr(key.rfind('.') + 1), {}, &node};
  for (std::size_t i = 0; i < values.size(); ++i) {
    const toml::node& value = *values.get(i);
    add_value(axis, {toml_text(value), label_text(value)}, value, fmt::format("{}[{}]", path, i));
  }
  return axis;
}

std::vector<Axis> read_axes(const toml::table& sweep, const std::string& name) {
  const toml::node* node = sweep.get(name);
  if (!node) return {};
  std::vector<Axis> axes;
  for (const auto& [key, values] : detail::read_table(*node, "sweep." + name)) {
    axes.push_back(read_axis("sweep." + name, std::string(key.str()), values));
  }
  return axes;
}

std::optional<Axis> read_seeds(const toml::table& sweep) {
  const toml::node* node = sweep.get("seeds");
  if (!node) return std::nullopt;
  const toml::array& seeds = detail::read_array(*node, "sweep.seeds", "a non-empty array of integers");
  if (seeds.empty()) config_error(node, "sweep.seeds", "has no seeds", "a non-empty array of integers");
  Axis axis{"experiment.seed", "seed", {}, node};
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    const std::string path = fmt::format("sweep.seeds[{}]", i);
    const std::string seed = std::to_string(detail::read_int(*seeds.get(i), path, Limits{.min = 0}));
    add_value(axis, {seed, seed}, *seeds.get(i), path);
  }
  return axis;
}

// The arms: [[sweep.arm]] name = "...", set = { "objective.name" = "...", ... }.
struct Arm {
  std::string name;
  std::vector<std::string> overrides;
  std::vector<std::string> keys;
  const toml::node* node = nullptr;
};

std::vector<Arm> read_arms(const toml::table& sweep) {
  const toml::node* node = sweep.get("arm");
  if (!node) return {};
  const toml::array& tables = detail::read_array(*node, "sweep.arm", "an array of tables ([[sweep.arm]])");
  std::vector<Arm> arms;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const std::string path = fmt::format("sweep.arm[{}]", i);
    const toml::table& table = detail::read_table(*tables.get(i), path);
    detail::check_keys(table, path, {"name", "set"}, {});
    const toml::node* name_node = table.get("name");
    if (!name_node) config_error(&table, path, "has no name", "name = \"...\" (letters, digits, '_' and '-')");
    Arm arm{detail::read_string(*name_node, key_path(path, "name"), {}), {}, {}, &table};
    if (arm.name.empty() || !detail::is_bare_key(arm.name)) {
      config_error(name_node, key_path(path, "name"), fmt::format("{} is not a plain name", quote_bounded(arm.name)),
                   "letters, digits, '_' and '-'");
    }
    for (const Arm& other : arms) {
      if (other.name == arm.name) config_error(name_node, key_path(path, "name"), fmt::format("arm {} appears twice", quote_bounded(arm.name)));
    }
    if (const toml::node* set = table.get("set")) {
      for (const auto& [key, value] : detail::read_table(*set, key_path(path, "set"))) {
        const std::string k(key.str());
        // `regularisers` replaces the file's whole list: an arm without clipping, or with another
        // monitor, cannot be written as options of one plugin of a list.
        if (!is_option_path(k) && !(k == "regularisers" && value.is_array())) {
          config_error(&value, key_path(key_path(path, "set"), k), "a key is the dotted path of an option, quoted",
                       "keys such as \"objective.name\" or \"decoding.chain\", or regularisers = [{ name = ... }]");
        }
        arm.overrides.push_back(k + "=" + toml_text(value));
        arm.keys.push_back(k);
      }
    }
    arms.push_back(std::move(arm));
  }
  return arms;
}

// Labels use the last part of each key, unless two axes share it (model.dropout, train.dropout).
void disambiguate_labels(std::vector<Axis*>& axes) {
  std::map<std::string, int> uses;
  for (const Axis* axis : axes) ++uses[axis->label_key];
  for (Axis* axis : axes) {
    if (uses[axis->label_key] > 1) axis->label_key = axis->key;
  }
}

// An exclude entry: axis key (or "arm") -> the value text it must have.
struct Exclusion {
  std::vector<std::pair<std::string, std::string>> values;
  std::string text;  // "sweep.exclude[0] = { ... }", for --dry-run
  const toml::node* node = nullptr;
  std::size_t matched = 0;
};

std::vector<Exclusion> read_exclusions(const toml::table& sweep, const std::vector<const Axis*>& axes,
                                       const std::vector<Arm>& arms) {
  const toml::node* node = sweep.get("exclude");
  if (!node) return {};
  const toml::array& entries = detail::read_array(*node, "sweep.exclude", "an array of tables of axis values");
  std::vector<std::string> names;
  if (!arms.empty()) names.push_back("arm");
  for (const Axis* axis : axes) names.push_back(axis->key);
  std::vector<Exclusion> out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string path = fmt::format("sweep.exclude[{}]", i);
    const toml::table& table = detail::read_table(*entries.get(i), path);
    if (table.empty()) config_error(&table, path, "is empty: it would exclude every run", join(names));
    Exclusion e{{}, fmt::format("{} = {}", path, toml_text(table)), &table, 0};
    for (const auto& [key, value] : table) {
      const std::string k(key.str()), at = key_path(path, k);
      if (k == "arm") {
        if (arms.empty()) config_error(&value, at, "there are no [[sweep.arm]] tables", join(names));
        const std::string name = value.value<std::string>().value_or("");
        const bool known = std::any_of(arms.begin(), arms.end(), [&](const Arm& a) { return a.name == name; });
        if (!known) {
          std::vector<std::string> arm_names;
          for (const Arm& a : arms) arm_names.push_back(a.name);
          config_error(&value, at, fmt::format("{} is not an arm", toml_text(value)), join(arm_names));
        }
        e.values.emplace_back("arm", name);
        continue;
      }
      const auto axis = std::find_if(axes.begin(), axes.end(), [&](const Axis* a) { return a->key == k; });
      if (axis == axes.end()) config_error(&value, at, "is not an axis of this sweep", join(names));
      const std::string text = toml_text(value);
      const bool known = std::any_of((*axis)->values.begin(), (*axis)->values.end(),
                                     [&](const AxisValue& v) { return v.text == text; });
      if (!known) {
        std::vector<std::string> values;
        for (const AxisValue& v : (*axis)->values) values.push_back(v.text);
        config_error(&value, at, fmt::format("{} is not one of the axis's values", text), join(values));
      }
      e.values.emplace_back(k, text);
    }
    out.push_back(std::move(e));
  }
  return out;
}

// The product of the factors, slowest first.
std::vector<std::vector<const Level*>> product(const std::vector<std::vector<Level>>& factors) {
  std::vector<std::vector<const Level*>> points(1);
  for (const auto& factor : factors) {
    std::vector<std::vector<const Level*>> next;
    for (const auto& point : points) {
      for (const Level& level : factor) {
        next.push_back(point);
        next.back().push_back(&level);
      }
    }
    points = std::move(next);
  }
  return points;
}

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '=' || c == ',' ||
         c == '.' || c == '-' || c == '_' || c == '+';
}

}  // namespace

namespace detail {
std::string axis_value_label(const toml::node& value) { return label_text(value); }
}  // namespace detail

std::string file_safe_label(std::string_view label) {
  std::string out(label.substr(0, max_label_bytes));
  for (char& c : out) {
    if (!is_label_char(c)) c = '_';
  }
  if (!out.empty() && out.front() == '.') out.front() = '_';
  return out;
}

std::vector<SweepPoint> expand_sweep(const toml::table& config) {
  const toml::node* node = config.get("sweep");
  if (!node) return {SweepPoint{}};
  const toml::table& sweep = detail::read_table(*node, "sweep");
  detail::check_keys(sweep, "sweep", {"grid", "zip", "seeds", "exclude", "arm"}, {});
  std::vector<Axis> grid = read_axes(sweep, "grid");
  std::vector<Axis> zip = read_axes(sweep, "zip");
  std::optional<Axis> seeds = read_seeds(sweep);
  const std::vector<Arm> arms = read_arms(sweep);

  std::vector<Axis*> axes;  // every axis, in label order
  for (Axis& a : grid) axes.push_back(&a);
  for (Axis& a : zip) axes.push_back(&a);
  if (seeds) axes.push_back(&*seeds);
  // Each option is set by one place only: two would make one run's config depend on their order.
  std::map<std::string, std::string> owner;  // option -> where the sweep sets it
  const auto claim = [&](const Axis& a, const std::string& where) {
    const auto [it, added] = owner.emplace(a.key, where);
    if (added) return;
    const bool seed = a.key == "experiment.seed" && where == "sweep.seeds";
    config_error(a.node, where, seed ? std::string("experiment.seed is already a grid axis; use one")
                                     : fmt::format("{} is also set by {}; use one", a.key, it->second));
  };
  for (const Axis& a : grid) claim(a, key_path("sweep.grid", a.key));
  for (const Axis& a : zip) claim(a, key_path("sweep.zip", a.key));
  if (seeds) claim(*seeds, "sweep.seeds");
  for (std::size_t i = 0; i < arms.size(); ++i) {
    for (const std::string& key : arms[i].keys) {
      if (owner.count(key)) {
        config_error(arms[i].node, fmt::format("sweep.arm[{}].set", i),
                     fmt::format("{} is also {}; an arm cannot set a swept option", key, owner.at(key)));
      }
    }
  }
  if (!zip.empty()) {
    for (const Axis& a : zip) {
      if (a.values.size() != zip.front().values.size()) {
        config_error(a.node, key_path("sweep.zip", a.key),
                     fmt::format("has {} values but {} has {}: zipped axes vary together, so they need as many",
                                 a.values.size(), zip.front().key, zip.front().values.size()));
      }
    }
  }
  disambiguate_labels(axes);

  std::vector<std::vector<Level>> factors;
  if (!arms.empty()) {
    std::vector<Level> levels;
    for (const Arm& arm : arms) levels.push_back({{}, arm.overrides, arm.name});
    factors.push_back(std::move(levels));
  }
  for (const Axis& a : grid) {
    std::vector<Level> levels;
    for (const AxisValue& v : a.values) levels.push_back({{{&a, &v}}, {}, {}});
    factors.push_back(std::move(levels));
  }
  if (!zip.empty()) {
    std::vector<Level> levels(zip.front().values.size());
    for (const Axis& a : zip) {
      for (std::size_t i = 0; i < a.values.size(); ++i) levels[i].values.emplace_back(&a, &a.values[i]);
    }
    factors.push_back(std::move(levels));
  }
  if (seeds) {
    std::vector<Level> levels;
    for (const AxisValue& v : seeds->values) levels.push_back({{{&*seeds, &v}}, {}, {}});
    factors.push_back(std::move(levels));
  }

  std::vector<const Axis*> excludable(axes.begin(), axes.end());
  std::vector<Exclusion> exclusions = read_exclusions(sweep, excludable, arms);
  std::vector<SweepPoint> points;
  for (const auto& levels : product(factors)) {
    SweepPoint p;
    std::map<std::string, std::string> values;  // axis key (or "arm") -> value text
    for (const Level* level : levels) {
      if (!level->arm.empty()) {
        p.overrides.insert(p.overrides.end(), level->overrides.begin(), level->overrides.end());
        p.label += (p.label.empty() ? "" : ",") + std::string("arm=") + level->arm;
        p.axes.emplace_back("arm", level->arm);
        values["arm"] = level->arm;
      }
      for (const auto& [axis, value] : level->values) {
        p.overrides.push_back(axis->key + "=" + value->text);
        p.label += (p.label.empty() ? "" : ",") + axis->label_key + "=" + value->label;
        p.axes.emplace_back(axis->key, value->label);
        values[axis->key] = value->text;
      }
    }
    for (Exclusion& e : exclusions) {
      const bool match = std::all_of(e.values.begin(), e.values.end(), [&](const auto& kv) { return values[kv.first] == kv.second; });
      if (match && p.excluded.empty()) p.excluded = e.text;
      e.matched += match;
    }
    p.label = file_safe_label(p.label);
    points.push_back(std::move(p));
  }
  for (const Exclusion& e : exclusions) {
    if (e.matched == 0) config_error(e.node, e.text.substr(0, e.text.find(" = ")), "matches no run of the sweep (zipped axes only vary together)");
  }
  return points;
}

}  // namespace lmlab
