#include "util/run_lock.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
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

namespace lmlab {

namespace fs = std::filesystem;

namespace {

std::string lock_host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// Field 22 of /proc/PID/stat, the process's start in clock ticks since boot; empty if unknown.
std::string lock_process_start(std::int64_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return "";
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return field;
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
  // Alive, but maybe a later process that was given the same PID.
  const std::string now = lock_process_start(pid);
  return !pid_start.empty() && !now.empty() && now != pid_start;
}

LockHolder this_process() {
  LockHolder h;
  h.host = lock_host_name();
  h.pid = getpid();
  h.pid_start = lock_process_start(h.pid);
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
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  while (true) {
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw std::runtime_error(fmt::format("cannot open the lock file {} of {}: {}", path.string(), what, std::strerror(errno)));
    }
    bool kernel_locked = flock(fd, LOCK_EX | LOCK_NB) == 0;
    const int error = kernel_locked ? 0 : errno;
    if (kernel_locked && !lock_fd_is_current(fd, path)) {  // released and removed meanwhile: take the new file
      close(fd);
      continue;
    }
    const std::optional<LockHolder> recorded = parse_lock_record(read_lock_fd(fd));
    // Without kernel locks, the record decides: a holder still running elsewhere, or on this host, holds it.
    const bool unsupported = !kernel_locked && locks_unsupported(error);
    const bool held = !kernel_locked && (!unsupported || (recorded && !recorded->gone()));
    if (held) {
      close(fd);
      if (error != EWOULDBLOCK && !unsupported) {
        throw std::runtime_error(fmt::format("cannot lock {} for {}: {}", path.string(), what, std::strerror(error)));
      }
      if (std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      std::string message = held_message(what, path, recorded, advice);
      if (unsupported) {
        message += fmt::format(" (This file system does not lock files ({}), so lmlab goes by the record alone: if that "
                               "process has ended, delete {}.)",
                               std::strerror(error), path.string());
      }
      throw LockHeld(message);
    }
    if (recorded && notes) {
      *notes << fmt::format("note: {} was left locked by PID {}, which is no longer running; taking it over\n", what,
                            recorded->describe());
    }
    if (unsupported && notes) {
      *notes << fmt::format("warning: {} cannot be locked ({}): two processes starting {} at the same moment would not "
                            "be told apart\n",
                            path.string(), std::strerror(error), what);
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
