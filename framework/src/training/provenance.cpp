#include "training/provenance.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>

#include <fmt/format.h>
#include <torch/version.h>

#include "build_info.hpp"

namespace lmlab {

namespace {

// Output of a short git command, or nullopt if it failed.
std::optional<std::string> git(const std::string& args) {
  // safe.directory: as root over a checkout owned by another user, git would refuse the tree.
  const std::string command = fmt::format("git -c safe.directory='{0}' -C '{0}' {1} 2>/dev/null",
                                          build_info::source_dir, args);
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string out;
  std::array<char, 512> buffer{};
  std::size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  if (pclose(pipe) != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

GitState source_git_state() {
  GitState state;
  if (auto head = git("rev-parse HEAD"); head && !head->empty()) {
    state.commit = *head;
    if (auto status = git("status --porcelain --untracked-files=no")) state.dirty = !status->empty();
  } else if (*build_info::configured_commit) {
    state.commit = build_info::configured_commit;
  }
  return state;
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 32> text{};
  std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text.data();
}

std::string torch_version() {
  return fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
}

}  // namespace lmlab
