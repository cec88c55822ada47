#include "plugin_host/plugin_trust.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lmlab/error.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

std::optional<passwd> password_entry(uid_t uid, std::vector<char>& buffer) {
  buffer.assign(16384, 0);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return std::nullopt;
  return entry;
}

std::string name_of(uid_t uid, const AccountLookup& accounts) {
  return accounts.user_name(uid).value_or(fmt::format("uid {}", uid));
}

std::string owners_allowed() {
  return geteuid() == 0 ? std::string("root") : fmt::format("{} or root", name_of(geteuid(), AccountLookup::system()));
}

// With a POSIX ACL the group bits are the ACL's mask: named users may write even where the
// owning group is private, so a group-writable mask with an ACL is refused outright.
bool has_access_acl(const fs::path& path) {
  return lgetxattr(path.c_str(), "system.posix_acl_access", nullptr, 0) > 0;
}

// What makes one path changeable by someone else; `sticky_ok` for the folders above the
// library's own.
std::optional<std::string> problem_with(const fs::path& path, bool sticky_ok) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return fmt::format("{} cannot be examined", path.string());
  const AccountLookup accounts = AccountLookup::system();
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    return fmt::format("{} is owned by {}, not by {}", path.string(), name_of(st.st_uid, accounts), owners_allowed());
  }
  if (sticky_ok && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX)) return std::nullopt;
  const unsigned mode = st.st_mode & 07777;
  if (st.st_mode & S_IWOTH) return fmt::format("{} is writable by every user (mode {:o})", path.string(), mode);
  if (st.st_mode & S_IWGRP) {
    if (has_access_acl(path)) {
      return fmt::format("{} has an access control list whose mask allows writing (mode {:o})", path.string(), mode);
    }
    if (!group_is_private(st.st_uid, st.st_gid, accounts)) {
      const auto group = accounts.group(st.st_gid);
      return fmt::format("{} is writable by group '{}' (mode {:o}), which is not {}'s private group", path.string(),
                         group ? group->first : std::to_string(st.st_gid), mode, name_of(st.st_uid, accounts));
    }
  }
  return std::nullopt;
}

}  // namespace

AccountLookup AccountLookup::system() {
  AccountLookup a;
  a.user_name = [](uid_t uid) -> std::optional<std::string> {
    std::vector<char> buffer;
    const auto entry = password_entry(uid, buffer);
    return entry ? std::optional<std::string>(entry->pw_name) : std::nullopt;
  };
  a.primary_group = [](uid_t uid) -> std::optional<gid_t> {
    std::vector<char> buffer;
    const auto entry = password_entry(uid, buffer);
    return entry ? std::optional<gid_t>(entry->pw_gid) : std::nullopt;
  };
  a.group = [](gid_t gid) -> std::optional<std::pair<std::string, std::vector<std::string>>> {
    std::vector<char> buffer(65536);
    ::group entry{};
    ::group* found = nullptr;
    if (getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return std::nullopt;
    std::vector<std::string> members;
    for (char** m = found->gr_mem; m && *m; ++m) members.emplace_back(*m);
    return std::pair{std::string(found->gr_name), members};
  };
  a.users_with_primary_group = [](gid_t gid) {
    // Only reached for a group-writable path; a walk of the user database is what OpenSSH's
    // Debian patch does for the same question.
    std::vector<uid_t> out;
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd* found = nullptr;
    setpwent();
    while (getpwent_r(&entry, buffer.data(), buffer.size(), &found) == 0 && found) {
      if (found->pw_gid == gid) out.push_back(found->pw_uid);
    }
    endpwent();
    return out;
  };
  return a;
}

bool group_is_private(uid_t owner, gid_t gid, const AccountLookup& accounts) {
  const auto owner_name = accounts.user_name(owner);
  const auto primary = accounts.primary_group(owner);
  const auto group = accounts.group(gid);
  if (!owner_name || !primary || !group || *primary != gid || group->first != *owner_name) return false;
  const auto& members = group->second;
  if (std::any_of(members.begin(), members.end(), [&](const std::string& m) { return m != *owner_name; })) return false;
  const auto primaries = accounts.users_with_primary_group(gid);
  return std::all_of(primaries.begin(), primaries.end(), [&](uid_t uid) { return uid == owner; });
}

std::optional<std::string> writable_by_others(const fs::path& path) {
  std::error_code ec;
  // A library's folder decides what gets loaded beside it, so it is held to the library's rule.
  const fs::path folder = fs::is_directory(path, ec) ? path : path.parent_path();
  if (folder != path) {
    if (auto p = problem_with(path, false)) return p;
  }
  if (auto p = problem_with(folder, false)) return p;
  if (folder == folder.root_path()) return std::nullopt;
  for (fs::path above = folder.parent_path();; above = above.parent_path()) {
    if (auto p = problem_with(above, true)) return p;
    if (above == above.root_path() || above.empty()) break;
  }
  return std::nullopt;
}

fs::path trusted_plugin_path(const fs::path& path, const std::string& origin) {
  std::error_code ec;
  // Resolved once: the resolved path's folders are checked below, so no one else can redirect
  // it, whereas a symbolic link on the way (in /tmp, say) could be swapped after the check.
  const fs::path resolved = fs::canonical(fs::absolute(path), ec);
  if (ec) throw PluginError(fmt::format("plugin path {} (from {}) does not exist", path.string(), origin));
  const auto problem = writable_by_others(resolved);
  if (!problem) return resolved;
  const char* allow = std::getenv(allow_writable_plugins_env);
  if (allow && std::string_view(allow) == "1") {
    std::cerr << fmt::format("warning: loading {} (from {}) although {}, because {}=1\n", resolved.string(), origin,
                             *problem, allow_writable_plugins_env);
    return resolved;
  }
  throw PluginError(fmt::format(
      "refusing plugins from {} (from {}): {}, so another user could make lmlab run their code. Make the plugins "
      "and their folders writable only by you (chmod go-w), or set {}=1 to load them anyway",
      resolved.string(), origin, *problem, allow_writable_plugins_env));
}

}  // namespace lmlab
