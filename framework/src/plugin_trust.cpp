#include "lmlab/plugin_trust.hpp"

#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmlab/error.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

std::string user_name(uid_t uid) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found) return found->pw_name;
  return fmt::format("uid {}", uid);
}

// A group writable file is safe only in the owner's private group (Debian's default of one group
// per user): the owner's primary group, with no one else listed in it.
std::optional<std::string> shared_group(const struct stat& st) {
  std::vector<char> buffer(65536);
  group entry{};
  group* found = nullptr;
  if (getgrgid_r(st.st_gid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return fmt::format("group {} (unknown)", st.st_gid);
  }
  const std::string owner = user_name(st.st_uid);
  std::vector<char> pw_buffer(16384);
  passwd pw{};
  passwd* owner_entry = nullptr;
  const bool primary = getpwuid_r(st.st_uid, &pw, pw_buffer.data(), pw_buffer.size(), &owner_entry) == 0 &&
                       owner_entry && owner_entry->pw_gid == st.st_gid;
  bool others = false;
  for (char** member = found->gr_mem; member && *member; ++member) others = others || owner != *member;
  if (primary && !others) return std::nullopt;
  return fmt::format("group '{}'", found->gr_name);
}

// What makes one path changeable by someone else; `sticky_ok` for the folders above the
// library's own.
std::optional<std::string> problem_with(const fs::path& path, bool sticky_ok) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return fmt::format("{} cannot be examined", path.string());
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    return fmt::format("{} is owned by {}, not by {} or root", path.string(), user_name(st.st_uid), user_name(geteuid()));
  }
  if (sticky_ok && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX)) return std::nullopt;
  if (st.st_mode & S_IWOTH) return fmt::format("{} is writable by every user (mode {:o})", path.string(), st.st_mode & 07777);
  if (st.st_mode & S_IWGRP) {
    if (auto group = shared_group(st)) {
      return fmt::format("{} is writable by {} (mode {:o}), whose members include other users", path.string(), *group,
                         st.st_mode & 07777);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> writable_by_others(const fs::path& path) {
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(fs::absolute(path), ec);
  const fs::path& target = ec ? path : resolved;
  // A library's folder decides what gets loaded beside it, so it is held to the library's rule.
  const fs::path folder = fs::is_directory(target, ec) ? target : target.parent_path();
  if (folder != target) {
    if (auto p = problem_with(target, false)) return p;
  }
  if (auto p = problem_with(folder, false)) return p;
  if (folder == folder.root_path()) return std::nullopt;
  for (fs::path above = folder.parent_path(); ; above = above.parent_path()) {
    if (auto p = problem_with(above, true)) return p;
    if (above == above.root_path() || above.empty()) break;
  }
  return std::nullopt;
}

void check_plugin_trusted(const fs::path& path, const std::string& origin) {
  const auto problem = writable_by_others(path);
  if (!problem) return;
  const char* allow = std::getenv(allow_writable_plugins_env);
  if (allow && std::string_view(allow) == "1") {
    std::cerr << fmt::format("warning: loading {} (from {}) although {}, because {}=1\n", path.string(), origin,
                             *problem, allow_writable_plugins_env);
    return;
  }
  throw PluginError(fmt::format(
      "refusing plugins from {} (from {}): {}, so another user could make lmlab run their code. Make the plugins "
      "and their folders writable only by you (chmod go-w), or set {}=1 to load them anyway",
      path.string(), origin, *problem, allow_writable_plugins_env));
}

}  // namespace lmlab
