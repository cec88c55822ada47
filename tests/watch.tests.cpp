// `lmlab watch` on what is not a readable run file: it must say so within seconds, never wait on
// in silence. (Following a live run to its end is in cli.tests.cpp.)
#include "support/catch.hpp"

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <unistd.h>

#include "results/run_file.hpp"
#include "support/test_support.hpp"

namespace watch_tests {

namespace fs = std::filesystem;
using lmlab::test::run_command;
using lmlab::test::TempDir;

namespace {

struct Watched {
  lmlab::test::CommandResult result;
  double seconds = 0;
};

// `lmlab watch ARGS` without --once, cut off after 60 s (exit 124) if it never ends by itself.
Watched watch(const std::string& args) {
  const auto start = std::chrono::steady_clock::now();
  Watched w;
  w.result = run_command("timeout 60 " + lmlab::test::lmlab_binary() + " watch --plain --interval 0.2 " + args);
  w.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return w;
}

// A run file with a few flushed rows, as a run leaves it.
fs::path write_run_file(const fs::path& path) {
  lmlab::RunFile file = lmlab::RunFile::create(path);
  file.set_attribute("status", "running");
  for (std::int64_t step = 1; step <= 50; ++step) file.append("train", {{"step", step}, {"loss", 1.0 / step}});
  file.flush();
  return path;
}

}  // namespace

TEST_CASE("watch reports a truncated run file within seconds and exits non-zero") {
  TempDir dir;
  const fs::path h5 = write_run_file(dir / "run.h5");
  fs::resize_file(h5, fs::file_size(h5) / 2);
  const Watched w = watch(h5.string());
  INFO(w.result.output);
  CHECK(w.result.exit_code != 0);
  CHECK(w.result.exit_code != 124);  // ended by itself
  CHECK(w.result.exit_code < 128);
  CHECK(w.seconds < 20);
  CHECK_THAT(w.result.output, Catch::Contains("cannot read") && Catch::Contains(h5.string()));
}

TEST_CASE("watch reports a file that is no HDF5 file at all, and an empty one") {
  TempDir dir;
  lmlab::test::write_file(dir / "notes.h5", "not a run file\n");
  const Watched garbage = watch((dir / "notes.h5").string());
  INFO(garbage.result.output);
  CHECK(garbage.result.exit_code == 2);
  CHECK(garbage.seconds < 20);
  CHECK_THAT(garbage.result.output, Catch::Contains("notes.h5"));

  lmlab::test::write_file(dir / "empty.h5", "");
  const Watched empty = watch((dir / "empty.h5").string());
  INFO(empty.result.output);
  CHECK(empty.result.exit_code == 2);
  CHECK(empty.seconds < 20);
}

TEST_CASE("watch given a folder says it wants a run file and names the run files there") {
  TempDir dir;
  write_run_file(dir / "results" / "seed1-abc.h5");
  const Watched w = watch((dir / "results").string());
  INFO(w.result.output);
  CHECK(w.result.exit_code == 2);
  CHECK(w.seconds < 10);
  CHECK_THAT(w.result.output, Catch::Contains("is a folder") && Catch::Contains("seed1-abc.h5"));
}

TEST_CASE("watch piped into a reader that leaves early ends with it, not with the run") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  std::string text = lmlab::test::tiny_experiment(dir / "corpus", dir / "results");
  text.replace(text.find("steps = 6"), 9, "steps = 100000");  // far longer than the test waits
  lmlab::test::write_file(dir / "long.toml", text);
  const auto valid = run_command(lmlab::test::lmlab_binary() + " validate " + (dir / "long.toml").string());
  REQUIRE(valid.exit_code == 0);
  const std::string name = valid.output.substr(4, valid.output.find(' ', 4) - 4);  // "ok  <run>  <hash>"
  const fs::path h5 = dir / "results" / "cli" / (name + ".h5");
  const std::string run = lmlab::test::lmlab_binary() + " run " + (dir / "long.toml").string();
  // The run in the background (its PID kept, to end it), the watch read by `head -n 1`.
  const auto w = run_command(fmt::format("{} > /dev/null 2>&1 & echo $! > {}; ( {} ; echo $? > {} ) | head -n 1",
                                         run, (dir / "run.pid").string(),
                                         "timeout 60 " + lmlab::test::lmlab_binary() + " watch --plain --interval 0.1 " +
                                             h5.string(),
                                         (dir / "code").string()));
  const pid_t runner = std::stoi(lmlab::test::read_file(dir / "run.pid"));
  const bool run_alive = kill(runner, 0) == 0;
  kill(runner, SIGKILL);
  INFO(w.output);
  CHECK(lmlab::test::read_file(dir / "code") == "0\n");  // not 124: it ended before the run did
  CHECK(run_alive);
}

}  // namespace watch_tests
