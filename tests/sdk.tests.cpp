// The SDK as a new user meets it: install lmlab to a fresh prefix, scaffold one plugin of each
// kind with the installed host, build them all in a separate CMake project against the installed
// package, run their own tests, then train an experiment that uses every one of them at once and
// a sweep that sets an outside decoding step against a built-in.
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "generated/test_paths.hpp"
#include "results/run_reader.hpp"
#include "commands/scaffold.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace sdk_tests {

namespace fs = std::filesystem;
using lmlab::test::run_command;

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// Runs `command`, failing the test with its output when it fails.
std::string must_run(const std::string& command) {
  const auto result = run_command(command);
  INFO(command << "\n" << result.output);
  REQUIRE(result.exit_code == 0);
  return result.output;
}

// Single-quoted for the shell (a ' inside becomes '\''). Built with fmt: GCC 12 at -O3 warns
// falsely about "'" + std::string.
std::string shell_arg(const fs::path& p) {
  std::string quoted;
  for (const char c : p.string()) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return fmt::format("'{}'", quoted);
}

// Uses all five outside plugins with built-ins, and sweeps the outside decoding step against
// top_p.
std::string all_kinds_experiment(const fs::path& corpus, const fs::path& results, const fs::path& plugins) {
  return fmt::format(R"([experiment]
name = "outside"
threads = 1
results_dir = "{}"
plugin_paths = ["{}"]

[data]
corpus = "{}"
block_size = 24

[model]
arch = "my_architecture"
window = 3
d_embed = 16
d_hidden = 32

[objective]
name = "my_objective"

[[regularisers]]
name = "my_regulariser"

[[regularisers]]
name = "grad_clip"

[decoding]
chain = ["my_decoding", "sample"]

[train]
steps = 8
batch_size = 4
eval_every = 4
log_every = 2

[eval]
batches = 1
prompts = 2
prompt_tokens = 8
max_new_tokens = 12

[sweep]
[[sweep.arm]]
name = "outside_step"
[[sweep.arm]]
name = "builtin_step"
set = {{ "decoding.chain" = ["top_p", "sample"] }}
)",
                     results.string(), plugins.string(), corpus.string());
}

}  // namespace

TEST_CASE("an installed lmlab builds, loads and runs scaffolded plugins of every kind") {
  const std::string cmake = env_or("LMLAB_TEST_CMAKE", "cmake");
  const std::string cxx = env_or("LMLAB_TEST_CXX", "c++");
  const std::string ctest = env_or("LMLAB_TEST_CTEST", "ctest");
  lmlab::test::TempDir tmp_dir;
  // Resolved, as the host reports paths: TMPDIR may be reached through a symbolic link.
  const fs::path tmp = fs::canonical(tmp_dir.path());
  const fs::path prefix = tmp / "prefix";
  must_run(fmt::format("{} --install {} --prefix {}", cmake, shell_arg(lmlab::test_paths::binary_dir), shell_arg(prefix)));
  const fs::path lmlab = prefix / "bin" / "lmlab";
  REQUIRE(fs::is_regular_file(lmlab));
  REQUIRE(fs::exists(prefix / "include" / "lmlab" / "plugin.hpp"));
  // The SDK alone: exactly the headers of framework/include/lmlab, none of the host's internals.
  std::set<std::string> installed, sdk;
  const fs::path sdk_source = fs::path(lmlab::test_paths::source_dir) / "framework" / "include" / "lmlab";
  for (const auto& f : fs::recursive_directory_iterator(prefix / "include" / "lmlab")) {
    if (f.is_regular_file()) installed.insert(fs::relative(f.path(), prefix / "include" / "lmlab").string());
  }
  for (const auto& f : fs::recursive_directory_iterator(sdk_source)) {
    if (f.is_regular_file()) sdk.insert(fs::relative(f.path(), sdk_source).string());
  }
  sdk.insert("sdk/pch.hpp");
  CHECK(installed == sdk);
  CHECK_FALSE(fs::exists(prefix / "include" / "lmlab" / "trainer.hpp"));
  CHECK_FALSE(fs::exists(prefix / "include" / "lmlab" / "build_info.hpp"));

  const fs::path corpus = tmp / "corpus";
  lmlab::test::write_generated_corpus(corpus, 20000);
  const fs::path outside = tmp / "outside";
  std::string subdirectories;
  for (const auto& kind : lmlab::scaffold_kinds()) {
    const std::string name = "my_" + kind;
    const std::string out = must_run(fmt::format("{} new-plugin {} {} --dir {} --corpus {}", shell_arg(lmlab), kind, name,
                                                 shell_arg(outside / name), shell_arg(corpus)));
    // The installed host points the user at its own package.
    CHECK_THAT(out, Catch::Contains("-Dlmlab_DIR=" + (prefix / "lib" / "cmake" / "lmlab").string()));
    subdirectories += fmt::format("add_subdirectory({})\n", name);
  }
  // One outside project over the five scaffolds, so they share one precompiled header; each is
  // also a project of its own (its README builds it alone).
  lmlab::test::write_file(outside / "CMakeLists.txt",
                          "cmake_minimum_required(VERSION 3.22)\nproject(outside LANGUAGES CXX)\n"
                          "find_package(lmlab REQUIRED)\nenable_testing()\n" +
                              subdirectories);
  const fs::path build = outside / "build";
  const bool ninja = run_command("ninja --version").exit_code == 0;
  must_run(fmt::format("{} -S {} -B {} {} -DCMAKE_CXX_COMPILER={} -Dlmlab_DIR={}", cmake, shell_arg(outside),
                       shell_arg(build), ninja ? "-G Ninja" : "", shell_arg(cxx),
                       shell_arg(prefix / "lib" / "cmake" / "lmlab")));
  must_run(fmt::format("{} --build {} -j 2", cmake, shell_arg(build)));
  const fs::path plugins = build / "plugins";
  for (const auto& kind : lmlab::scaffold_kinds()) REQUIRE(fs::exists(plugins / ("libmy_" + kind + ".so")));

  // The scaffolds' own tests load their plugins through LMLAB_PLUGIN_PATH, beside the built-ins.
  const std::string tests =
      must_run(fmt::format("{} --test-dir {} --output-on-failure --no-tests=error", shell_arg(ctest), shell_arg(build)));
  CHECK_THAT(tests, Catch::Contains("100% tests passed") && Catch::Contains("out of 5"));

  // The installed host lists them, from the folder the variable names.
  const std::string listed = must_run(fmt::format("LMLAB_PLUGIN_PATH={} {} plugins", shell_arg(plugins), shell_arg(lmlab)));
  for (const auto& kind : lmlab::scaffold_kinds()) {
    CHECK_THAT(listed, Catch::Contains("my_" + kind) && Catch::Contains((plugins / ("libmy_" + kind + ".so")).string()));
  }

  // One experiment uses all of them (plugin_paths this time), swept against a built-in step.
  const fs::path results = tmp / "results";
  const fs::path experiment = tmp / "outside.toml";
  lmlab::test::write_file(experiment, all_kinds_experiment(corpus, results, plugins));
  must_run(fmt::format("{} sweep {} --jobs 2", shell_arg(lmlab), shell_arg(experiment)));
  std::vector<fs::path> runs;
  for (const auto& entry : fs::directory_iterator(results / "outside")) {
    if (entry.path().extension() == ".h5" && entry.path().filename() != "index.h5") runs.push_back(entry.path());
  }
  REQUIRE(runs.size() == 2);
  for (const auto& run : runs) {
    INFO(run.string());
    const lmlab::RunReader file(run);
    CHECK(file.attribute("status") == "complete");
    CHECK_THAT(file.attribute("plugin.model").value_or(""), Catch::Contains("my_architecture (" + plugins.string()));
    CHECK_THAT(file.attribute("plugin.objective").value_or(""), Catch::Contains("my_objective ("));
    CHECK_THAT(file.attribute("plugin.regulariser.0").value_or(""), Catch::Contains("my_regulariser ("));
    CHECK_THAT(file.attribute("plugin.metric.my_metric").value_or(""), Catch::Contains("libmy_metric.so"));
    // What each outside plugin produced is in the file beside the built-ins' values.
    CHECK(file.exists("my_regulariser"));
    const auto eval = file.datasets("eval");
    CHECK(std::find(eval.begin(), eval.end(), "mean_max_prob") != eval.end());
    const auto generated = file.datasets("generation/default/metrics");
    CHECK(std::find(generated.begin(), generated.end(), "words.unigram_entropy") != generated.end());
    const bool outside_step = run.filename().string().find("outside_step") != std::string::npos;
    CHECK_THAT(file.attribute("plugin.decoding.0").value_or(""),
               Catch::Contains(outside_step ? "my_decoding (" : "top_p ("));
  }
}

}  // namespace sdk_tests
