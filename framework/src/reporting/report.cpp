#include "reporting/report.hpp"

#include <cmath>

#include <fmt/format.h>

#include "util/format.hpp"

namespace lmlab {

// Newlines and tabs of generated text would break the table's layout.
std::string one_line(const std::string& text, std::size_t max_bytes) {
  std::string out;
  for (char c : text) out += (c == '\n' || c == '\t' || c == '\r') ? ' ' : c;
  if (out.size() > max_bytes) {
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
    out = out.substr(0, cut) + "...";
  }
  return out;
}

namespace {

// A fraction as a percentage of three significant digits ("41.2%", "0.0318%": a tiny model on a
// CPU uses little of it); "-" when unknown.
std::string format_mfu(double mfu) { return std::isfinite(mfu) ? fmt::format("{:.3g}%", 100.0 * mfu) : "-"; }

}  // namespace

void print_summary(std::ostream& out, const std::vector<RunSummary>& runs) {
  out << fmt::format("\n{:<36} {:>7} {:>8} {:>9} {:>7} {:>9} {:>9} {:>11} {:>8} {:>9}\n", "run", "steps", "time",
                     "tok/s", "mfu", "val_loss", "val_ppl", "unigram_ppl", "val_acc", "status");
  out << std::string(36 + 7 + 8 + 9 + 7 + 9 + 9 + 11 + 8 + 9 + 9, '-') << '\n';
  for (const auto& r : runs) {
    out << fmt::format("{:<36} {:>7} {:>8} {:>9.0f} {:>7} {:>9.4f} {:>9.3f} {:>11.3f} {:>8.3f} {:>9}\n", r.run_name,
                       r.steps, format_duration(r.seconds), r.tokens_per_s, format_mfu(r.mfu), r.val_loss, r.val_ppl,
                       r.unigram_ppl, r.val_acc, to_string(r.status));
  }
  for (const auto& r : runs) {
    out << fmt::format("\n{} ({} on {}, {} threads)\n", r.run_file.string(), r.run_name, r.device, r.threads);
    for (const auto& s : r.samples) {
      out << fmt::format("  prompt: {}\n  {}: {}\n", one_line(s.prompt, 100), s.decoding, one_line(s.continuation, 200));
    }
  }
}

void print_plugins(std::ostream& out, const std::vector<PluginInfo>& plugins) {
  for (const auto& p : plugins) {
    out << fmt::format("{:<13} {:<18} {}\n", p.kind, p.name, p.help);
    out << fmt::format("{:<13} {:<18} from {}\n", "", "", p.library);
    if (p.kind == "architecture") {
      out << fmt::format("{:<13} {:<18} capabilities: {}\n", "", "", describe(p.traits.provides));
    } else if (!p.traits.needs.empty()) {
      out << fmt::format("{:<13} {:<18} needs {}\n", "", "", describe(p.traits.needs));
    }
    if (p.traits.composite) {
      out << fmt::format("{:<13} {:<18} composite: mixes the objectives in `tasks`, each with its own "
                         "[objective.<task>] table\n", "", "");
    }
    if (!p.traits.hooks.empty()) out << fmt::format("{:<13} {:<18} hooks: {}\n", "", "", describe(p.traits.hooks));
    for (const auto& o : p.options) {
      std::string accepted = o.accepted.empty() ? "" : fmt::format(" [{}]", o.accepted);
      out << fmt::format("{:<13} {:<18}   {} ({}, default {}{}): {}\n", "", "", o.name, o.type, o.default_value,
                         accepted, o.help);
    }
    for (const auto& preset : p.presets) {
      out << fmt::format("{:<13} {:<18}   preset {}: {}\n{:<13} {:<18}     sets {}\n", "", "", preset.name, preset.help,
                         "", "", preset.settings);
    }
  }
}

}  // namespace lmlab
