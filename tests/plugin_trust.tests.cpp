// Plugins found on the search path run with the user's rights, so a library, or a folder on the
// way to it, that another user could write to is refused, with a message that says which and why.
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_loader.hpp"
#include "plugin_host/plugin_trust.hpp"
#include "lmlab/decoding.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace plugin_trust_tests {

namespace fs = std::filesystem;

namespace {

// A private folder (0700, as mkdtemp makes it) holding a copy of a real plugin library.
struct PluginCopy {
  lmlab::test::TempDir tmp;
  fs::path folder = tmp / "plugins";
  fs::path library = folder / "libthrowing.so";
  PluginCopy() {
    fs::create_directories(folder);
    fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace);
    fs::copy_file(fs::path(lmlab::test_paths::fixture_plugin_dir) / "throwing" / "libthrowing.so", library);
    fs::permissions(library, fs::perms::owner_read | fs::perms::owner_write | fs::perms::owner_exec,
                    fs::perm_options::replace);
  }
};

// Sets an environment variable for one scope, so a failing check cannot leak it into the next.
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) { setenv(name.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

void load_through_env(const fs::path& folder) {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const ScopedEnv path("LMLAB_PLUGIN_PATH", folder.string());
  loader.load_standard();
  REQUIRE_NOTHROW(registry.get<lmlab::DecodingStep>("failing"));
}

// Accounts for the group rule, without the system's databases: alice (uid 1000) and bob (1001).
lmlab::AccountLookup accounts(std::vector<std::string> alice_group_members, std::vector<uid_t> primary_users,
                              gid_t alice_primary = 1000) {
  lmlab::AccountLookup a;
  a.user_name = [](uid_t uid) -> std::optional<std::string> {
    if (uid == 1000) return "alice";
    if (uid == 1001) return "bob";
    return std::nullopt;
  };
  a.primary_group = [=](uid_t uid) -> std::optional<gid_t> { return uid == 1000 ? alice_primary : 1001; };
  a.group = [=](gid_t gid) -> std::optional<std::pair<std::string, std::vector<std::string>>> {
    if (gid == 1000) return std::pair{std::string("alice"), alice_group_members};
    if (gid == 100) return std::pair{std::string("users"), std::vector<std::string>{}};
    return std::nullopt;
  };
  a.users_with_primary_group = [=](gid_t) { return primary_users; };
  return a;
}

}  // namespace

TEST_CASE("a plugin folder only its owner can write to loads") {
  PluginCopy copy;
  CHECK_FALSE(lmlab::writable_by_others(copy.library).has_value());
  CHECK_FALSE(lmlab::writable_by_others(copy.folder).has_value());
  CHECK_NOTHROW(load_through_env(copy.folder));
}

TEST_CASE("a world-writable plugin folder is refused, naming it, unless explicitly allowed") {
  PluginCopy copy;
  fs::permissions(copy.folder, fs::perms::all, fs::perm_options::replace);  // 0777
  const std::string folder = fs::canonical(copy.folder).string();
  const auto problem = lmlab::writable_by_others(fs::canonical(copy.library));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Catch::Contains(folder) && Catch::Contains("writable by every user"));
  REQUIRE_THROWS_WITH(load_through_env(copy.folder),
                      Catch::Contains("refusing plugins from " + folder) &&
                          Catch::Contains("LMLAB_PLUGIN_PATH") && Catch::Contains("chmod go-w") &&
                          Catch::Contains(lmlab::allow_writable_plugins_env));
  // Experiment files' plugin_paths take the same road, and say where the path came from.
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  CHECK_THROWS_WITH(loader.load_standard({copy.folder.string()}, {}, "experiment.plugin_paths in x.toml"),
                    Catch::Contains("(from experiment.plugin_paths in x.toml)"));

  const ScopedEnv allow(lmlab::allow_writable_plugins_env, "1");
  CHECK_NOTHROW(load_through_env(copy.folder));
}

TEST_CASE("a world-writable library in a private folder is refused, naming the library") {
  PluginCopy copy;
  fs::permissions(copy.library, fs::perms::others_write, fs::perm_options::add);
  const std::string library = fs::canonical(copy.library).string();
  const auto problem = lmlab::writable_by_others(library);
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Catch::Contains(library));
  CHECK_THROWS_WITH(load_through_env(copy.folder), Catch::Contains("refusing plugins from " + library));
}

TEST_CASE("a writable folder above the plugin folder is refused unless it is sticky, as /tmp is") {
  lmlab::test::TempDir tmp;
  const fs::path shared = tmp / "shared";
  const fs::path folder = shared / "mine" / "plugins";
  fs::create_directories(folder);
  fs::permissions(shared.parent_path(), fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(shared / "mine", fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(shared, fs::perms::all, fs::perm_options::replace);  // 0777: anyone may rename mine/
  const auto problem = lmlab::writable_by_others(folder);
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Catch::Contains(shared.string() + " is writable by every user"));

  fs::permissions(shared, fs::perms::all | fs::perms::sticky_bit, fs::perm_options::replace);  // 01777
  CHECK_FALSE(lmlab::writable_by_others(folder).has_value());
  // The sticky exemption is for the folders above only: a sticky plugin folder still lets
  // anyone add a library to it.
  fs::permissions(folder, fs::perms::all | fs::perms::sticky_bit, fs::perm_options::replace);
  CHECK(lmlab::writable_by_others(folder).has_value());
}

TEST_CASE("a plugin folder owned by another user, or writable by a shared group, is refused") {
  if (geteuid() != 0) {
    WARN("not root: cannot hand a folder to another user or group here; skipped");
    return;
  }
  PluginCopy copy;
  const passwd* nobody = getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  REQUIRE(chown(copy.folder.c_str(), nobody->pw_uid, static_cast<gid_t>(-1)) == 0);
  CHECK_THAT(lmlab::writable_by_others(copy.library).value_or(""), Catch::Contains("is owned by nobody"));
  REQUIRE(chown(copy.folder.c_str(), 0, static_cast<gid_t>(-1)) == 0);
  CHECK_FALSE(lmlab::writable_by_others(copy.library).has_value());

  // A group that is not the owner's own: its members could replace the library.
  const gid_t other_group = nobody->pw_gid;
  REQUIRE(chown(copy.folder.c_str(), 0, other_group) == 0);
  fs::permissions(copy.folder, fs::perms::group_write | fs::perms::group_exec | fs::perms::group_read,
                  fs::perm_options::add);
  CHECK_THAT(lmlab::writable_by_others(copy.library).value_or(""),
             Catch::Contains("writable by group") && Catch::Contains("which is not root's private group"));
}

TEST_CASE("a group-writable path is fine only in its owner's private group") {
  // Debian's user private groups: alice's group "alice" (gid 1000) holds alice alone.
  CHECK(lmlab::group_is_private(1000, 1000, accounts({}, {1000})));
  CHECK(lmlab::group_is_private(1000, 1000, accounts({"alice"}, {1000})));
  // Listed in the group's entry, or having it as primary group (never listed there), bob could write.
  CHECK_FALSE(lmlab::group_is_private(1000, 1000, accounts({"bob"}, {1000})));
  CHECK_FALSE(lmlab::group_is_private(1000, 1000, accounts({}, {1000, 1001})));
  // A shared primary group such as "users" (SUSE, many clusters), even with no member listed.
  CHECK_FALSE(lmlab::group_is_private(1000, 100, accounts({}, {1000}, 100)));
  // Not the owner's primary group, or an unknown group or user.
  CHECK_FALSE(lmlab::group_is_private(1000, 100, accounts({}, {})));
  CHECK_FALSE(lmlab::group_is_private(1000, 4242, accounts({}, {})));
  CHECK_FALSE(lmlab::group_is_private(4242, 1000, accounts({}, {})));
}

TEST_CASE("a symbolic link is resolved once and its target is what is checked and loaded") {
  PluginCopy copy;
  lmlab::test::TempDir other;
  const fs::path link = other / "link";
  fs::create_directory_symlink(copy.folder, link);
  CHECK(lmlab::trusted_plugin_path(link, "test") == fs::canonical(copy.folder));
  CHECK_NOTHROW(load_through_env(link));
  CHECK_THROWS_WITH(lmlab::trusted_plugin_path(other / "missing", "test"),
                    Catch::Contains("plugin path " + (other / "missing").string() + " (from test) does not exist"));
}

}  // namespace plugin_trust_tests
