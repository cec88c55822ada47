#include "training/progress.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "util/format.hpp"

namespace lmlab {

Progress::Progress(std::ostream& out, std::string run, std::int64_t total_steps, bool live)
    : out_(out), run_(std::move(run)), total_(total_steps), live_(live), start_(std::chrono::steady_clock::now()) {}

void Progress::step(std::int64_t step, double loss, double tokens_per_s, bool logged) {
  const auto now = std::chrono::steady_clock::now();
  if (first_step_ < 0) {
    first_step_ = step - 1;
    start_ = now;
  }
  if (!logged && (!live_ || now - last_draw_ < std::chrono::milliseconds(100))) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double per_step = elapsed / std::max<std::int64_t>(1, step - first_step_);
  const std::string text =
      fmt::format("[{}] step {}/{}  loss {:.4f}  {:.0f} tok/s  ETA {}", run_, step, total_, loss, tokens_per_s,
                  format_duration(per_step * static_cast<double>(total_ - step)));
  if (live_) {
    out_ << "\r\033[2K" << text << std::flush;
    line_open_ = true;
  } else {
    out_ << text << '\n' << std::flush;
  }
}

void Progress::message(const std::string& text) {
  if (line_open_) out_ << "\r\033[2K";
  out_ << text << '\n' << std::flush;
  line_open_ = false;
  last_draw_ = {};
}

void Progress::finish() {
  if (line_open_) out_ << '\n' << std::flush;
  line_open_ = false;
}

bool Progress::stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

}  // namespace lmlab
