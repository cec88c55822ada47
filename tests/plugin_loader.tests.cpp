// Loading real plugin libraries: the built-ins, and deliberately broken test libraries (wrong
// ABI record, not a plugin, a duplicate name, a plugin that throws).
#include "support/catch.hpp"

#include <cstdlib>

#include "generated/test_paths.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"
#include "support/test_support.hpp"

namespace plugin_loader_tests {

namespace fs = std::filesystem;
using lmlab::test_paths::plugin_dir;
using lmlab::test_paths::fixture_plugin_dir;

namespace {
fs::path test_plugin(const std::string& name) { return fs::path(fixture_plugin_dir) / name / ("lib" + name + ".so"); }
}  // namespace

TEST_CASE("the built-in plugins load and register the plugins of each kind") {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  loader.load_folder(plugin_dir);
  CHECK(registry.names<lmlab::Architecture>() ==
        std::vector<std::string>{"causal_decoder", "encoder_decoder", "encoder_only", "prefix_decoder"});
  CHECK(registry.names<lmlab::Objective>() ==
        std::vector<std::string>{"causal_lm", "masked_lm", "multitask", "prefix_lm", "span_corruption",
                                 "unlikelihood_sequence", "unlikelihood_token"});
  CHECK(registry.names<lmlab::Regulariser>() ==
        std::vector<std::string>{"grad_clip", "grad_monitor", "label_smoothing", "weight_decay", "z_loss"});
  const auto decoding = registry.names<lmlab::DecodingStep>();
  CHECK(std::find(decoding.begin(), decoding.end(), "greedy") != decoding.end());
  CHECK(std::find(decoding.begin(), decoding.end(), "sample") != decoding.end());
  CHECK(std::find(decoding.begin(), decoding.end(), "temperature") != decoding.end());
  // Each plugin knows the library it came from.
  CHECK(registry.get<lmlab::Architecture>("causal_decoder").info.library.ends_with("libcausal_decoder.so"));
  // Loading the same folder twice is harmless: libraries already loaded are skipped.
  loader.load_folder(plugin_dir);
  CHECK(registry.names<lmlab::Architecture>().size() == 4);
}

TEST_CASE("the built-in folder is found next to the framework library") {
  CHECK(fs::equivalent(lmlab::PluginLoader::builtin_folder(), plugin_dir));
}

TEST_CASE("a library with another ABI record is refused before anything in it runs, naming both sides") {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const std::string host = lmlab::describe_abi(lmlab::host_abi_record());
  REQUIRE_THROWS_AS(loader.load_library(test_plugin("bad_abi")), lmlab::PluginError);
  // Registration would throw "must never be called": the message shows it was not.
  REQUIRE_THROWS_WITH(loader.load_library(test_plugin("bad_abi")),
                      Catch::Contains("libbad_abi.so was built for lmlab ABI 999, LibTorch 0.4.1") &&
                          Catch::Contains("this host is " + host) && !Catch::Contains("never be called"));
  CHECK(registry.all().empty());
}

TEST_CASE("a shared library that is not a plugin is refused") {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  REQUIRE_THROWS_WITH(loader.load_library(test_plugin("not_a_plugin")),
                      Catch::Contains("libnot_a_plugin.so is not an lmlab plugin"));
  // A file that is not a shared library at all.
  lmlab::test::TempDir dir;
  lmlab::test::write_file(dir / "libfake.so", "not an ELF file");
  REQUIRE_THROWS_WITH(loader.load_folder(dir.path()), Catch::Contains("cannot load plugin library") &&
                                                           Catch::Contains("libfake.so"));
  REQUIRE_THROWS_WITH(loader.load_library(dir / "libmissing.so"), Catch::Contains("does not exist"));
  REQUIRE_THROWS_WITH(loader.load_folder(dir / "nowhere"), Catch::Contains("plugin folder") &&
                                                              Catch::Contains("does not exist"));
}

TEST_CASE("a plugin clashing with a built-in name is refused, naming both libraries") {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  loader.load_folder(plugin_dir);
  const std::string dup = fs::weakly_canonical(test_plugin("dup_greedy")).string();
  const std::string builtin = fs::weakly_canonical(fs::path(plugin_dir) / "libgreedy.so").string();
  REQUIRE_THROWS_WITH(loader.load_library(dup),
                      Catch::Contains(dup + " registers decoding plugin 'greedy'") &&
                          Catch::Contains("the built-in plugin library " + builtin) && Catch::Contains("rename"));
  CHECK(registry.get<lmlab::DecodingStep>("greedy").info.library == builtin);

  // The same through the search path a user sets.
  lmlab::Registry second;
  lmlab::PluginLoader standard(second);
  setenv("LMLAB_PLUGIN_PATH", test_plugin("dup_greedy").parent_path().c_str(), 1);
  const auto from_env = [&] {
    try {
      standard.load_standard();
    } catch (...) {
      unsetenv("LMLAB_PLUGIN_PATH");  // before Catch reports, so no later test sees it
      throw;
    }
    unsetenv("LMLAB_PLUGIN_PATH");
  };
  CHECK_THROWS_WITH(from_env(), Catch::Contains("the built-in plugin library " + builtin));
}

TEST_CASE("exceptions thrown inside a plugin come back naming it") {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  loader.load_library(test_plugin("throwing"));
  const toml::table resolved = lmlab::resolve_plugin<lmlab::DecodingStep>(registry, "failing", {}, "decoding.failing");
  REQUIRE_THROWS_AS(lmlab::make_plugin<lmlab::DecodingStep>(registry, "failing", resolved, {}), lmlab::PluginError);
  REQUIRE_THROWS_WITH(lmlab::make_plugin<lmlab::DecodingStep>(registry, "failing", resolved, {}),
                      Catch::Contains("decoding 'failing'") && Catch::Contains("libthrowing.so") &&
                          Catch::Contains("factory refused to build"));
}

TEST_CASE("the standard search adds LMLAB_PLUGIN_PATH folders and experiment plugin_paths") {
  lmlab::Registry registry;
  lmlab::PluginLoader loader(registry);
  const std::string folder = (fs::path(fixture_plugin_dir) / "throwing").string();
  setenv("LMLAB_PLUGIN_PATH", folder.c_str(), 1);
  loader.load_standard();
  unsetenv("LMLAB_PLUGIN_PATH");
  CHECK(registry.names<lmlab::DecodingStep>().size() >= 4);
  CHECK_NOTHROW(registry.get<lmlab::DecodingStep>("failing"));

  lmlab::Registry second;
  lmlab::PluginLoader from_experiment(second);
  from_experiment.load_standard({"throwing"}, fixture_plugin_dir);
  CHECK_NOTHROW(second.get<lmlab::DecodingStep>("failing"));
}

}  // namespace plugin_loader_tests
