/// One writer at a time: an exclusive lock on a file beside what a process writes (a run's file,
/// a sweep's results folder, an experiment's index), taken before anything is opened. The lock is
/// the kernel's (flock), so it ends with its process however that dies; the file also records the
/// holder (host, PID, start time, command), so a refused process can say who holds it, and a
/// record left by a process that died is recognised and taken over. Where the file system has no
/// locks, or LMLAB_LOCKS=record says so (locks that hang), the record alone decides: the file
/// exists from its holder's start to its end. What holds on shared cluster file systems:
/// docs/reliability.md.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>

namespace lmlab {

/// Who holds (or, in a file nobody holds any more, last held) a lock.
struct LockHolder {
  std::string host;
  std::int64_t pid = 0;
  std::string pid_start;  // the process's start in clock ticks since boot: tells a reused PID apart
  std::string started;    // UTC, when it took the lock
  std::string command;    // its command line, shortened

  /// "PID 123 on host node7, started 2024-05-01T12:00:00Z (lmlab run exp.toml)".
  std::string describe() const;
  /// Whether this is a process of this host that has ended (its PID gone or reused). A holder on
  /// another host cannot be checked from here: never gone.
  bool gone() const;
};

/// Another live process holds the lock. Not an lmlab::Error: nothing is wrong with the input, and
/// the same command succeeds once the holder has ended (lmlab exits with 3, "busy").
class LockHeld : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RunLock {
 public:
  /// Takes the lock `lock_file` for `what` (as a message names it: "run seed1-ab12cd34"),
  /// creating the file and its folder, and records this process in it. While another process
  /// holds it, waits up to `wait`, then throws LockHeld naming the holder and the file, followed
  /// by `advice` (what the user can do). A record left by a holder that ended without releasing
  /// it (killed) is taken over, with a note to `notes` when given.
  static RunLock acquire(const std::filesystem::path& lock_file, const std::string& what, const std::string& advice,
                         std::ostream* notes, std::chrono::duration<double> wait = std::chrono::seconds(0));

  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  /// Removes the file, then releases the lock.
  ~RunLock();

  const std::filesystem::path& path() const { return path_; }
  /// False where the file system refused locks and only the record guards the file.
  bool kernel_locked() const { return kernel_locked_; }

 private:
  RunLock(std::filesystem::path path, int fd, bool kernel_locked);
  void release() noexcept;

  std::filesystem::path path_;
  int fd_ = -1;
  bool kernel_locked_ = true;
};

/// The lock of a file one process at a time may write: `<file>.lock` beside it.
std::filesystem::path lock_file_for(const std::filesystem::path& file);

/// The holder `lock_file` records, if it exists and records one.
std::optional<LockHolder> read_lock_holder(const std::filesystem::path& lock_file);

/// This process as a lock records it.
LockHolder this_process();

}  // namespace lmlab
