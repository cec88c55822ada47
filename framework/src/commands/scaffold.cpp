#include "commands/scaffold.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/error.hpp"
#include "lmlab/registry.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace detail {
// Generated from framework/templates by cmake/EmbedTemplates.cmake: (path, text) pairs.
std::vector<std::pair<std::string_view, std::string_view>> scaffold_templates();
}  // namespace detail

namespace {

// Names CMake keeps for itself (a target called `test` or `install` is an error there), the
// targets lmlab_add_plugin and lmlab_add_plugin_test create in every plugin project, and the
// imported targets of LibTorch that a plugin project sees.
constexpr std::array reserved_names{
    "all",   "clean",     "help",       "install",       "test",   "package",   "package_source",
    "edit_cache", "rebuild_cache", "list_install_components", "lmlab", "lmlab_pch", "lmlab_catch_main",
    "torch", "torch_cpu", "torch_cuda", "torch_library", "c10",    "c10_cuda",  "caffe2"};

std::string_view template_text(std::string_view path) {
  static const auto templates = detail::scaffold_templates();
  for (const auto& [name, text] : templates) {
    if (name == path) return text;
  }
  throw Error(fmt::format("lmlab was built without the scaffold template {}", path));
}

std::string substitute(std::string_view text, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out(text);
  for (const auto& [token, value] : values) {
    for (std::size_t at = out.find(token); at != std::string::npos; at = out.find(token, at + value.size())) {
      out.replace(at, token.size(), value);
    }
  }
  return out;
}

// A TOML basic string's content: the corpus path goes into the example experiment verbatim.
std::string toml_escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

fs::path project_dir(const ScaffoldRequest& r) { return r.dir.empty() ? fs::path(r.name) : r.dir; }

}  // namespace

std::vector<std::string> scaffold_kinds() { return {"architecture", "objective", "decoding", "regulariser", "metric"}; }

std::string class_name_of(const std::string& name) {
  std::string out;
  bool upper = true;
  for (const char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

void check_scaffold(const ScaffoldRequest& r, const Registry& registry) {
  const auto kinds = scaffold_kinds();
  if (std::find(kinds.begin(), kinds.end(), r.kind) == kinds.end()) {
    throw ConfigError(fmt::format("new-plugin: unknown kind '{}'; accepted: {}", r.kind, fmt::join(kinds, ", ")));
  }
  const bool valid = !r.name.empty() && r.name.size() <= 64 && r.name.front() >= 'a' && r.name.front() <= 'z' &&
                     std::all_of(r.name.begin(), r.name.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                     });
  if (!valid) {
    throw ConfigError(fmt::format("new-plugin: invalid name '{}': use lower-case letters, digits and '_', starting "
                                  "with a letter (at most 64 characters), e.g. my_{}",
                                  r.name, r.kind));
  }
  if (std::find(reserved_names.begin(), reserved_names.end(), r.name) != reserved_names.end()) {
    throw ConfigError(fmt::format("new-plugin: '{}' is a name CMake or lmlab's build keeps for itself; choose another "
                                  "(reserved: {})",
                                  r.name, fmt::join(reserved_names, ", ")));
  }
  for (const auto& info : registry.all()) {
    if (info.kind == r.kind && info.name == r.name) {
      throw ConfigError(fmt::format("new-plugin: a {} plugin '{}' already exists ({}); the host would refuse a second "
                                    "one, so choose another name",
                                    r.kind, r.name, info.library));
    }
  }
  const fs::path dir = project_dir(r);
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    throw ConfigError(fmt::format("new-plugin: {} already exists and is not an empty folder; nothing was written "
                                  "(choose another --dir)",
                                  dir.string()));
  }
}

std::vector<fs::path> write_scaffold(const ScaffoldRequest& r, const Registry& registry) {
  check_scaffold(r, registry);
  const std::vector<std::pair<std::string, std::string>> values{
      {"@NAME@", r.name},
      {"@CLASS@", class_name_of(r.name)},
      {"@KIND@", r.kind},
      {"@CORPUS@", toml_escaped(r.corpus.string())},
  };
  const fs::path dir = project_dir(r);
  const std::vector<std::pair<std::string, std::string>> files{
      {"CMakeLists.txt.in", "CMakeLists.txt"},
      {"README.md.in", "README.md"},
      {r.kind + "/plugin.cpp.in", r.name + ".cpp"},
      {r.kind + "/plugin.tests.cpp.in", r.name + ".tests.cpp"},
      {r.kind + "/experiment.toml.in", "experiment.toml"},
  };
  // Every template is read before anything is written, so a broken build writes nothing.
  std::vector<std::pair<fs::path, std::string>> contents;
  for (const auto& [from, to] : files) contents.emplace_back(dir / to, substitute(template_text(from), values));
  fs::create_directories(dir);
  std::vector<fs::path> written;
  for (const auto& [path, text] : contents) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw Error(fmt::format("new-plugin: cannot write {}", path.string()));
    written.push_back(path);
  }
  return written;
}

}  // namespace lmlab
