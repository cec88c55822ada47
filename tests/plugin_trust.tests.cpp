// Plugins found on the search path run with the user's rights, so a library, or a folder on the
// way to it, that another user could write to is refused, with a message that says which and why.
#include <cstdlib>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/plugin_trust.hpp"
#include "lmlab/decoding.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

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
    fs::copy_file(fs::path(lmlab::test_paths::test_plugin_dir) / "throwing" / "libthrowing.so", library);
    fs::permissions(library, fs::perms::owner_read | fs::perms::owner_write | fs::perms::owner_exec,
                    fs::perm_options::replace);
  }
};

void load_through_env(const fs::path& folder) {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  setenv("LMLAB_PLUGIN_PATH", folder.c_str(), 1);
  try {
    loader.load_standard();
  } catch (...) {
    unsetenv("LMLAB_PLUGIN_PATH");
    throw;
  }
  unsetenv("LMLAB_PLUGIN_PATH");
  REQUIRE_NOTHROW(registry.get<lmlab::DecodingStep>("failing"));
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
  const auto problem = lmlab::writable_by_others(copy.library);
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Catch::Contains(copy.folder.string()) && Catch::Contains("writable by every user"));
  REQUIRE_THROWS_WITH(load_through_env(copy.folder),
                      Catch::Contains("refusing plugins from " + copy.folder.string()) &&
                          Catch::Contains("LMLAB_PLUGIN_PATH") && Catch::Contains("chmod go-w") &&
                          Catch::Contains(lmlab::allow_writable_plugins_env));
  // Experiment files' plugin_paths take the same road.
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  CHECK_THROWS_AS(loader.load_standard({copy.folder.string()}), lmlab::PluginError);

  setenv(lmlab::allow_writable_plugins_env, "1", 1);
  CHECK_NOTHROW(load_through_env(copy.folder));
  unsetenv(lmlab::allow_writable_plugins_env);
}

TEST_CASE("a world-writable library in a private folder is refused, naming the library") {
  PluginCopy copy;
  fs::permissions(copy.library, fs::perms::others_write, fs::perm_options::add);
  const auto problem = lmlab::writable_by_others(copy.library);
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Catch::Contains(copy.library.string()));
  CHECK_THROWS_WITH(load_through_env(copy.folder), Catch::Contains("refusing plugins from " + copy.library.string()));
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
  CHECK_THAT(lmlab::writable_by_others(copy.library).value_or(""), Catch::Contains("writable by group"));
}

TEST_CASE("the built-in folder is trusted like the host itself, without the check") {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  CHECK_NOTHROW(loader.load_folder(lmlab::test_paths::plugin_dir));
}
