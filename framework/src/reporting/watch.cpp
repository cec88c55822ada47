#include "reporting/watch.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "experiment/toml_limits.hpp"
#include "lmlab/error.hpp"
#include "reporting/report.hpp"
#include "results/run_reader.hpp"
#include "results/run_status.hpp"
#include "util/format.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

// "2024-05-01T12:00:00Z" as seconds since the epoch; 0 when it does not parse.
std::time_t parse_utc(const std::string& text) {
  std::tm tm{};
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

// "name value" pairs of a group's last row, wrapped to `width`, each line indented.
std::string last_row(const RunReader& run, const std::string& group, std::size_t width, std::int64_t* step = nullptr) {
  if (!run.exists(group + "/step")) return "";
  const auto steps = run.ints(group + "/step");
  if (steps.empty()) return "";
  if (step) *step = steps.back();
  std::string out, line = "   ";
  for (const std::string& column : run.datasets(group)) {
    if (column == "step" || run.is_text(group + "/" + column)) continue;
    const auto values = run.floats(group + "/" + column);
    // Columns of one group can differ in length during a flush: take the row all have.
    const std::size_t row = std::min(values.size(), steps.size());
    if (row == 0) continue;
    const std::string item = fmt::format(" {} {}", column, format_value(values[row - 1]));
    if (line.size() + item.size() > width && line.size() > 3) out += line + '\n', line = "   ";
    line += item;
  }
  return out + line + '\n';
}

// A frame without its clock-driven lines (elapsed, ETA, file age): what has changed in the run.
std::string content_of(const std::string& frame) {
  std::string out;
  std::size_t start = 0;
  while (start < frame.size()) {
    const std::size_t end = std::min(frame.find('\n', start), frame.size());
    const std::string line = frame.substr(start, end - start);
    if (line.rfind("[", 0) != 0 && line.rfind("file written", 0) != 0) out += line + '\n';
    start = end + 1;
  }
  return out;
}

// What a folder given to watch holds that it could follow: its run files (index.h5 is none).
std::string run_files_in(const fs::path& folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const fs::path& p = entry.path();
    if (p.extension() == ".h5" && p.filename() != "index.h5") names.push_back(p.filename().string());
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) return "it holds no run files";
  const std::size_t shown = std::min<std::size_t>(names.size(), 5);
  std::string list;
  for (std::size_t i = 0; i < shown; ++i) list += (i ? ", " : "") + names[i];
  return fmt::format("its run files: {}{}", list, names.size() > shown ? fmt::format(" and {} more", names.size() - shown) : "");
}

void refuse_folder(const fs::path& path) {
  throw DataError(fmt::format("{} is a folder; lmlab watch follows one run file (.h5): {}", path.string(),
                              run_files_in(path)));
}

// What tells a file being written from one left as it is: its size and time of last write.
std::pair<std::uintmax_t, fs::file_time_type> written_state(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const auto time = fs::last_write_time(path, ec);
  return {ec ? 0 : size, ec ? fs::file_time_type{} : time};
}

}  // namespace

std::string watch_frame(const fs::path& path, std::size_t width) {
  const RunReader run(path);
  const std::string status = run.attribute("status").value_or("unknown");
  const std::string reason = run.attribute("status_reason").value_or("");
  std::int64_t total = 0;
  if (const auto config = run.attribute("config")) total = parse_toml(*config, path.string() + ":config")["train"]["steps"].value_or<std::int64_t>(0);
  std::string out = fmt::format("{}  [{}]{}\n", path.stem().string(), status, reason.empty() ? "" : "  " + reason);

  std::int64_t step = 0;
  const std::string train = last_row(run, "train", width, &step);
  const std::time_t start = parse_utc(run.attribute("start_time").value_or(""));
  const std::time_t end = parse_utc(run.attribute("end_time").value_or(""));
  const double elapsed = start > 0 ? std::difftime(end > 0 ? end : std::time(nullptr), start) : 0.0;
  const double done = total > 0 ? static_cast<double>(step) / static_cast<double>(total) : 0.0;
  const std::size_t bar = 30, filled = static_cast<std::size_t>(std::clamp(done, 0.0, 1.0) * bar);
  std::string eta = "-";
  if (status == to_string(RunStatus::running) && step > 0 && elapsed > 0 && done > 0) eta = format_duration(elapsed / done - elapsed);
  out += fmt::format("[{}{}] step {}/{} ({:.1f}%)  elapsed {}  ETA {}\n", std::string(filled, '#'),
                     std::string(bar - filled, '.'), step, total, 100.0 * done, format_duration(elapsed), eta);
  const auto written = fs::last_write_time(path);
  const double idle = std::chrono::duration<double>(fs::file_time_type::clock::now() - written).count();
  if (status == to_string(RunStatus::running)) out += fmt::format("file written {} ago\n", format_duration(std::max(0.0, idle)));

  if (!train.empty()) out += fmt::format("train (step {}):\n{}", step, train);
  std::int64_t eval_step = 0;
  const std::string eval = last_row(run, "eval", width, &eval_step);
  if (!eval.empty()) out += fmt::format("eval (step {}):\n{}", eval_step, eval);
  if (run.exists("generation")) {
    for (const std::string& decoding : run.groups("generation")) {
      std::int64_t at = 0;
      const std::string metrics = last_row(run, "generation/" + decoding + "/metrics", width, &at);
      if (!metrics.empty()) out += fmt::format("generation {} (step {}):\n{}", decoding, at, metrics);
      const std::string samples = "generation/" + decoding + "/samples";
      if (run.exists(samples + "/continuation")) {
        const auto prompts = run.strings(samples + "/prompt");
        const auto continuations = run.strings(samples + "/continuation");
        const std::size_t n = std::min(prompts.size(), continuations.size());
        if (n > 0) {
          const std::string text = one_line(prompts[n - 1], width / 3) + " >> " + continuations[n - 1];
          out += "    " + one_line(text, width > 8 ? width - 8 : width) + '\n';
        }
      }
    }
  }
  return out;
}

int watch(const fs::path& path, const WatchOptions& options, std::ostream& out) {
  const auto pause = std::chrono::duration<double>(std::max(0.05, options.interval_s));
  if (fs::is_directory(path)) refuse_folder(path);
  if (!fs::exists(path)) {
    if (options.once) throw DataError("run file " + path.string() + " does not exist");
    out << fmt::format("waiting for {} to appear...\n", path.string()) << std::flush;
    while (!fs::exists(path)) std::this_thread::sleep_for(pause);
    if (fs::is_directory(path)) refuse_folder(path);
  }
  // A read that meets a flush halfway fails for a moment, and so does one of a file just
  // created; a file that stays unreadable while nothing writes it is truncated or no run file.
  const auto patience = std::chrono::seconds(5);
  std::optional<std::chrono::steady_clock::time_point> failing_since;
  auto last_state = written_state(path);
  std::string previous;
  while (true) {
    std::string frame, status;
    try {
      // The status first: the frame, read after it, is at least as new, so the last frame shown
      // is the one of the ended run.
      status = RunReader(path).attribute("status").value_or("unknown");
      frame = watch_frame(path);
      failing_since.reset();
    } catch (const DataError& e) {
      if (options.once) throw;
      const auto now = std::chrono::steady_clock::now();
      const auto state = written_state(path);
      if (!failing_since || state != last_state) failing_since = now;  // still written: wait on
      last_state = state;
      if (now - *failing_since >= patience) {
        throw DataError(fmt::format("cannot read {} (unchanged for {} s): {}. Is it truncated, or not a run file?",
                                    path.string(), patience.count(), e.what()));
      }
      std::this_thread::sleep_for(std::min<std::chrono::duration<double>>(pause, std::chrono::milliseconds(250)));
      continue;
    }
    if (options.redraw) {
      out << "\033[H\033[2J" << frame << std::flush;
    } else if (content_of(frame) != previous) {
      out << frame << '\n' << std::flush;
    }
    // Nobody reads any more (`lmlab watch ... | head`): lmlab ignores SIGPIPE, so the failed
    // write shows only here, and watching on would be for no one.
    if (!out) return 0;
    previous = content_of(frame);
    // A file just created has no status yet: the run is starting, not over.
    const auto known = parse_run_status(status);
    const bool over = known && *known != RunStatus::running;
    if (options.once || over) return known == RunStatus::failed ? 1 : 0;
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace lmlab
