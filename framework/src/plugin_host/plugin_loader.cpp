#include "lmlab/plugin_loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <fmt/format.h>

#include "build_info.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin.hpp"
#include "plugin_host/plugin_trust.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

// Every library ever loaded, deliberately leaked: unloading a plugin while any object it made
// (a TORCH_MODULE holder, a std::function, a vtable) is alive would leave dangling code.
std::vector<boost::dll::shared_library>& keep_alive() {
  static auto* libraries = new std::vector<boost::dll::shared_library>();
  return *libraries;
}

std::string field(const char* chars, std::size_t size) { return std::string(chars, strnlen(chars, size)); }

bool same_abi(const AbiRecord& a, const AbiRecord& b) {
  return a.record_size == b.record_size && a.lmlab_abi == b.lmlab_abi && a.cxx11_abi == b.cxx11_abi &&
         field(a.torch_version, sizeof a.torch_version) == field(b.torch_version, sizeof b.torch_version) &&
         field(a.compiler, sizeof a.compiler) == field(b.compiler, sizeof b.compiler);
}

bool is_plugin_file(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.starts_with("lib") && p.extension() == ".so";
}

}  // namespace

const AbiRecord& host_abi_record() {
  static const AbiRecord record = make_abi_record();
  return record;
}

std::string describe_abi(const AbiRecord& r) {
  return fmt::format("lmlab ABI {}, LibTorch {}, _GLIBCXX_USE_CXX11_ABI={}, {}", r.lmlab_abi,
                     field(r.torch_version, sizeof r.torch_version), r.cxx11_abi, field(r.compiler, sizeof r.compiler));
}

void PluginLoader::load_library(const fs::path& library) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(library, ec);
  const fs::path& path = ec ? library : canonical;
  if (std::find(loaded_.begin(), loaded_.end(), path) != loaded_.end()) return;
  if (!fs::is_regular_file(path)) throw PluginError(fmt::format("plugin library {} does not exist", path.string()));

  boost::dll::shared_library lib;
  try {
    lib.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw PluginError(fmt::format("cannot load plugin library {}: {}", path.string(), e.what()));
  }
  if (!lib.has("lmlab_abi") || !lib.has("lmlab_register")) {
    throw PluginError(fmt::format(
        "{} is not an lmlab plugin: it does not export lmlab_abi and lmlab_register (define them with LMLAB_PLUGIN)",
        path.string()));
  }
  // The record is plain data, safe to read whatever the library was built with; nothing else in
  // the library is called until it matches.
  const AbiRecord& record = lib.get_alias<const AbiRecord>("lmlab_abi");
  if (std::string_view(record.magic, sizeof record.magic) != "LMLABABI" || !same_abi(record, host_abi_record())) {
    const bool readable = std::string_view(record.magic, sizeof record.magic) == "LMLABABI";
    throw PluginError(fmt::format("plugin library {} was built for {}; this host is {}. Rebuild the plugin "
                                  "against this lmlab (same compiler, LibTorch and flags)",
                                  path.string(), readable ? describe_abi(record) : "an unreadable ABI record",
                                  describe_abi(host_abi_record())));
  }

  auto& register_function = lib.get_alias<RegisterFunction>("lmlab_register");
  keep_alive().push_back(lib);  // before any call: objects it makes may outlive this function
  // Registered into a scratch registry first, so a library that fails half-way adds nothing.
  Registry scratch;
  Registrar registrar(scratch, path.string());
  try {
    register_function(registrar);
  } catch (const std::exception& e) {
    throw PluginError(fmt::format("plugin library {} failed to register: {}", path.string(), e.what()));
  } catch (...) {
    throw PluginError(fmt::format("plugin library {} failed to register: unknown exception", path.string()));
  }
  refuse_clash(scratch, path);
  registry_.merge(std::move(scratch));
  loaded_.push_back(path);
}

void PluginLoader::refuse_clash(const Registry& incoming, const fs::path& library) const {
  const std::vector<PluginInfo> ours = registry_.all();
  for (const auto& theirs : incoming.all()) {
    const auto same = std::find_if(ours.begin(), ours.end(),
                                   [&](const PluginInfo& p) { return p.kind == theirs.kind && p.name == theirs.name; });
    if (same == ours.end()) continue;
    std::error_code ec;
    const bool builtin = fs::equivalent(fs::path(same->library).parent_path(), builtin_folder(), ec);
    throw PluginError(fmt::format("plugin library {} registers {} plugin '{}', but {} plugin library {} already "
                                  "registers that name; names are unique per kind: rename the plugin in {}",
                                  library.string(), theirs.kind, theirs.name, builtin ? "the built-in" : "the",
                                  same->library, library.string()));
  }
}

namespace {

std::vector<fs::path> libraries_in(const fs::path& folder) {
  if (!fs::is_directory(folder)) throw PluginError(fmt::format("plugin folder {} does not exist", folder.string()));
  std::vector<fs::path> libraries;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_regular_file() && is_plugin_file(entry.path())) libraries.push_back(entry.path());
  }
  std::sort(libraries.begin(), libraries.end());
  return libraries;
}

}  // namespace

void PluginLoader::load_folder(const fs::path& folder) {
  for (const auto& library : libraries_in(folder)) load_library(library);
}

void PluginLoader::load_untrusted(const fs::path& path, const std::string& origin) {
  // Exactly the checked, resolved paths are loaded: a folder's listing and each library in it.
  const fs::path trusted = trusted_plugin_path(path, origin);
  if (!fs::is_directory(trusted)) {
    load_library(trusted);
    return;
  }
  for (const auto& library : libraries_in(trusted)) load_library(trusted_plugin_path(library, origin));
}

void PluginLoader::load_standard(const std::vector<std::string>& extra, const fs::path& base, const std::string& origin) {
  load_folder(builtin_folder());
  if (const char* env = std::getenv("LMLAB_PLUGIN_PATH")) {
    std::string_view rest = env;
    while (!rest.empty()) {
      const std::size_t colon = rest.find(':');
      const std::string_view item = rest.substr(0, colon);
      if (!item.empty()) {
        if (!fs::is_directory(fs::path(item))) {
          throw PluginError(fmt::format("LMLAB_PLUGIN_PATH names {}, which is not a folder", std::string(item)));
        }
        load_untrusted(fs::path(item), "LMLAB_PLUGIN_PATH");
      }
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    }
  }
  for (const auto& item : extra) {
    const fs::path p = fs::path(item).is_absolute() || base.empty() ? fs::path(item) : base / item;
    load_untrusted(p, origin);
  }
}

fs::path PluginLoader::builtin_folder() {
  // Canonical, so that an installed host (RPATH $ORIGIN/../lib) names <prefix>/lib, not <prefix>/bin/../lib.
  std::error_code ec;
  const fs::path located = boost::dll::symbol_location(host_abi_record).parent_path();
  const fs::path canonical = fs::weakly_canonical(located, ec);
  const fs::path& framework_dir = ec ? located : canonical;
  // Only the build tree's own library uses the build tree's folder; an installed one uses
  // <libdir>/lmlab/plugins and nothing else (a <prefix>/plugins of the user's is not built-in).
  const fs::path build_plugins = fs::weakly_canonical(fs::path(build_info::plugin_dir), ec);
  if (!ec && fs::equivalent(framework_dir, build_plugins.parent_path() / "lib", ec)) return build_plugins;
  return framework_dir / "lmlab" / "plugins";
}

}  // namespace lmlab
