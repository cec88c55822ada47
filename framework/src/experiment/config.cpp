// Loading experiment files: `base =` inheritance, `--set` overrides, and the config hash.
// Validation lives in experiment_schema.cpp, [sweep] expansion in sweep.cpp.

#include "experiment/config.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "experiment/integer_literal.hpp"
#include "experiment/quote_bounded.hpp"
#include "experiment/toml_limits.hpp"
#include "lmlab/error.hpp"
#include "lmlab/options.hpp"

namespace lmlab {
namespace {

namespace fs = std::filesystem;

// The files being loaded, outermost first, to detect `base` cycles.
struct IncludeChain {
  std::vector<fs::path> canonical;
  std::vector<std::string> shown;
};

// Moves every entry of `base` that `derived` lacks into it; tables present in both merge
// recursively, and for anything else the derived value wins. Moving rather than copying keeps
// each node's source region (toml++ drops it on copy), so errors point into the file a value
// came from. Arrays, [[regularisers]] included, are replaced whole.
void merge_into(toml::table& derived, toml::table&& base) {
  for (auto&& [key, node] : base) {
    toml::node* mine = derived.get(key.str());
    if (!mine) derived.insert(key, std::move(node));
    else if (mine->is_table() && node.is_table()) merge_into(*mine->as_table(), std::move(*node.as_table()));
  }
}

// Located at the `base = ...` that named the file, when one did.
[[noreturn]] void unreadable(const fs::path& file, const toml::node* included_by, std::string_view why) {
  const std::string message = fmt::format("cannot read experiment file '{}': {}", file.string(), why);
  if (included_by) config_error(included_by, "base", message);
  config_error_at("", "", message);
}

toml::table parse_one(const fs::path& file, const toml::node* included_by) {
  std::error_code ec;
  if (!fs::exists(file, ec)) unreadable(file, included_by, "no such file");
  if (!fs::is_regular_file(file, ec)) unreadable(file, included_by, "not a regular file");
  // Sized before reading, so a huge file is refused without being loaded.
  const std::uintmax_t size = fs::file_size(file, ec);
  if (ec) unreadable(file, included_by, ec.message());
  if (size > max_toml_bytes) {
    unreadable(file, included_by, fmt::format("{} bytes is too large for an experiment file (at most {} MiB)", size,
                                              max_toml_bytes >> 20));
  }
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) unreadable(file, included_by, "read failed");
  return parse_toml(text, file.string());
}

toml::table load(const fs::path& file, IncludeChain& chain, const toml::node* included_by) {
  const fs::path canonical = fs::weakly_canonical(file);
  if (std::find(chain.canonical.begin(), chain.canonical.end(), canonical) != chain.canonical.end()) {
    std::string cycle;
    for (const auto& shown : chain.shown) cycle += shown + " -> ";
    config_error(included_by, "base", fmt::format("inheritance cycle: {}{}", cycle, file.string()));
  }
  toml::table table = parse_one(file, included_by);
  const toml::node* base = table.get("base");
  if (!base) return table;
  const std::string base_name = detail::read_string(*base, "base", {});
  // Relative to the including file, so a folder of experiments can move as a whole.
  const fs::path base_file = (file.parent_path() / base_name).lexically_normal();
  chain.canonical.push_back(canonical);
  chain.shown.push_back(file.string());
  toml::table inherited = load(base_file, chain, base);
  chain.canonical.pop_back();
  chain.shown.pop_back();
  table.erase("base");
  merge_into(table, std::move(inherited));
  return table;
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return std::string(s.substr(first, s.find_last_not_of(" \t") - first + 1));
}

// `path` is the override's key path, when it has a well-formed one.
[[noreturn]] void bad_override(std::string_view text, std::string_view why, std::string_view path = {}) {
  config_error_at("--set", path, fmt::format("{}: {}", quote_bounded(text), why));
}

std::vector<std::string> split_key(std::string_view key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    parts.push_back(trim(key.substr(start, dot == std::string_view::npos ? dot : dot - start)));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

// A one-entry document `v = <value>` parsed with source "--set", so the node reports that origin.
toml::table parse_override_value(const std::string& value, std::string_view path, std::size_t outer_depth) {
  try {
    toml::table doc = parse_toml("v = " + value, "--set", outer_depth);
    if (doc.size() == 1 && doc.contains("v")) return doc;
  } catch (const ConfigError&) {
    // Limits are checked again below on the quoted text, which nests no deeper.
  }
  // Digits that do not fit 64 bits are a number out of range, not a word.
  if (is_integer_literal(value)) {
    config_error_at("--set", path, integer_overflow_message(value), integer_range_text());
  }
  // Not a TOML value: a bare word such as `cosine` or `cuda:0`, taken as that string. toml++
  // quotes it, so any character survives the second parse.
  std::ostringstream quoted;
  quoted << toml::value<std::string>(value);
  return parse_toml("v = " + quoted.str(), "--set", outer_depth);
}

// An empty table whose source is "--set", for the intermediate tables an override creates.
toml::table override_table() {
  toml::table doc = toml::parse(std::string_view("t = {}"), std::string_view("--set"));
  return std::move(*doc.get("t")->as_table());
}

void apply_override(toml::table& config, const std::string& text) {
  const std::size_t equals = text.find('=');
  if (equals == std::string::npos) bad_override(text, "expected section.key=value");
  const std::vector<std::string> parts = split_key(std::string_view(text).substr(0, equals));
  if (std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
    bad_override(text, "the key path has an empty part; expected section.key=value");
  }
  if (parts.size() > max_toml_depth) {
    bad_override(text, fmt::format("the key path has {} parts; at most {} are accepted", parts.size(), max_toml_depth));
  }
  std::string full_path;
  for (const auto& part : parts) full_path = key_path(full_path, part);
  const std::string value = trim(std::string_view(text).substr(equals + 1));
  if (value.empty()) bad_override(text, "the value is empty (write key=\"\" for an empty string)", full_path);

  toml::table* table = &config;
  std::string path;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    path = key_path(path, parts[i]);
    toml::node* next = table->get(parts[i]);
    if (!next) {
      toml::table fresh = override_table();
      table->insert(toml::key(parts[i], fresh.source()), std::move(fresh));
      next = table->get(parts[i]);
    }
    if (!next->is_table()) {
      bad_override(text, fmt::format("{} ({}) is not a table", path, where(*next)), full_path);
    }
    table = next->as_table();
  }
  toml::table parsed = parse_override_value(value, full_path, parts.size() - 1);
  toml::node& node = *parsed.get("v");
  // The key carries the node's "--set" origin too, for unknown-key errors.
  table->insert_or_assign(toml::key(parts.back(), node.source()), std::move(node));
}

}  // namespace

toml::table load_experiment_file(const std::filesystem::path& file) {
  IncludeChain chain;
  return load(file, chain, nullptr);
}

void apply_overrides(toml::table& config, const std::vector<std::string>& overrides) {
  for (const auto& text : overrides) apply_override(config, text);
}

std::vector<std::string> plugin_paths_of(const toml::table& config) {
  const toml::node* section = config.get("experiment");
  if (!section) return {};
  const toml::node* paths = detail::read_table(*section, "experiment").get("plugin_paths");
  return paths ? detail::read_string_list(*paths, "experiment.plugin_paths") : std::vector<std::string>{};
}

std::string hash_text(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64-bit offset basis and prime
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace lmlab
