// `lmlab plugins`: every plugin the standard search path (and --plugin-path) loads, with its
// kind, library, help and options.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands/command.hpp"
#include "lmlab/plugin_loader.hpp"
#include "reporting/report.hpp"

namespace lmlab::commands {
namespace {

int list_plugins(const std::vector<std::string>& plugin_paths) {
  Registry registry;
  PluginLoader loader(registry);
  loader.load_standard(plugin_paths, std::filesystem::current_path(), "--plugin-path");
  print_plugins(std::cout, registry.all());
  return 0;
}

}  // namespace

Command add_plugins_command(CLI::App& app) {
  auto plugin_paths = std::make_shared<std::vector<std::string>>();
  auto* sub = app.add_subcommand("plugins", "list the loaded plugins and their options");
  sub->add_option("--plugin-path", *plugin_paths, "another plugin folder or library (repeatable)");
  return {sub, [plugin_paths] { return list_plugins(*plugin_paths); }};
}

}  // namespace lmlab::commands
