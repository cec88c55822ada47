/// `lmlab new-plugin KIND NAME`: writes a plugin project, ready to build against an installed
/// lmlab, from templates compiled into the framework: a CMakeLists.txt, the plugin's source
/// with its options declaration and the interface's methods, a Catch2 test, an experiment that
/// uses it, and a README with the next commands.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace lmlab {

class Registry;

/// What `lmlab new-plugin` was asked for.
struct ScaffoldRequest {
  std::string kind;              // one of scaffold_kinds()
  std::string name;              // the plugin's name: lower case, digits and '_', starting with a letter
  std::filesystem::path dir;     // where the project goes (empty: ./<name>); must not exist or be empty
  std::filesystem::path corpus;  // the corpus folder the example experiment trains on
};

/// The kinds a project can be made for: "architecture", "objective", "decoding", "regulariser", "metric".
std::vector<std::string> scaffold_kinds();

/// Checks the request before anything is written: a known kind, a valid name that no plugin of
/// that kind in `registry` (the built-ins) already has, and a folder that does not exist or is
/// empty. Throws ConfigError naming the bad value and what is accepted.
void check_scaffold(const ScaffoldRequest& request, const Registry& registry);

/// Writes the project (after check_scaffold) and returns the files written, in order.
std::vector<std::filesystem::path> write_scaffold(const ScaffoldRequest& request, const Registry& registry);

/// "MyStep" for "my_step": the class name the templates use.
std::string class_name_of(const std::string& name);

}  // namespace lmlab
