/// `lmlab watch RUN.h5`: a live view of a run in the terminal (progress, ETA, the last training,
/// validation and generation metrics, the last sample), read from its run file while it trains.
#pragma once
#include <filesystem>
#include <ostream>
#include <string>

namespace lmlab {

struct WatchOptions {
  double interval_s = 2.0;  // between reads of the file
  bool once = false;        // print one frame and return
  bool redraw = true;       // clear the screen for each frame (a terminal); else print changed frames
};

/// One frame: what the file holds now, `width` columns wide at most.
std::string watch_frame(const std::filesystem::path& run, std::size_t width = 100);

/// Shows frames until the run is `complete`, `failed` or `stopped` (waiting first for the file to
/// appear; a file without a status yet is a run starting).
/// Returns the process exit code: 0 complete or stopped (or `out` closed by its reader), 1 failed. Throws DataError for a folder
/// (naming its run files) and for a file that stays unreadable for 5 s while nothing writes it.
int watch(const std::filesystem::path& run, const WatchOptions& options, std::ostream& out);

}  // namespace lmlab
