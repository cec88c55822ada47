#include "util/child_process.hpp"

#include <csignal>

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace lmlab {

pid_t spawn_child(std::vector<char*>& argv, const ChildLog& log, const ChildEnvironment& environment) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) {
    if (pid > 0) setpgid(pid, pid);  // as the child does: whichever runs first, Ctrl-C cannot reach it
    return pid;
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(130);  // the parent died before the line above took effect
  for (const auto& [name, value] : environment) setenv(name.c_str(), value.c_str(), 1);
  if (!log.path.empty()) {
    const int fd = open(log.path.c_str(), O_WRONLY | O_CREAT | (log.append ? O_APPEND : O_TRUNC), 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
  }
  execv(argv[0], argv.data());
  _exit(127);
}

}  // namespace lmlab
