// `lmlab new-plugin`: what it writes for each kind, and what it refuses before writing anything.
// That the written projects build, load and run is the SDK test's part (sdk.tests.cpp).
#include <string>

#include "lmlab/error.hpp"
#include "commands/scaffold.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace scaffold_tests {

namespace fs = std::filesystem;
using lmlab::test::read_file;

namespace {

lmlab::ScaffoldRequest request(const std::string& kind, const std::string& name, const fs::path& dir) {
  return lmlab::ScaffoldRequest{kind, name, dir, "/data/my corpus \"x\""};
}

}  // namespace

TEST_CASE("class names are the plugin name in CamelCase") {
  CHECK(lmlab::class_name_of("my_step") == "MyStep");
  CHECK(lmlab::class_name_of("top_a2") == "TopA2");
  CHECK(lmlab::class_name_of("x") == "X");
}

TEST_CASE("each kind gets a project with the name filled in everywhere") {
  const auto& builtins = lmlab::test::builtin_plugins();
  for (const auto& kind : lmlab::scaffold_kinds()) {
    INFO(kind);
    lmlab::test::TempDir tmp;
    const fs::path dir = tmp / "proj";
    const auto files = lmlab::write_scaffold(request(kind, "my_thing", dir), builtins);
    std::vector<std::string> names;
    for (const auto& f : files) names.push_back(f.filename().string());
    CHECK(names == std::vector<std::string>{"CMakeLists.txt", "README.md", "my_thing.cpp", "my_thing.tests.cpp",
                                            "experiment.toml"});
    for (const auto& f : files) {
      INFO(f.string());
      const std::string text = read_file(f);
      CHECK(text.find("@NAME@") == std::string::npos);
      CHECK(text.find("@CLASS@") == std::string::npos);
      CHECK(text.find("@KIND@") == std::string::npos);
      CHECK(text.find("@CORPUS@") == std::string::npos);
    }
    CHECK_THAT(read_file(dir / "CMakeLists.txt"), Catch::Contains("lmlab_add_plugin(my_thing SOURCES my_thing.cpp)") &&
                                                      Catch::Contains("find_package(lmlab REQUIRED)"));
    const std::string source = read_file(dir / "my_thing.cpp");
    CHECK_THAT(source, Catch::Contains("\"my_thing\"") && Catch::Contains("MyThing") &&
                           Catch::Contains("LMLAB_PLUGIN(") && Catch::Contains("Options"));
    CHECK_THAT(read_file(dir / "my_thing.tests.cpp"), Catch::Contains("\"my_thing\"") && Catch::Contains("load_standard"));
    // The corpus path lands in the experiment as a valid TOML string.
    CHECK_THAT(read_file(dir / "experiment.toml"),
               Catch::Contains(R"("/data/my corpus \"x\"")") && Catch::Contains("my_thing"));
  }
}

TEST_CASE("bad requests are refused naming the value and what is accepted, and write nothing") {
  const auto& builtins = lmlab::test::builtin_plugins();
  lmlab::test::TempDir tmp;
  const fs::path dir = tmp / "proj";
  CHECK_THROWS_WITH(lmlab::write_scaffold(request("decoder", "x", dir), builtins),
                    Catch::Contains("unknown kind 'decoder'") && Catch::Contains("architecture, objective, decoding"));
  for (const std::string bad : {"MyStep", "1step", "my-step", "", "my step"}) {
    INFO(bad);
    CHECK_THROWS_WITH(lmlab::write_scaffold(request("decoding", bad, dir), builtins),
                      Catch::Contains("invalid name '" + bad + "'") && Catch::Contains("lower-case letters"));
  }
  CHECK_THROWS_WITH(lmlab::write_scaffold(request("decoding", "install", dir), builtins),
                    Catch::Contains("'install' is a name CMake"));
  // A built-in's name: the host would refuse the plugin at load time, so it is refused now.
  CHECK_THROWS_WITH(lmlab::write_scaffold(request("decoding", "top_k", dir), builtins),
                    Catch::Contains("decoding plugin 'top_k' already exists") && Catch::Contains("libtop_k.so"));
  CHECK_FALSE(fs::exists(dir));
  // The same name in another kind is a different plugin.
  CHECK_NOTHROW(lmlab::check_scaffold(request("metric", "top_k", dir), builtins));
}

TEST_CASE("an existing folder with files in it is left untouched") {
  const auto& builtins = lmlab::test::builtin_plugins();
  lmlab::test::TempDir tmp;
  const fs::path dir = tmp / "proj";
  lmlab::test::write_file(dir / "CMakeLists.txt", "mine\n");
  CHECK_THROWS_WITH(lmlab::write_scaffold(request("objective", "my_loss", dir), builtins),
                    Catch::Contains(dir.string() + " already exists") && Catch::Contains("nothing was written"));
  CHECK(read_file(dir / "CMakeLists.txt") == "mine\n");
  CHECK_FALSE(fs::exists(dir / "my_loss.cpp"));
  // An empty folder is fine.
  fs::create_directories(tmp / "empty");
  CHECK(lmlab::write_scaffold(request("objective", "my_loss", tmp / "empty"), builtins).size() == 5);
}

}  // namespace scaffold_tests
