/// Whether a plugin found on the search path (LMLAB_PLUGIN_PATH, an experiment's plugin_paths,
/// --plugin-path) may be loaded: loading a library runs its code with the user's rights, so no
/// other user may be able to change it, its folder, or any folder above them (the check
/// OpenSSH's StrictModes makes of ~/.ssh).
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace lmlab {

/// The environment variable that, set to 1, loads such plugins anyway (with a warning).
inline constexpr const char* allow_writable_plugins_env = "LMLAB_ALLOW_WRITABLE_PLUGINS";

/// Why another user could change the plugin library or plugin folder `path` (resolved through
/// symbolic links), or nothing when none could. A library and its folder, or a folder, must each
/// be owned by this user or root and be
/// writable by nobody else: not by all users, nor by a group with a member besides the owner.
/// The folders above them must meet the same rule, except that a sticky world-writable folder
/// (/tmp) is fine there, since only an entry's owner can rename or remove it.
std::optional<std::string> writable_by_others(const std::filesystem::path& path);

/// Throws PluginError naming the library or folder, what others can write, and how to fix it,
/// unless LMLAB_ALLOW_WRITABLE_PLUGINS=1 (then it warns on stderr). `origin` says where the path
/// came from ("LMLAB_PLUGIN_PATH", "experiment.plugin_paths").
void check_plugin_trusted(const std::filesystem::path& path, const std::string& origin);

}  // namespace lmlab
