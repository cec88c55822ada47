// expand_sweep: the runs of a [sweep] table, the Cartesian product of its grid axes times its
// seeds. Axes are taken in key order (toml++ keeps a table's keys sorted), the first axis
// varying slowest and the seeds fastest, so all seeds of one configuration run back to back.
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "lmlab/config.hpp"
#include "lmlab/options.hpp"
#include "lmlab/suggest.hpp"

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

Axis read_axis(const std::string& key, const toml::node& node) {
  const std::string path = key_path("sweep.grid", key);
  if (!is_option_path(key)) {
    config_error(&node, path, "an axis is the dotted path of an option, quoted",
                 "keys such as \"model.n_layers\" or \"train.lr\"");
  }
  const toml::array& values = detail::read_array(node, path, "a non-empty array of values");
  if (values.empty()) config_error(&node, path, "has no values", "a non-empty array of values");
  Axis axis{key, key.substr(key.rfind('.') + 1), {}};
  for (std::size_t i = 0; i < values.size(); ++i) {
    const toml::node& value = *values.get(i);
    add_value(axis, {toml_text(value), label_text(value)}, value, fmt::format("{}[{}]", path, i));
  }
  return axis;
}

std::vector<Axis> read_grid(const toml::table& sweep) {
  const toml::node* node = sweep.get("grid");
  if (!node) return {};
  std::vector<Axis> axes;
  for (const auto& [key, values] : detail::read_table(*node, "sweep.grid")) {
    axes.push_back(read_axis(std::string(key.str()), values));
  }
  return axes;
}

std::optional<Axis> read_seeds(const toml::table& sweep, const std::vector<Axis>& grid) {
  const toml::node* node = sweep.get("seeds");
  if (!node) return std::nullopt;
  const toml::array& seeds = detail::read_array(*node, "sweep.seeds", "a non-empty array of integers");
  if (seeds.empty()) config_error(node, "sweep.seeds", "has no seeds", "a non-empty array of integers");
  Axis axis{"experiment.seed", "seed", {}};
  for (const auto& other : grid) {
    if (other.key == axis.key) config_error(node, "sweep.seeds", "experiment.seed is already a grid axis; use one");
  }
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    const std::string path = fmt::format("sweep.seeds[{}]", i);
    const std::string seed = std::to_string(detail::read_int(*seeds.get(i), path, Limits{.min = 0}));
    add_value(axis, {seed, seed}, *seeds.get(i), path);
  }
  return axis;
}

// Labels use the last part of each key, unless two axes share it (model.dropout, train.dropout).
void disambiguate_labels(std::vector<Axis>& axes) {
  std::map<std::string, int> uses;
  for (const auto& axis : axes) ++uses[axis.label_key];
  for (auto& axis : axes) {
    if (uses[axis.label_key] > 1) axis.label_key = axis.key;
  }
}

std::vector<SweepPoint> product(const std::vector<Axis>& axes) {
  std::vector<SweepPoint> points(1);
  for (const auto& axis : axes) {
    std::vector<SweepPoint> next;
    for (const auto& point : points) {
      for (const auto& value : axis.values) {
        SweepPoint p = point;
        p.overrides.push_back(axis.key + "=" + value.text);
        p.label += (p.label.empty() ? "" : ",") + axis.label_key + "=" + value.label;
        p.axes.emplace_back(axis.key, value.label);
        next.push_back(std::move(p));
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
  detail::check_keys(sweep, "sweep", {"grid", "seeds"}, {});
  std::vector<Axis> axes = read_grid(sweep);
  if (auto seeds = read_seeds(sweep, axes)) axes.push_back(std::move(*seeds));
  disambiguate_labels(axes);
  std::vector<SweepPoint> points = product(axes);
  for (auto& point : points) point.label = file_safe_label(point.label);
  return points;
}

}  // namespace lmlab
