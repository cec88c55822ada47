/// Where a run came from: the source tree's git state, versions and wall-clock times.
#pragma once
#include <string>

namespace lmlab {

struct GitState {
  std::string commit = "unknown";  // HEAD of the source tree, or the commit the build was configured at
  bool dirty = false;              // uncommitted changes to tracked files
};

/// The git state of lmlab's source tree at run time (falls back to the configure-time commit
/// when the tree or git is not there).
GitState source_git_state();

/// Now, as ISO 8601 UTC ("2026-11-29T19:03:38Z").
std::string utc_now();

/// "1.13.0" from the LibTorch headers this was built with.
std::string torch_version();

}  // namespace lmlab
