// `lmlab run` on a full disk: a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes every write
// past it fail with EFBIG, as a full disk or a quota fails one. The run must end with one clear
// message and an exit code below 128, its file marked failed where it can still be written, and
// no temporary left behind.
#include "support/catch.hpp"

#include <csignal>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results/run_file.hpp"
#include "support/test_support.hpp"

namespace full_disk_tests {

namespace fs = std::filesystem;
using Catch::Contains;
using lmlab::test::TempDir;

namespace {

// `lmlab run experiment` with files limited to `bytes`; returns its exit code (128 + the signal
// that killed it) and its output.
lmlab::test::CommandResult run_limited(const fs::path& experiment, rlim_t bytes, const fs::path& log) {
  const std::string binary = lmlab::test::lmlab_binary();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // only async-signal-safe calls until exec
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(126);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{};
    getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
    execl(binary.c_str(), binary.c_str(), "run", experiment.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  lmlab::test::CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.output = lmlab::test::read_file(log);
  return result;
}

std::vector<fs::path> files_in(const fs::path& folder) {
  std::vector<fs::path> out;
  if (fs::is_directory(folder)) {
    for (const auto& entry : fs::directory_iterator(folder)) out.push_back(entry.path());
  }
  return out;
}

// The experiment's folder holds no temporary: neither a checkpoint's nor an index's.
void check_no_temporaries(const fs::path& folder) {
  for (const fs::path& file : files_in(folder)) {
    INFO(file.string());
    CHECK(file.extension() != ".tmp");
  }
}

}  // namespace

TEST_CASE("a run file that cannot be written ends the run with one message and an exit below 128, not a crash") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  lmlab::test::write_file(dir / "exp.toml", lmlab::test::tiny_experiment(dir / "corpus", dir / "results"));
  // The run file outgrows 100 kB within its first steps (HDF5 then segfaulted in its library close).
  const auto r = run_limited(dir / "exp.toml", 100 * 1024, dir / "log.txt");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("failed: run file ") && Contains("flush failed") && Contains("File too large"));
  // HDF5's C++ destructors' complaints are not the message.
  CHECK_THAT(r.output, !Contains("H5Fclose failed") && !Contains("H5Dclose failed"));
  check_no_temporaries(dir / "results" / "cli");
}

TEST_CASE("a checkpoint that cannot be written fails the run, marked so in its file, with no temporary left") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus");
  // A checkpoint of several MB against a run file under 1 MB: the checkpoint is what hits the limit.
  const std::string text =
      lmlab::test::SmallExperiment{.corpus = dir / "corpus", .results = dir / "results", .d_model = 256}.text();
  lmlab::test::write_file(dir / "exp.toml", text);
  const auto r = run_limited(dir / "exp.toml", 1536 * 1024, dir / "log.txt");
  INFO(r.output);
  // LibTorch's writer aborted the process here (SIGABRT, exit 134).
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("cannot write checkpoint ") && Contains("File too large") && !Contains("frame #"));
  fs::path h5;
  for (const fs::path& file : files_in(dir / "results" / "cli")) {
    if (file.extension() == ".h5" && file.filename() != "index.h5") h5 = file;
  }
  REQUIRE_FALSE(h5.empty());
  CHECK(lmlab::run_file::read_attribute(h5, "status") == "failed");
  CHECK_THAT(lmlab::run_file::read_attribute(h5, "status_reason"), Contains("cannot write checkpoint"));
  check_no_temporaries(dir / "results" / "cli");
}

}  // namespace full_disk_tests
