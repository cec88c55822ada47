/// Training progress for people: on a terminal one live line per run (step/total, loss,
/// tokens/s, ETA), redrawn in place; elsewhere plain lines at each logging step.
#pragma once
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace lmlab {

class Progress {
 public:
  /// `live` redraws one line in place (a terminal); otherwise prints a line per report.
  Progress(std::ostream& out, std::string run, std::int64_t total_steps, bool live);

  /// After each optimizer step; `logged` marks the steps that wrote a /train row.
  void step(std::int64_t step, double loss, double tokens_per_s, bool logged);

  /// A whole line (evaluation results, notices) that must not be overwritten.
  void message(const std::string& text);

  /// Ends the live line.
  void finish();

  /// True when stderr is a terminal.
  static bool stderr_is_terminal();

 private:
  std::ostream& out_;
  std::string run_;
  std::int64_t total_;
  bool live_;
  bool line_open_ = false;
  std::int64_t first_step_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace lmlab
