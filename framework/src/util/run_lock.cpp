#include "util/run_lock.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmlab/error.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

std::string lock_host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// Field `n` (3: the state, 22: the start in clock ticks since boot) of /proc/PID/stat; empty if unknown.
std::string lock_proc_stat(std::int64_t pid, int n) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return "";
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= n && fields >> field; ++i) {
    if (i == n) return field;
  }
  return "";
}

std::string lock_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string command;
  for (std::size_t start = 0; start < raw.size();) {
    const std::size_t end = std::min(raw.find('\0', start), raw.size());
    std::string arg = raw.substr(start, end - start);
    if (command.empty()) arg = fs::path(arg).filename().string();  // "lmlab", not its build path
    command += (command.empty() ? "" : " ") + arg;
    start = end + 1;
  }
  for (char& c : command) {
    if (c == '\n' || c == '\r') c = ' ';  // one record line
  }
  return command.size() > 200 ? command.substr(0, 197) + "..." : command;
}

std::string lock_utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string lock_record(const LockHolder& h) {
  return fmt::format("host={}\npid={}\npid_start={}\nstarted={}\ncommand={}\n", h.host, h.pid, h.pid_start, h.started,
                     h.command);
}

std::optional<LockHolder> parse_lock_record(const std::string& text) {
  LockHolder h;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "host") h.host = value;
    if (key == "pid") h.pid = std::strtoll(value.c_str(), nullptr, 10);
    if (key == "pid_start") h.pid_start = value;
    if (key == "started") h.started = value;
    if (key == "command") h.command = value;
  }
  if (h.host.empty() || h.pid <= 0) return std::nullopt;
  return h;
}

std::string read_lock_fd(int fd) {
  std::string text;
  char buffer[1024];
  for (off_t at = 0;;) {
    const ssize_t n = pread(fd, buffer, sizeof(buffer), at);
    if (n <= 0 || text.size() > 8192) break;
    text.append(buffer, static_cast<std::size_t>(n));
    at += n;
  }
  return text;
}

void write_lock_record(int fd, const fs::path& path) {
  const std::string record = lock_record(this_process());
  // Flushed to the file's server too, so a process on another host that is refused reads it.
  if (ftruncate(fd, 0) != 0 || pwrite(fd, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size()) ||
      fdatasync(fd) != 0) {
    throw std::runtime_error(fmt::format("cannot write the lock file {}: {}", path.string(), std::strerror(errno)));
  }
}

// Whether `fd` is still the file at `path`: a holder removes the file when it releases the lock,
// so a process that opened it just before must open the new one instead.
bool lock_fd_is_current(int fd, const fs::path& path) {
  struct stat open_file{}, named{};
  return fstat(fd, &open_file) == 0 && stat(path.c_str(), &named) == 0 && open_file.st_dev == named.st_dev &&
         open_file.st_ino == named.st_ino;
}

// ENOLCK (NFS without a lock daemon), EOPNOTSUPP/ENOSYS (file systems mounted without locks).
bool locks_unsupported(int error) { return error == ENOLCK || error == EOPNOTSUPP || error == ENOSYS || error == EINVAL; }

// Opens the lock file, creating it when absent; `created`: whether this call made it (atomic with
// O_EXCL, on NFSv3 and later too). -1: it was removed between two calls here; open again.
int open_lock_file(const fs::path& path, const std::string& what, bool& created) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  created = fd >= 0;
  if (created) return fd;
  // Only a file that existed a moment ago and is gone now is worth another try: any other
  // failure (the folder removed, no permission) would make the caller spin.
  if (errno == EEXIST) {
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return -1;
  }
  if (fd < 0) {
    throw std::runtime_error(fmt::format("cannot open the lock file {} of {}: {}", path.string(), what, std::strerror(errno)));
  }
  return fd;
}

// LMLAB_LOCKS: "flock" (the default) or "record", the record alone, for file systems whose locks
// hang (an NFS server whose lock daemon is down) rather than fail.
bool record_only_locks() {
  const char* value = std::getenv("LMLAB_LOCKS");
  const std::string mode = value ? value : "";
  if (mode.empty() || mode == "flock") return false;
  if (mode == "record") return true;
  throw ConfigError(fmt::format("environment variable LMLAB_LOCKS = \"{}\": accepted values are flock (the default) "
                                "and record",
                                mode.size() > 40 ? mode.substr(0, 40) + "..." : mode));
}

// What a process that takes over a record left behind says. From another host the kernel lock's
// release is all there is to go by: it is right where locks reach every host (NFS with its lock
// service), wrong where each host locks only for itself, which lmlab cannot see from here.
std::string takeover_note(const std::string& what, const LockHolder& recorded, bool kernel_locked) {
  if (recorded.host == lock_host_name() || !kernel_locked) {
    return fmt::format("note: {} was left locked by PID {}, which is no longer running; taking it over\n", what,
                       recorded.describe());
  }
  return fmt::format("warning: {} was locked by PID {}, which released the lock (it ended, or its host lost contact "
                     "with the file server); taking it over. If that process is still running, this file system locks "
                     "files for each host alone: stop this one and set LMLAB_LOCKS=record (docs/reliability.md)\n",
                     what, recorded.describe());
}

std::string held_message(const std::string& what, const fs::path& path, const std::optional<LockHolder>& holder,
                         const std::string& advice) {
  if (!holder) {
    return fmt::format("{} is in use by another process, which has not recorded itself in its lock {} (yet). {}", what,
                       path.string(), advice);
  }
  std::string message = fmt::format("{} is in use by PID {}; its lock is {}.", what, holder->describe(), path.string());
  if (holder->gone()) {
    message += fmt::format(" PID {} has ended, but a process it started still holds the lock (`fuser -v {}` names it).",
                           holder->pid, path.string());
  }
  return message + " " + advice;
}

}  // namespace

std::string LockHolder::describe() const {
  return fmt::format("{} on host {}, started {}{}", pid, host, started.empty() ? "at an unknown time" : started,
                     command.empty() ? "" : " (" + command + ")");
}

bool LockHolder::gone() const {
  if (host != lock_host_name()) return false;
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  if (lock_proc_stat(pid, 3) == "Z") return true;  // ended, not yet reaped by its parent
  // Alive, but maybe a later process that was given the same PID.
  const std::string now = lock_proc_stat(pid, 22);
  return !pid_start.empty() && !now.empty() && now != pid_start;
}

LockHolder this_process() {
  LockHolder h;
  h.host = lock_host_name();
  h.pid = getpid();
  h.pid_start = lock_proc_stat(h.pid, 22);
  h.started = lock_utc_now();
  h.command = lock_command_line();
  return h;
}

fs::path lock_file_for(const fs::path& file) { return fs::path(file.string() + ".lock"); }

std::optional<LockHolder> read_lock_holder(const fs::path& lock_file) {
  std::ifstream in(lock_file);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return parse_lock_record(text.str());
}

RunLock RunLock::acquire(const fs::path& path, const std::string& what, const std::string& advice, std::ostream* notes,
                         std::chrono::duration<double> wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const bool record_only = record_only_locks();
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  while (true) {
    bool created = false;
    const int fd = open_lock_file(path, what, created);
    if (fd < 0) continue;
    const bool kernel_locked = !record_only && flock(fd, LOCK_EX | LOCK_NB) == 0;
    const int error = kernel_locked || record_only ? 0 : errno;
    if (kernel_locked && !lock_fd_is_current(fd, path)) {  // released and removed meanwhile: take the new file
      close(fd);
      continue;
    }
    const bool by_record = !kernel_locked && (record_only || locks_unsupported(error));
    if (!kernel_locked && !by_record && error != EWOULDBLOCK) {
      close(fd);
      throw std::runtime_error(fmt::format("cannot lock {} for {}: {}", path.string(), what, std::strerror(error)));
    }
    // Without kernel locks the record decides: the file lives from its holder's start to its end,
    // so one this process did not create is held, unless it names a holder that has ended.
    const std::optional<LockHolder> recorded = parse_lock_record(read_lock_fd(fd));
    // A live holder on this host that goes by the record (LMLAB_LOCKS=record) holds no kernel
    // lock, so taking the kernel lock does not make it gone.
    const bool live_record_holder = kernel_locked && !created && recorded && recorded->host == lock_host_name() &&
                                    !recorded->gone();
    const bool held =
        live_record_holder || (!kernel_locked && (!by_record || (!created && !(recorded && recorded->gone()))));
    const std::string why = record_only ? "LMLAB_LOCKS=record" : std::strerror(error);
    if (held) {
      close(fd);
      if (std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      std::string message = held_message(what, path, recorded, advice);
      if (by_record) {
        message += fmt::format(" (Files are not locked here ({}), so lmlab goes by the record alone: if that process "
                               "has ended, delete {}.)",
                               why, path.string());
      }
      throw LockHeld(message);
    }
    if (recorded && notes) *notes << takeover_note(what, *recorded, kernel_locked);
    if (by_record && !record_only && notes) {
      *notes << fmt::format("warning: {} cannot be locked ({}): lmlab goes by the record it writes there\n",
                            path.string(), why);
    }
    try {
      write_lock_record(fd, path);
    } catch (...) {
      close(fd);
      throw;
    }
    return RunLock(path, fd, kernel_locked);
  }
}

RunLock::RunLock(fs::path path, int fd, bool kernel_locked) : path_(std::move(path)), fd_(fd), kernel_locked_(kernel_locked) {}

RunLock::RunLock(RunLock&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), kernel_locked_(other.kernel_locked_) {}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    kernel_locked_ = other.kernel_locked_;
  }
  return *this;
}

RunLock::~RunLock() { release(); }

void RunLock::release() noexcept {
  if (fd_ < 0) return;
  // Removed while still locked, so the next process finds no record to take over; one that
  // opened the file before its removal sees that it is gone once it gets the lock, and retries.
  if (lock_fd_is_current(fd_, path_)) ::unlink(path_.c_str());
  close(fd_);
  fd_ = -1;
}

}  // namespace lmlab
