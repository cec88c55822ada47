/// Options declared once: a typed struct with in-class defaults, and one OptionSet that fills it
/// from TOML (rejecting unknown keys, wrong types and out-of-range values with file:line:column),
/// writes it back as resolved TOML, and describes it for `lmlab plugins`.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <toml++/toml.h>

namespace lmlab {

/// "file:line:column" of a node, or "<where it came from>" when it has no position.
std::string where(const toml::node& node);

/// Throws ConfigError "file:line:col: key_path: message[; accepted: accepted]".
[[noreturn]] void config_error(const toml::node* node, std::string_view key_path, std::string_view message,
                               std::string_view accepted = {});

/// config_error with the location given as text: a file name, "--set", or empty for none.
[[noreturn]] void config_error_at(std::string_view location, std::string_view key_path, std::string_view message,
                                  std::string_view accepted = {});

/// "a.b" from a parent path and a key ("" parent gives "b").
std::string key_path(std::string_view parent, std::string_view key);

/// One option as `lmlab plugins` and the docs show it.
struct OptionInfo {
  std::string name, type, default_value, accepted, help;
};

/// A named set of option values that reproduces a published model (say "llama"). It is applied
/// over the defaults and under the user's own keys, which always win.
struct Preset {
  std::string name, help;
  toml::table values;
};

/// A preset as `lmlab plugins` shows it: its settings as `key = value` text.
struct PresetInfo {
  std::string name, help, settings;
};

/// Bounds of a numeric option, inclusive unless marked exclusive (lr > 0, beta < 1).
struct Limits {
  std::optional<double> min{}, max{};
  bool exclusive_min = false, exclusive_max = false;
};

/// A deep copy of a table, less the keys in `drop`, whose nodes keep reporting the original's
/// file positions through `where`: toml++ forgets source regions when it copies a node, and a
/// plugin's options are checked on a copy of its table without the `arch`/`name` key.
class SourcedCopy {
 public:
  explicit SourcedCopy(const toml::table& original, const std::vector<std::string>& drop = {});
  ~SourcedCopy();
  SourcedCopy(const SourcedCopy&) = delete;
  SourcedCopy& operator=(const SourcedCopy&) = delete;
  const toml::table& table() const { return table_; }

 private:
  toml::table table_;
  std::vector<const toml::node*> registered_;
};

namespace detail {
// A TOML bare key (letters, digits, '_' and '-'); any other key is quoted in key paths.
bool is_bare_key(std::string_view key);

// Typed readers shared by every OptionSet instantiation; each throws ConfigError.
std::int64_t read_int(const toml::node& n, std::string_view path, const Limits& limits);
double read_float(const toml::node& n, std::string_view path, const Limits& limits);
bool read_bool(const toml::node& n, std::string_view path);
std::string read_string(const toml::node& n, std::string_view path, const std::vector<std::string>& choices);
std::vector<std::string> read_string_list(const toml::node& n, std::string_view path);
std::vector<double> read_float_list(const toml::node& n, std::string_view path, const Limits& limits);
const toml::table& read_table(const toml::node& n, std::string_view path);
// `expected` names what the caller wants in the message ("an array of tables ([[regularisers]])").
const toml::array& read_array(const toml::node& n, std::string_view path, std::string_view expected = "an array");
std::string describe_limits(const Limits& limits);
std::string format_float(double v);
// "key = value, ..." of a preset's values, in TOML syntax.
std::string render_settings(const toml::table& values);
[[noreturn]] void throw_bad_preset(std::string_view preset, std::string_view key);
// Rejects keys of `table` that are neither declared nor reserved, suggesting the closest.
void check_keys(const toml::table& table, std::string_view path, const std::vector<std::string>& declared,
                const std::vector<std::string>& reserved);
}  // namespace detail

/// The declaration of an options struct T: fields, their TOML names, help, limits and checks.
template <class T>
class OptionSet {
 public:
  OptionSet& add(std::string name, std::int64_t T::*field, std::string help, Limits limits = {}) {
    return push(std::move(name), "integer", std::to_string(T().*field), detail::describe_limits(limits),
                std::move(help),
                [=](T& t, const toml::node& n, std::string_view p) { t.*field = detail::read_int(n, p, limits); },
                [=](const T& t, toml::table& out, const std::string& k) { out.insert_or_assign(k, t.*field); });
  }
  OptionSet& add(std::string name, double T::*field, std::string help, Limits limits = {}) {
    return push(std::move(name), "float", detail::format_float(T().*field), detail::describe_limits(limits),
                std::move(help),
                [=](T& t, const toml::node& n, std::string_view p) { t.*field = detail::read_float(n, p, limits); },
                [=](const T& t, toml::table& out, const std::string& k) { out.insert_or_assign(k, t.*field); });
  }
  OptionSet& add(std::string name, bool T::*field, std::string help) {
    return push(std::move(name), "boolean", T().*field ? "true" : "false", "true, false", std::move(help),
                [=](T& t, const toml::node& n, std::string_view p) { t.*field = detail::read_bool(n, p); },
                [=](const T& t, toml::table& out, const std::string& k) { out.insert_or_assign(k, t.*field); });
  }
  /// A string; when `choices` is not empty the value must be one of them.
  OptionSet& add(std::string name, std::string T::*field, std::string help, std::vector<std::string> choices = {}) {
    std::string accepted;
    for (std::size_t i = 0; i < choices.size(); ++i) accepted += (i ? ", " : "") + choices[i];
    return push(std::move(name), "string", '"' + T().*field + '"', accepted, std::move(help),
                [=](T& t, const toml::node& n, std::string_view p) { t.*field = detail::read_string(n, p, choices); },
                [=](const T& t, toml::table& out, const std::string& k) { out.insert_or_assign(k, t.*field); });
  }
  OptionSet& add(std::string name, std::vector<std::string> T::*field, std::string help) {
    return push(std::move(name), "array of strings", render_list(T().*field), "", std::move(help),
                [=](T& t, const toml::node& n, std::string_view p) { t.*field = detail::read_string_list(n, p); },
                [=](const T& t, toml::table& out, const std::string& k) {
                  toml::array a;
                  for (const auto& s : t.*field) a.push_back(s);
                  out.insert_or_assign(k, std::move(a));
                });
  }
  OptionSet& add(std::string name, std::vector<double> T::*field, std::string help, Limits limits = {}) {
    return push(std::move(name), "array of floats", render_list(T().*field), detail::describe_limits(limits),
                std::move(help),
                [=](T& t, const toml::node& n, std::string_view p) {
                  t.*field = detail::read_float_list(n, p, limits);
                },
                [=](const T& t, toml::table& out, const std::string& k) {
                  toml::array a;
                  for (double v : t.*field) a.push_back(v);
                  out.insert_or_assign(k, std::move(a));
                });
  }

  /// Leaves the option declared last out of the resolved TOML while it has its default, so that
  /// declaring a new option keeps every existing config, and its hash, as it was.
  OptionSet& omitted_at_default() {
    Field& f = fields_.back();
    f.write = [write = f.write](const T& t, toml::table& out, const std::string& k) {
      toml::table mine, fallback;
      write(t, mine, k);
      write(T(), fallback, k);
      if (mine != fallback) write(t, out, k);
    };
    return *this;
  }

  /// A check across fields (say d_model divisible by n_heads); `message` is shown when it fails.
  OptionSet& check(std::string message, std::function<bool(const T&)> ok) {
    checks_.push_back({std::move(message), std::move(ok)});
    return *this;
  }

  /// Appends the fields and checks declared for a base class of T, so options shared by several
  /// plugins are declared once.
  template <class Base>
  OptionSet& merge_base(const OptionSet<Base>& base) {
    static_assert(std::is_base_of_v<Base, T>);
    for (const auto& f : base.fields_) {
      fields_.push_back({f.info,
                         [read = f.read](T& t, const toml::node& n, std::string_view p) { read(t, n, p); },
                         [write = f.write](const T& t, toml::table& out, const std::string& k) { write(t, out, k); }});
    }
    for (const auto& c : base.checks_) {
      checks_.push_back({c.message, [ok = c.ok](const T& t) { return ok(t); }});
    }
    return *this;
  }

  /// Declares the string option `name` that picks one of `presets` ("none": just the defaults).
  /// Declare it after the fields the presets set.
  OptionSet& presets(std::string name, std::string T::*field, std::string help, std::vector<Preset> presets) {
    std::vector<std::string> choices{"none"};
    for (const auto& p : presets) {
      for (const auto& [key, node] : p.values) {
        if (!has_field(key.str())) detail::throw_bad_preset(p.name, key.str());
      }
      choices.push_back(p.name);
    }
    preset_of_ = [field](const T& t) -> const std::string& { return t.*field; };
    preset_name_ = name;
    presets_ = std::move(presets);
    return add(std::move(name), field, std::move(help), std::move(choices));
  }

  /// Fills a T from `table` under key path `path`: defaults, then the chosen preset, then the
  /// table's keys. Keys listed in `reserved` belong to the caller (a plugin table's `name`, say)
  /// and are skipped.
  T parse(const toml::table& table, std::string_view path, const std::vector<std::string>& reserved = {}) const {
    detail::check_keys(table, path, names(), reserved);
    T value{};
    if (preset_of_) {
      if (const toml::node* n = table.get(preset_name_)) read_field(value, preset_name_, *n, path);
      for (const auto& p : presets_) {
        if (p.name != preset_of_(value)) continue;
        for (const auto& [key, node] : p.values) read_field(value, key.str(), node, key_path(path, preset_name_));
      }
    }
    for (const auto& f : fields_) {
      if (const toml::node* n = table.get(f.info.name)) f.read(value, *n, key_path(path, f.info.name));
    }
    for (const auto& c : checks_) {
      if (!c.ok(value)) config_error(&table, path, c.message);
    }
    return value;
  }

  /// The resolved options as TOML, every field present.
  toml::table to_toml(const T& value) const {
    toml::table out;
    for (const auto& f : fields_) f.write(value, out, f.info.name);
    return out;
  }

  std::vector<OptionInfo> describe() const {
    std::vector<OptionInfo> out;
    for (const auto& f : fields_) out.push_back(f.info);
    return out;
  }

  std::vector<PresetInfo> describe_presets() const {
    std::vector<PresetInfo> out;
    for (const auto& p : presets_) out.push_back({p.name, p.help, detail::render_settings(p.values)});
    return out;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& f : fields_) out.push_back(f.info.name);
    return out;
  }

 private:
  using Reader = std::function<void(T&, const toml::node&, std::string_view)>;
  using Writer = std::function<void(const T&, toml::table&, const std::string&)>;
  struct Field {
    OptionInfo info;
    Reader read;
    Writer write;
  };
  struct Check {
    std::string message;
    std::function<bool(const T&)> ok;
  };

  OptionSet& push(std::string name, std::string type, std::string def, std::string accepted, std::string help,
                  Reader read, Writer write) {
    fields_.push_back({{std::move(name), std::move(type), std::move(def), std::move(accepted), std::move(help)},
                       std::move(read), std::move(write)});
    return *this;
  }
  bool has_field(std::string_view name) const {
    for (const auto& f : fields_) {
      if (f.info.name == name) return true;
    }
    return false;
  }
  void read_field(T& value, std::string_view name, const toml::node& n, std::string_view path) const {
    for (const auto& f : fields_) {
      if (f.info.name == name) f.read(value, n, key_path(path, name));
    }
  }
  template <class V>
  static std::string render_list(const std::vector<V>& values) {
    std::string s = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) s += ", ";
      if constexpr (std::is_same_v<V, std::string>) s += '"' + values[i] + '"';
      else s += detail::format_float(values[i]);
    }
    return s + "]";
  }

  std::vector<Field> fields_;
  std::vector<Check> checks_;
  template <class>
  friend class OptionSet;

  // A function, not the member pointer itself: GCC 13 warns (-Warray-bounds) about dereferencing
  // a null member pointer of an options struct with no string field, even on a path never taken.
  std::function<const std::string&(const T&)> preset_of_;
  std::string preset_name_;
  std::vector<Preset> presets_;
};

}  // namespace lmlab
