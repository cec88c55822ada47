// `lmlab new-plugin KIND NAME`: writes a plugin project (the writer: scaffold.cpp) and says how to
// build it against this lmlab's installed package.
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "build_info.hpp"
#include "commands/command.hpp"
#include "commands/scaffold.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"

namespace lmlab::commands {
namespace {

namespace fs = std::filesystem;

struct NewPluginArgs {
  ScaffoldRequest request;  // kind and name go straight in
  std::string dir;
  std::string corpus;
};

// Where find_package(lmlab) finds this host's package, when it is installed.
std::optional<fs::path> installed_package_dir() {
  const fs::path libdir = PluginLoader::builtin_folder().parent_path().parent_path();
  const fs::path dir = libdir / "cmake" / "lmlab";
  std::error_code ec;
  if (fs::is_regular_file(dir / "lmlabConfig.cmake", ec)) return dir;
  return std::nullopt;
}

// The commands that build and try the project written to `dir`.
void print_next_steps(const fs::path& dir, const fs::path& corpus) {
  const auto package = installed_package_dir();
  const std::string where = package ? fmt::format("-Dlmlab_DIR={}", package->string())
                                    : std::string("-DCMAKE_PREFIX_PATH=<prefix>");
  std::cout << fmt::format("next:\n  cd {}\n  cmake -S . -B build {}\n  cmake --build build && ctest --test-dir build\n"
                           "  LMLAB_PLUGIN_PATH=$PWD/build/plugins lmlab run experiment.toml\n",
                           dir.string(), where);
  if (!package) {
    std::cout << fmt::format("(this lmlab is not installed: `cmake --install {} --prefix <prefix>` first; see "
                             "docs/writing-plugins.md)\n",
                             fs::path(build_info::plugin_dir).parent_path().string());
  }
  std::error_code ec;
  if (!fs::is_directory(corpus, ec)) {
    std::cout << fmt::format("note: the corpus {} does not exist yet; fetch it or set data.corpus in experiment.toml\n",
                             corpus.string());
  }
}

int new_plugin(const NewPluginArgs& a) {
  ScaffoldRequest request = a.request;
  request.dir = a.dir;
  request.corpus = a.corpus.empty() ? fs::path(build_info::source_dir) / "data" / "brown" : fs::absolute(a.corpus);
  // The built-ins, so that the new plugin's name cannot shadow one of its kind.
  Registry registry;
  PluginLoader loader(registry);
  loader.load_folder(PluginLoader::builtin_folder());
  const auto files = write_scaffold(request, registry);
  const fs::path dir = files.front().parent_path();
  const bool vowel = std::string_view("aeiou").find(request.kind.front()) != std::string_view::npos;
  std::cout << fmt::format("{} {} plugin project '{}' in {}:\n", vowel ? "an" : "a", request.kind, request.name,
                           dir.string());
  for (const auto& f : files) std::cout << "  " << f.filename().string() << '\n';
  print_next_steps(dir, request.corpus);
  return 0;
}

}  // namespace

Command add_new_plugin_command(CLI::App& app) {
  auto args = std::make_shared<NewPluginArgs>();
  auto* sub = app.add_subcommand("new-plugin", "write a ready-to-build plugin project (see docs/writing-plugins.md)");
  sub->add_option("kind", args->request.kind, "architecture, objective, decoding, regulariser or metric")->required();
  sub->add_option("name", args->request.name, "the plugin's name (lower case, digits, _)")->required();
  sub->add_option("--dir", args->dir, "the project folder (default: ./NAME); must not exist or be empty");
  sub->add_option("--corpus", args->corpus,
                  "the corpus folder experiment.toml trains on (default: lmlab's data/brown)");
  return {sub, [args] { return new_plugin(*args); }};
}

}  // namespace lmlab::commands
