/// Finding and loading plugin libraries: the ABI record is checked before anything else in the
/// library is called, and libraries stay loaded for the life of the process (objects they made,
/// every TORCH_MODULE holder included, must never outlive their code).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/registry.hpp"

namespace lmlab {

struct AbiRecord;

/// The ABI record of this host, for comparison and display.
const AbiRecord& host_abi_record();
/// "lmlab ABI 1, LibTorch 1.13.0, _GLIBCXX_USE_CXX11_ABI=1, gcc 12.2.0".
std::string describe_abi(const AbiRecord& record);

class PluginLoader {
 public:
  explicit PluginLoader(Registry& registry) : registry_(registry) {}

  /// Loads one library: refuses a file that is not an lmlab plugin or whose ABI record differs
  /// from the host's (naming both), then calls its registration function. A library already
  /// loaded (same canonical path) is skipped.
  void load_library(const std::filesystem::path& library);

  /// Loads every lib*.so in `folder`, in name order. A missing folder is an error.
  void load_folder(const std::filesystem::path& folder);

  /// The standard search: the built-in plugin folder, then each folder of LMLAB_PLUGIN_PATH
  /// (colon-separated), then `extra` (an experiment's plugin_paths or --plugin-path, folders or
  /// libraries, relative to `base`). Those outside the built-in folder must pass
  /// trusted_plugin_path (plugin_trust.hpp), and a name a loaded library already registered,
  /// a built-in's above all, is refused naming both libraries.
  /// `origin` says where `extra` came from, for messages ("experiment.plugin_paths in F").
  void load_standard(const std::vector<std::string>& extra = {}, const std::filesystem::path& base = {},
                     const std::string& origin = "plugin_paths");

  /// The built-in plugin folder: the build tree's `plugins` for the build tree's library, else
  /// <folder of the lmlab library>/lmlab/plugins (an install).
  static std::filesystem::path builtin_folder();

  const std::vector<std::filesystem::path>& loaded() const { return loaded_; }

 private:
  void load_untrusted(const std::filesystem::path& path, const std::string& origin);
  void refuse_clash(const Registry& incoming, const std::filesystem::path& library) const;

  Registry& registry_;
  std::vector<std::filesystem::path> loaded_;
};

}  // namespace lmlab
