// The lock that keeps a second process from writing a run, a sweep or an index another process
// is writing: refused at once (or after a wait) with the holder named, and taken over from a
// holder that died. The same through the lmlab program: cli.tests.cpp.
#include "support/catch.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/test_support.hpp"
#include "util/run_lock.hpp"

namespace run_lock_tests {

namespace fs = std::filesystem;
using lmlab::LockHeld;
using lmlab::RunLock;
using lmlab::test::TempDir;

namespace {

// A PID that was a process of this host a moment ago and is no longer.
pid_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  return child;
}

// LMLAB_LOCKS set for one scope: how a file system without locks is handled, tested on one with.
class LocksEnv {
 public:
  explicit LocksEnv(const char* mode) { setenv("LMLAB_LOCKS", mode, 1); }
  ~LocksEnv() { unsetenv("LMLAB_LOCKS"); }
  LocksEnv(const LocksEnv&) = delete;
  LocksEnv& operator=(const LocksEnv&) = delete;
};

}  // namespace

TEST_CASE("a held lock refuses a second taker at once, naming the holder; released, it is free and gone") {
  TempDir dir;
  const fs::path file = lmlab::lock_file_for(dir / "results" / "run.h5");
  CHECK(file.filename() == "run.h5.lock");
  std::optional<RunLock> first = RunLock::acquire(file, "run r1", "", nullptr);
  CHECK(first->kernel_locked());
  const auto holder = lmlab::read_lock_holder(file);
  REQUIRE(holder);
  CHECK(holder->pid == getpid());
  CHECK(holder->host == lmlab::this_process().host);
  CHECK(holder->started.rfind("20", 0) == 0);
  CHECK_THAT(holder->command, Catch::Contains("lmlab_tests"));
  CHECK_FALSE(holder->gone());

  const auto start = std::chrono::steady_clock::now();
  try {
    RunLock::acquire(file, "run r1", "Wait for it to end.", nullptr);
    FAIL("a second lock was granted");
  } catch (const LockHeld& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains(fmt::format("run r1 is in use by PID {} on host {}, started 20",
                                                                 getpid(), holder->host)) &&
                                          Catch::Contains(file.string()) && Catch::Contains("Wait for it to end."));
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK(lmlab::read_lock_holder(file)->pid == getpid());  // the refused one wrote nothing

  first.reset();
  CHECK_FALSE(fs::exists(file));
  std::ostringstream notes;
  const RunLock again = RunLock::acquire(file, "run r1", "", &notes);
  CHECK(notes.str().empty());  // released properly: nothing to take over
}

TEST_CASE("a lock taker given time waits for the holder to release it") {
  TempDir dir;
  const fs::path file = dir / "index.h5.lock";
  std::optional<RunLock> holder = RunLock::acquire(file, "the index", "", nullptr);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    holder.reset();
  });
  const RunLock waited = RunLock::acquire(file, "the index", "", nullptr, std::chrono::seconds(20));
  release.join();
  CHECK(lmlab::read_lock_holder(file)->pid == getpid());
  CHECK_THROWS_AS(RunLock::acquire(file, "the index", "", nullptr, std::chrono::milliseconds(300)), LockHeld);
}

TEST_CASE("a lock left by a process that died is taken over, with a note naming it") {
  TempDir dir;
  const fs::path file = dir / "run.h5.lock";
  const pid_t dead = dead_pid();
  lmlab::test::write_file(file, fmt::format("host={}\npid={}\nstarted=2024-05-01T12:00:00Z\ncommand=lmlab run x.toml\n",
                                            lmlab::this_process().host, dead));
  REQUIRE(lmlab::read_lock_holder(file)->gone());
  std::ostringstream notes;
  const RunLock lock = RunLock::acquire(file, "run r2", "", &notes);
  CHECK_THAT(notes.str(), Catch::Contains(fmt::format("PID {} on host", dead)) &&
                              Catch::Contains("started 2024-05-01T12:00:00Z (lmlab run x.toml)") &&
                              Catch::Contains("no longer running"));
  CHECK(lmlab::read_lock_holder(file)->pid == getpid());
}

TEST_CASE("a lock released by a holder on another host is taken over with a warning about host-local locks") {
  TempDir dir;
  const fs::path file = dir / "run.h5.lock";
  lmlab::test::write_file(file, fmt::format("host={}-other-node\npid=4242\nstarted=2024-05-01T12:00:00Z\n",
                                            lmlab::this_process().host));
  std::ostringstream notes;
  const RunLock lock = RunLock::acquire(file, "run r5", "", &notes);
  CHECK_THAT(notes.str(), Catch::Contains("PID 4242 on host") && Catch::Contains("-other-node") &&
                              Catch::Contains("LMLAB_LOCKS=record"));
}

TEST_CASE("a lock holder is gone only when it is a process of this host that ended or whose PID was reused") {
  lmlab::LockHolder me = lmlab::this_process();
  CHECK_FALSE(me.gone());
  REQUIRE_FALSE(me.pid_start.empty());
  lmlab::LockHolder reused = me;
  reused.pid_start = "1";  // this PID, but a process that started at another time
  CHECK(reused.gone());
  lmlab::LockHolder dead = me;
  dead.pid = dead_pid();
  CHECK(dead.gone());
  // Ended but not yet reaped (a zombie): gone too, though its PID still answers kill(pid, 0).
  const pid_t zombie = fork();
  if (zombie == 0) _exit(0);
  lmlab::LockHolder unreaped = me;
  unreaped.pid = zombie;
  unreaped.pid_start.clear();
  bool seen_gone = false;
  for (int i = 0; i < 200 && !seen_gone; ++i) {
    seen_gone = unreaped.gone();
    if (!seen_gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(seen_gone);
  CHECK(kill(zombie, 0) == 0);
  int status = 0;
  waitpid(zombie, &status, 0);
  lmlab::LockHolder elsewhere = dead;
  elsewhere.host = me.host + "-other-node";  // cannot be checked from here: assumed alive
  CHECK_FALSE(elsewhere.gone());
}

TEST_CASE("without kernel locks the record decides: a live holder refuses, a dead one is taken over") {
  TempDir dir;
  const fs::path file = dir / "run.h5.lock";
  const LocksEnv record("record");
  std::optional<RunLock> first = RunLock::acquire(file, "run r3", "", nullptr);
  CHECK_FALSE(first->kernel_locked());
  try {
    RunLock::acquire(file, "run r3", "Wait.", nullptr);
    FAIL("a second lock was granted");
  } catch (const LockHeld& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains(fmt::format("run r3 is in use by PID {}", getpid())) &&
                                          Catch::Contains("LMLAB_LOCKS=record") &&
                                          Catch::Contains("delete " + file.string()));
  }
  first.reset();
  CHECK_FALSE(fs::exists(file));

  // A holder on another host cannot be checked from here: its record holds until deleted.
  const std::string host = lmlab::this_process().host;
  lmlab::test::write_file(file, fmt::format("host={}-other-node\npid=1\nstarted=2024-05-01T12:00:00Z\n", host));
  CHECK_THROWS_AS(RunLock::acquire(file, "run r3", "", nullptr), LockHeld);
  // Nor can a file without a record (its holder between creating and writing it).
  lmlab::test::write_file(file, "");
  CHECK_THROWS_AS(RunLock::acquire(file, "run r3", "", nullptr), LockHeld);
  // One of this host whose process has ended is taken over.
  const pid_t dead = dead_pid();
  lmlab::test::write_file(file, fmt::format("host={}\npid={}\nstarted=2024-05-01T12:00:00Z\n", host, dead));
  std::ostringstream notes;
  const RunLock taken = RunLock::acquire(file, "run r3", "", &notes);
  CHECK_THAT(notes.str(), Catch::Contains(fmt::format("PID {} on host", dead)) && Catch::Contains("taking it over"));
  CHECK(lmlab::read_lock_holder(file)->pid == getpid());
}

TEST_CASE("a live holder that goes by the record refuses a taker that goes by kernel locks") {
  TempDir dir;
  const fs::path file = dir / "run.h5.lock";
  std::optional<RunLock> first;
  {
    const LocksEnv record("record");
    first = RunLock::acquire(file, "run r5", "", nullptr);
  }
  // The record holder took no kernel lock, so this process gets one; the record still says
  // that a live process of this host holds the run.
  const LocksEnv kernel("flock");
  CHECK_THROWS_AS(RunLock::acquire(file, "run r5", "", nullptr), LockHeld);
  first.reset();
  CHECK(RunLock::acquire(file, "run r5", "", nullptr).kernel_locked());
}

TEST_CASE("LMLAB_LOCKS accepts flock and record only") {
  TempDir dir;
  const LocksEnv bogus("nfs");
  CHECK_THROWS_WITH(RunLock::acquire(dir / "x.lock", "run r4", "", nullptr),
                    Catch::Contains("LMLAB_LOCKS = \"nfs\"") && Catch::Contains("flock (the default) and record"));
}

}  // namespace run_lock_tests
