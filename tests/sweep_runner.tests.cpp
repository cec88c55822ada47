// Sweeps run each run in a child process: a crash ends one run only, SIGTERM leaves every run
// resumable, and a restarted sweep ends where an uninterrupted one does.
#include <chrono>
#include <csignal>
#include <map>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "generated/test_paths.hpp"
#include "results/run_file.hpp"
#include "results/run_reader.hpp"
#include "training/runtime.hpp"
#include "sweeps/sweep_runner.hpp"
#include "support/test_support.hpp"
#include "support/catch.hpp"

namespace sweep_runner_tests {

using Catch::Matchers::Contains;
using lmlab::test::run_command;
using lmlab::test::TempDir;
using lmlab::test::write_file;
namespace fs = std::filesystem;

namespace {

std::string host(const std::string& args) { return lmlab::test::lmlab_binary() + " " + args; }

// Run files of a results folder by name (the index aside).
std::map<std::string, fs::path> run_files(const fs::path& folder) {
  std::map<std::string, fs::path> out;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() == ".h5" && entry.path().filename() != "index.h5") out[entry.path().stem().string()] = entry.path();
  }
  return out;
}

// "n_layers=1,seed=2-1a2b3c4d" -> "n_layers=1,seed=2": the point, whatever the results folder.
std::string point_of(const std::string& run) { return run.substr(0, run.rfind('-')); }

}  // namespace

TEST_CASE("sweep runner: threads are shared among the jobs", "[sweep_runner]") {
  CHECK(lmlab::threads_per_job(1) == lmlab::available_cpus());
  CHECK(lmlab::threads_per_job(1000) == 1);
  CHECK(lmlab::threads_per_job(2) == std::max(1, lmlab::available_cpus() / 2));
}

TEST_CASE("sweep runner: a run whose plugin aborts fails alone; its sibling completes", "[sweep_runner]") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus", 8000);
  std::string text = lmlab::test::tiny_experiment(dir / "corpus", dir / "results");
  text.replace(text.find("results_dir"), 0,
               fmt::format("plugin_paths = [\"{}/crashing\"]\n", lmlab::test_paths::fixture_plugin_dir));
  text += "\n[sweep]\ngrid = { \"metrics.crashing.abort\" = [false, true] }\n";
  write_file(dir / "crash.toml", text);
  const auto r = run_command(host("sweep --jobs 2 " + (dir / "crash.toml").string()));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("sweep: 1 complete, 0 stopped, 1 failed this time") &&
                           Contains("failed abort=true,seed=0-") && Contains("killed by signal 6"));
  const auto files = run_files(dir / "results" / "cli");
  REQUIRE(files.size() == 2);
  for (const auto& [name, file] : files) {
    const lmlab::RunReader run(file);
    if (name.starts_with("abort=true")) {
      CHECK(run.attribute("status") == "failed");
      CHECK_THAT(*run.attribute("status_reason"), Contains("signal 6"));
    } else {
      CHECK(run.attribute("status") == "complete");
      CHECK(run.floats("eval/alive").back() == 1.0);
    }
  }
  CHECK(fs::exists(dir / "results" / "cli" / "index.h5"));
}

TEST_CASE("sweep runner: a run that starts from another run's checkpoint waits for it, and fails when it fails",
          "[sweep_runner]") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus", 8000);
  std::string text = lmlab::test::tiny_experiment(dir / "corpus", dir / "results");
  text.replace(text.find("results_dir"), 0,
               fmt::format("plugin_paths = [\"{}/crashing\"]\n", lmlab::test_paths::fixture_plugin_dir));
  // Listed first, so with two jobs it would start beside its base were it not held back.
  text += "\n[sweep]\n[[sweep.arm]]\nname = \"tuned\"\nset = { \"train.init_from\" = \"@arm=base\" }\n"
          "[[sweep.arm]]\nname = \"base\"\n";
  write_file(dir / "stages.toml", text);
  const auto dry = run_command(host("sweep --dry-run " + (dir / "stages.toml").string()));
  CHECK_THAT(dry.output, Contains("new; starts from arm=base,seed=0-"));
  const auto r = run_command(host("sweep --jobs 2 " + (dir / "stages.toml").string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The base completed before the fine-tuned run started, and the latter loaded its weights.
  CHECK(r.output.find("complete arm=base") < r.output.find("started  arm=tuned"));
  const auto files = run_files(dir / "results" / "cli");
  REQUIRE(files.size() == 2);
  std::string base_hash, init_hash;
  for (const auto& [name, file] : files) {
    const lmlab::RunReader run(file);
    if (name.starts_with("arm=base")) base_hash = run.attribute("config_hash").value_or("");
    if (name.starts_with("arm=tuned")) init_hash = run.attribute("init_from.config_hash").value_or("?");
  }
  CHECK_FALSE(base_hash.empty());
  CHECK(init_hash == base_hash);

  // A base that fails takes its fine-tuned run with it, which never starts.
  text.replace(text.find("name = \"base\"\n"), 14, "name = \"base\"\nset = { \"metrics.crashing.abort\" = true }\n");
  write_file(dir / "failing.toml", text);
  const auto f = run_command(host("sweep --jobs 2 " + (dir / "failing.toml").string()));
  INFO(f.output);
  CHECK(f.exit_code == 1);
  CHECK_THAT(f.output, Contains("failed   arm=tuned,seed=0-") && Contains("it starts from run arm=base,seed=0-") &&
                           Contains("which failed"));
  CHECK_THAT(f.output, !Contains("started  arm=tuned"));
}

TEST_CASE("sweep runner: SIGTERM midway, then a restart, ends where an uninterrupted sweep does", "[sweep_runner]") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus", 8000);
  std::string text = lmlab::test::tiny_experiment(dir / "corpus", dir / "results");
  text.replace(text.find("steps = 6"), 9, "steps = 600");
  text.replace(text.find("eval_every = 3"), 14, "eval_every = 50");
  text.replace(text.find("log_every = 1"), 13, "log_every = 10");
  text += "\n[sweep]\ngrid = { \"model.n_layers\" = [1, 2] }\nseeds = [1, 2]\n";
  write_file(dir / "sweep.toml", text);
  const fs::path folder = dir / "results" / "cli";

  // Interrupted: SIGTERM once the first checkpoint exists, so the first two runs are midway.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const std::string binary = lmlab::test::lmlab_binary(), file = (dir / "sweep.toml").string();
    if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout)) _exit(126);
    execl(binary.c_str(), binary.c_str(), "sweep", "--jobs", "2", file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  bool checkpointed = false;
  for (int i = 0; i < 4800 && !checkpointed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (!fs::is_directory(folder)) continue;
    for (const auto& entry : fs::directory_iterator(folder)) checkpointed |= entry.path().extension() == ".ckpt";
  }
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(checkpointed);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  std::map<std::string, fs::file_time_type> complete_before;
  for (const auto& [name, file] : run_files(folder)) {
    const std::string s = *lmlab::RunReader(file).attribute("status");
    CHECK((s == "stopped" || s == "complete"));  // never left "running", never "failed"
    if (s == "complete") complete_before[name] = fs::last_write_time(file);
  }

  const auto restart = run_command(host("sweep --jobs 2 " + (dir / "sweep.toml").string()));
  INFO(restart.output);
  REQUIRE(restart.exit_code == 0);
  CHECK_THAT(restart.output, Contains("resume   ") && Contains("resumes from its checkpoint"));
  for (const auto& [name, time] : complete_before) CHECK(fs::last_write_time(run_files(folder).at(name)) == time);

  // The same sweep, never interrupted, in another folder: the same final metrics, bit for bit.
  const auto reference = run_command(host("sweep --jobs 2 " + (dir / "sweep.toml").string() +
                                          " --set experiment.results_dir=" + (dir / "reference").string()));
  REQUIRE(reference.exit_code == 0);
  std::map<std::string, double> expected;
  for (const auto& [name, file] : run_files(dir / "reference" / "cli")) {
    expected[point_of(name)] = lmlab::RunReader(file).floats("eval/val_loss").back();
  }
  const auto resumed = run_files(folder);
  REQUIRE(resumed.size() == 4);
  for (const auto& [name, file] : resumed) {
    const lmlab::RunReader run(file);
    CHECK(run.attribute("status") == "complete");
    CHECK(run.floats("eval/val_loss").back() == expected.at(point_of(name)));
  }
}

}  // namespace sweep_runner_tests
