#include "lmlab/options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include "experiment/quote_bounded.hpp"
#include "lmlab/error.hpp"
#include "util/suggest.hpp"

namespace lmlab {
namespace {

// Where the nodes of live SourcedCopy tables came from; `where` falls back to it because
// toml++ drops source regions on copy. Guarded, since plugins may validate from any thread.
std::mutex copies_mutex;
std::unordered_map<const toml::node*, toml::source_region> copied_regions;

bool has_source(const toml::source_region& r) { return r.path || static_cast<bool>(r.begin); }

toml::source_region region_of_locked(const toml::node& n) {
  if (has_source(n.source())) return n.source();
  const auto it = copied_regions.find(&n);
  return it == copied_regions.end() ? toml::source_region{} : it->second;
}

toml::source_region region_of(const toml::node& n) {
  std::lock_guard lock(copies_mutex);
  return region_of_locked(n);
}

// "--set" values have no meaningful line; a file without a path (a string parsed in a test) has
// a line but no name.
std::string region_text(const toml::source_region& r) {
  const std::string path = r.path ? *r.path : std::string();
  if (path == "--set") return path;
  if (r.begin) return fmt::format("{}:{}:{}", path.empty() ? "<input>" : path, r.begin.line, r.begin.column);
  return path.empty() ? "<unknown position>" : path;
}

void remember(const toml::node& from, const toml::node& to, std::vector<const toml::node*>& registered) {
  copied_regions[&to] = region_of_locked(from);
  registered.push_back(&to);
  if (const toml::table* from_table = from.as_table()) {
    for (const auto& [key, child] : *to.as_table()) {
      if (const toml::node* original = from_table->get(key.str())) remember(*original, child, registered);
    }
  } else if (const toml::array* from_array = from.as_array()) {
    const toml::array& to_array = *to.as_array();
    for (std::size_t i = 0; i < to_array.size(); ++i) remember(*from_array->get(i), *to_array.get(i), registered);
  }
}

std::string type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// The node's type, and its value when it is short enough to quote.
std::string described(const toml::node& n) {
  const std::string type = type_name(n.type());
  if (const auto* s = n.as_string()) return fmt::format("{} {}", type, quote_bounded(s->get(), 80, '"'));
  if (const auto* i = n.as_integer()) return fmt::format("{} {}", type, i->get());
  if (const auto* f = n.as_floating_point()) return fmt::format("{} {}", type, detail::format_float(f->get()));
  if (const auto* b = n.as_boolean()) return fmt::format("{} {}", type, b->get());
  if (n.is_date_time() || n.is_date() || n.is_time()) {
    std::ostringstream os;
    n.visit([&](const auto& v) { os << v; });
    return fmt::format("{} {}", type, os.str());
  }
  return type;
}

[[noreturn]] void wrong_type(const toml::node& n, std::string_view path, std::string_view expected) {
  config_error(&n, path, fmt::format("expected {}, got {}", expected, described(n)));
}

// Integral bounds print as integers, so an integer option's limits read ">= 8", not ">= 8.0".
std::string bound_text(double v) {
  if (std::abs(v) < 1e15 && v == std::trunc(v)) return fmt::format("{}", static_cast<long long>(v));
  return detail::format_float(v);
}

void check_range(const toml::node& n, std::string_view path, double v, const Limits& limits, const std::string& shown) {
  // Written as negations so that NaN fails any bound.
  const bool low = limits.min && (limits.exclusive_min ? !(v > *limits.min) : !(v >= *limits.min));
  const bool high = limits.max && (limits.exclusive_max ? !(v < *limits.max) : !(v <= *limits.max));
  if (low || high) config_error(&n, path, shown + " is out of range", detail::describe_limits(limits));
}

// A bounded option is a finite quantity: `lr = inf` lies above 0 but is no learning rate. An
// option without limits (a logit bias, where -inf bans a token) may be infinite; NaN never is.
void check_finite(const toml::node& n, std::string_view path, double v, const Limits& limits) {
  const bool bounded = limits.min || limits.max;
  if (!std::isnan(v) && (!bounded || std::isfinite(v))) return;
  config_error(&n, path, detail::format_float(v) + " is out of range: not a finite number",
               bounded ? "finite and " + detail::describe_limits(limits) : "any number but nan");
}

}  // namespace

std::string where(const toml::node& node) { return region_text(region_of(node)); }

void config_error(const toml::node* node, std::string_view key_path, std::string_view message,
                  std::string_view accepted) {
  config_error_at(node ? where(*node) : std::string(), key_path, message, accepted);
}

void config_error_at(std::string_view location, std::string_view key_path, std::string_view message,
                     std::string_view accepted) {
  std::string text;
  if (!location.empty()) text += fmt::format("{}: ", location);
  // A key path is user text too (a quoted key of a megabyte): cut, never the whole of it.
  constexpr std::size_t longest_key_path = 200;
  if (key_path.size() > longest_key_path) text += fmt::format("{}...: ", key_path.substr(0, longest_key_path));
  else if (!key_path.empty()) text += fmt::format("{}: ", key_path);
  text += message;
  if (!accepted.empty()) text += fmt::format("; accepted: {}", accepted);
  throw ConfigError(text);
}

std::string key_path(std::string_view parent, std::string_view key) {
  // Keys that are not bare (a sweep axis "model.n_layers") are quoted as TOML would.
  const std::string k = detail::is_bare_key(key) ? std::string(key) : fmt::format("\"{}\"", key);
  return parent.empty() ? k : fmt::format("{}.{}", parent, k);
}

SourcedCopy::SourcedCopy(const toml::table& original, const std::vector<std::string>& drop) : table_(original) {
  for (const auto& key : drop) table_.erase(key);
  std::lock_guard lock(copies_mutex);
  remember(original, table_, registered_);
}

SourcedCopy::~SourcedCopy() {
  std::lock_guard lock(copies_mutex);
  for (const toml::node* n : registered_) copied_regions.erase(n);
}

namespace detail {

bool is_bare_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::int64_t read_int(const toml::node& n, std::string_view path, const Limits& limits) {
  const auto* v = n.as_integer();
  if (!v) wrong_type(n, path, "an integer");
  check_range(n, path, static_cast<double>(v->get()), limits, std::to_string(v->get()));
  return v->get();
}

double read_float(const toml::node& n, std::string_view path, const Limits& limits) {
  double value = 0;
  if (const auto* f = n.as_floating_point()) value = f->get();
  else if (const auto* i = n.as_integer()) value = static_cast<double>(i->get());
  else wrong_type(n, path, "a float");
  check_finite(n, path, value, limits);
  check_range(n, path, value, limits, format_float(value));
  return value;
}

bool read_bool(const toml::node& n, std::string_view path) {
  const auto* v = n.as_boolean();
  if (!v) wrong_type(n, path, "a boolean");
  return v->get();
}

std::string read_string(const toml::node& n, std::string_view path, const std::vector<std::string>& choices) {
  const auto* v = n.as_string();
  if (!v) wrong_type(n, path, "a string");
  const std::string& s = v->get();
  if (choices.empty() || std::find(choices.begin(), choices.end(), s) != choices.end()) return s;
  std::string message = fmt::format("unknown value {}", quote_bounded(s, 80, '"'));
  if (auto best = closest_match(s, choices)) message += fmt::format(" (did you mean '{}'?)", *best);
  config_error(&n, path, message, join(choices));
}

std::vector<std::string> read_string_list(const toml::node& n, std::string_view path) {
  const auto* array = n.as_array();
  if (!array) wrong_type(n, path, "an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    if (!element.is_string()) wrong_type(element, fmt::format("{}[{}]", path, i), "a string");
    out.push_back(element.as_string()->get());
  }
  return out;
}

std::vector<double> read_float_list(const toml::node& n, std::string_view path, const Limits& limits) {
  const auto* array = n.as_array();
  if (!array) wrong_type(n, path, "an array of floats");
  std::vector<double> out;
  for (std::size_t i = 0; i < array->size(); ++i) {
    out.push_back(read_float(*array->get(i), fmt::format("{}[{}]", path, i), limits));
  }
  return out;
}

const toml::table& read_table(const toml::node& n, std::string_view path) {
  const auto* table = n.as_table();
  if (!table) wrong_type(n, path, "a table");
  return *table;
}

const toml::array& read_array(const toml::node& n, std::string_view path, std::string_view expected) {
  const auto* array = n.as_array();
  if (!array) wrong_type(n, path, expected);
  return *array;
}

std::string describe_limits(const Limits& limits) {
  std::string low, high;
  if (limits.min) low = fmt::format("{} {}", limits.exclusive_min ? ">" : ">=", bound_text(*limits.min));
  if (limits.max) high = fmt::format("{} {}", limits.exclusive_max ? "<" : "<=", bound_text(*limits.max));
  if (!low.empty() && !high.empty()) return low + " and " + high;
  return low.empty() ? high : low;
}

std::string format_float(double v) {
  // Shortest text that reads back as the same double, positional between 1e-4 and 1e16 as
  // Python's repr (0.0003, not 3e-04), and always a TOML float (never "1").
  char buffer[64];
  const double magnitude = std::abs(v);
  const auto format = (magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e16)) ? std::chars_format::fixed
                                                                                  : std::chars_format::scientific;
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v, format);
  std::string text(buffer, result.ptr);
  if (text.find_first_of(".eni") == std::string::npos) text += ".0";
  return text;
}

std::string render_settings(const toml::table& values) {
  std::string out;
  for (const auto& [key, node] : values) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} = ", key.str());
    if (const auto* s = node.as_string()) out += fmt::format("\"{}\"", s->get());
    else if (const auto* i = node.as_integer()) out += std::to_string(i->get());
    else if (const auto* f = node.as_floating_point()) out += format_float(f->get());
    else if (const auto* b = node.as_boolean()) out += b->get() ? "true" : "false";
    else out += type_name(node.type());
  }
  return out;
}

void throw_bad_preset(std::string_view preset, std::string_view key) {
  // A programming error in a plugin, caught the first time its options are declared.
  throw std::logic_error(fmt::format("preset '{}' sets '{}', which is not a declared option", preset, key));
}

void check_keys(const toml::table& table, std::string_view path, const std::vector<std::string>& declared,
                const std::vector<std::string>& reserved) {
  std::vector<std::string> accepted = declared;
  accepted.insert(accepted.end(), reserved.begin(), reserved.end());
  std::sort(accepted.begin(), accepted.end());
  for (const auto& [key, node] : table) {
    if (std::binary_search(accepted.begin(), accepted.end(), key.str())) continue;
    std::string message = accepted.empty() ? "unknown key (this table takes no keys)" : "unknown key";
    if (auto best = closest_match(key.str(), accepted)) message += fmt::format(" (did you mean '{}'?)", *best);
    // The key's own position (column 1 of `d_modle = 64`) is where the typo is.
    const std::string location = has_source(key.source()) ? region_text(key.source()) : where(node);
    config_error_at(location, key_path(path, key.str()), message, join(accepted));
  }
}

}  // namespace detail
}  // namespace lmlab
