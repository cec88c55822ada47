// Single-quoting for POSIX shells, shared by the report's gnuplot calls and the Slurm script.
#pragma once
#include <string>

namespace lmlab::detail {

/// `text` in single quotes, each ' written as '\'' : the shell expands nothing inside.
inline std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace lmlab::detail
