/// Starting an lmlab child process (a sweep's run, a local launch's rank) the way both need it:
/// in its own process group, so that a terminal's Ctrl-C reaches the parent alone, which stops
/// its children itself; ended by SIGTERM when the parent dies; its output optionally in a log.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace lmlab {

struct ChildLog {
  std::string path;     // empty: the child keeps the parent's stdin, stdout and stderr
  bool append = false;  // false: the log is truncated
};

/// Environment variables set in the child only (name, value).
using ChildEnvironment = std::vector<std::pair<std::string, std::string>>;

/// fork()s and execv()s `argv` (null-terminated, argv[0] the program) with `environment` added to
/// the child's. Returns the child's pid, or -1 with errno set when fork() fails. With a log,
/// stdout and stderr go to it and stdin reads /dev/null.
pid_t spawn_child(std::vector<char*>& argv, const ChildLog& log, const ChildEnvironment& environment = {});

}  // namespace lmlab
