#include "distributed/local_launcher.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "lmlab/error.hpp"
#include "results/run_file.hpp"
#include "results/run_status.hpp"
#include "util/child_process.hpp"
#include "util/run_lock.hpp"

namespace fs = std::filesystem;

namespace lmlab::distributed {
namespace {

using Clock = std::chrono::steady_clock;

// Forks rank `rank` of the launch: torchrun's variables, its own process group (so a terminal's
// Ctrl-C reaches the launcher only, which passes one stop to each rank), SIGTERM if the
// launcher dies, and for ranks above 0 the output in their log.
pid_t spawn_rank(const LocalLaunch& launch, int rank, int port) {
  std::vector<std::string> args{launch.binary};
  args.insert(args.end(), launch.arguments.begin(), launch.arguments.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = rank_log_path(launch.run_file, rank).string();
  if (rank > 0) fs::create_directories(fs::path(log).parent_path());
  const ChildEnvironment environment{{"RANK", std::to_string(rank)},
                                     {"LOCAL_RANK", std::to_string(rank)},
                                     {"WORLD_SIZE", std::to_string(launch.ranks)},
                                     {"LOCAL_WORLD_SIZE", std::to_string(launch.ranks)},
                                     {"MASTER_ADDR", "127.0.0.1"},
                                     {"MASTER_PORT", std::to_string(port)}};
  // Rank 0 keeps the terminal; the others write beside the run file.
  const pid_t pid = spawn_child(argv, {rank > 0 ? log : std::string(), /*append=*/false}, environment);
  if (pid < 0) throw Error(fmt::format("cannot start rank {}: fork failed ({})", rank, std::strerror(errno)));
  return pid;
}

// The error a rank's log ends with: its last "run ... failed: ..." or "error: ..." line (the
// lines after it only count the failures), else its last line.
std::string error_in_log(const fs::path& file) {
  std::ifstream in(file);
  std::string line, last, error;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if ((line.starts_with("run ") && line.find(" failed: ") != std::string::npos) || line.starts_with("error: "))
      error = line;
  }
  return error.empty() ? last : error;
}

// How a rank ended, in words: its error where it said one.
std::string rank_failure(const LocalLaunch& launch, int rank, int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return fmt::format("killed by signal {} ({})", sig, strsignal(sig));
  }
  std::string said;
  if (rank > 0) {
    said = error_in_log(rank_log_path(launch.run_file, rank));
  } else if (fs::exists(launch.run_file)) {
    try {
      if (run_file::read_attribute(launch.run_file, "status") == to_string(RunStatus::failed))
        said = run_file::read_attribute(launch.run_file, "status_reason");
    } catch (const std::exception&) {  // unreadable: the exit code says what is known
    }
  }
  return said.empty() ? fmt::format("exit code {}", WEXITSTATUS(status)) : said;
}

bool failed(int status) {
  return !(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 130));
}

// The run file names the rank that failed first, over whatever the survivors wrote (rank 0's own
// error says only that a peer went away). Under the run's lock, and only over running or failed.
void mark_run_failed(const LocalLaunch& launch, const std::string& reason) {
  std::error_code ec;
  if (!fs::exists(launch.run_file, ec)) return;
  try {
    const std::string status = run_file::read_attribute(launch.run_file, "status");
    if (status != to_string(RunStatus::running) && status != to_string(RunStatus::failed)) return;
    const std::string rank0 =
        status == to_string(RunStatus::failed) ? run_file::read_attribute(launch.run_file, "status_reason") : "";
    const RunLock lock = RunLock::acquire(lock_file_for(launch.run_file), "run " + launch.run_name, "", nullptr);
    RunFile::set_status(launch.run_file, std::string(to_string(RunStatus::failed)),
                        rank0.empty() || reason.find(rank0) != std::string::npos ? reason
                                                                                  : reason + "; rank 0 then: " + rank0);
  } catch (const std::exception& e) {
    *launch.out << fmt::format("warning: cannot mark {} failed: {}\n", launch.run_file.string(), e.what());
  }
}

}  // namespace

fs::path rank_log_path(const fs::path& run_file, int rank) {
  return fs::path(run_file).replace_extension(fmt::format(".rank{}.log", rank));
}

int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(fmt::format("cannot open a socket to find a free port: {}", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!ok) throw Error(fmt::format("cannot find a free port on 127.0.0.1: {}", std::strerror(errno)));
  return ntohs(address.sin_port);
}

int launch_local_ranks(const LocalLaunch& launch) {
  std::ostream& out = *launch.out;
  const int port = free_loopback_port();
  std::map<pid_t, int> running;  // pid -> rank
  std::vector<pid_t> pids;
  for (int rank = 0; rank < launch.ranks; ++rank) {
    pids.push_back(spawn_rank(launch, rank, port));
    running[pids.back()] = rank;
  }
  out << fmt::format("{} ranks on 127.0.0.1:{} (pids {}); ranks 1 to {} write to {}\n", launch.ranks, port,
                     fmt::join(pids, " "), launch.ranks - 1, rank_log_path(launch.run_file, 1).string());
  std::optional<std::pair<int, std::string>> first_failure;  // rank, reason
  bool stopped = false, forwarded = false;
  std::optional<Clock::time_point> ending;  // when the others were told to end
  while (!running.empty()) {
    if (!forwarded && launch.stop_requested && launch.stop_requested()) {
      for (const auto& [pid, rank] : running) kill(pid, SIGINT);
      forwarded = true;
    }
    if (ending && Clock::now() - *ending > std::chrono::duration<double>(launch.grace_s)) {
      for (const auto& [pid, rank] : running) kill(pid, SIGKILL);
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const int rank = it->second;
    running.erase(it);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 130) stopped = true;
    if (!failed(status) || first_failure) continue;
    first_failure = {rank, rank_failure(launch, rank, status)};
    // The others cannot go on without it: a stop (SIGTERM) ends a rank between steps; a rank
    // waiting on the one that failed fails at once (its connection closed) or at timeout_s.
    for (const auto& [other, r] : running) kill(other, SIGTERM);
    ending = Clock::now();
  }
  if (first_failure) {
    const auto& [rank, reason] = *first_failure;
    const std::string message = fmt::format("rank {} of {} failed: {}", rank, launch.ranks, reason);
    out << fmt::format("error: run {}: {}\n", launch.run_name, message);
    mark_run_failed(launch, message);
    return 1;
  }
  return stopped ? 130 : 0;
}

}  // namespace lmlab::distributed
