/// Whether a plugin found on the search path (LMLAB_PLUGIN_PATH, an experiment's plugin_paths,
/// --plugin-path) may be loaded: loading a library runs its code with the user's rights, so no
/// other user may be able to change it, its folder, or any folder above them (the check
/// OpenSSH's StrictModes makes of ~/.ssh).
#pragma once
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lmlab {

/// The environment variable that, set to 1, loads such plugins anyway (with a warning).
inline constexpr const char* allow_writable_plugins_env = "LMLAB_ALLOW_WRITABLE_PLUGINS";

/// Why another user could change the plugin library or plugin folder `path` (already resolved
/// through symbolic links), or nothing when none could. A library and its folder, or a folder,
/// must each be owned by this user or root, not writable by all users, and not writable by a
/// group unless that group is the owner's private one (see group_is_private). The folders above
/// them must meet the same rule, except that a sticky world-writable folder (/tmp) is fine
/// there, since only an entry's owner can rename or remove it.
std::optional<std::string> writable_by_others(const std::filesystem::path& path);

/// Resolves `path` through symbolic links, checks the result with writable_by_others and returns
/// it, so the caller loads exactly what was checked. Throws PluginError naming the path, where it
/// came from (`origin`: "LMLAB_PLUGIN_PATH", "experiment.plugin_paths in F", "--plugin-path"),
/// what others can write and how to fix it; with LMLAB_ALLOW_WRITABLE_PLUGINS=1 it warns on
/// stderr instead. A path that does not exist is a PluginError too.
std::filesystem::path trusted_plugin_path(const std::filesystem::path& path, const std::string& origin);

/// What the group rule needs to know of the accounts, as functions so tests can stand in for the
/// system's user and group databases.
struct AccountLookup {
  std::function<std::optional<std::string>(uid_t)> user_name;
  std::function<std::optional<gid_t>(uid_t)> primary_group;
  /// The group's name and the users its entry lists (not those for whom it is the primary group).
  std::function<std::optional<std::pair<std::string, std::vector<std::string>>>(gid_t)> group;
  /// Every user whose primary group is `gid`.
  std::function<std::vector<uid_t>(gid_t)> users_with_primary_group;
  /// The system's databases (getpwuid_r, getgrgid_r, getpwent).
  static AccountLookup system();
};

/// True when group `gid` can hold no user but `owner`: it is the owner's primary group, it is
/// named after the owner (the user-private-group convention), its entry lists no one else, and
/// no other user has it as primary group. Unknown users or groups are not private.
bool group_is_private(uid_t owner, gid_t gid, const AccountLookup& accounts);

}  // namespace lmlab
