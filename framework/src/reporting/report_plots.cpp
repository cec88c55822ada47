#include "reporting/report_plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <sys/wait.h>

#include "experiment/sweep.hpp"
#include "lmlab/error.hpp"
#include "reporting/experiment_report.hpp"
#include "results/grad_flow.hpp"
#include "results/run_reader.hpp"
#include "util/shell_quote.hpp"

namespace lmlab::report {

namespace fs = std::filesystem;

namespace {

// Okabe-Ito's colour-blind-safe palette, then darker tones for larger sweeps.
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
                                    "#000000", "#F0E442", "#7f3c8d", "#11a579", "#3969ac", "#e73f74"};

std::string colour(std::size_t i) { return kColours[i % std::size(kColours)]; }

// gnuplot string literal: double-quoted, with its escapes.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : "NaN"; }

/// One gnuplot script: inline data blocks, then the commands that draw from them.
class Script {
 public:
  explicit Script(const fs::path& png, int width = 1000, int height = 620) {
    head_ << fmt::format("set terminal pngcairo size {},{} font \"sans,10\"\nset output {}\n", width, height,
                         quoted(png.filename().string()))
          << "set termoption noenhanced\nset datafile missing \"NaN\"\nset grid lc rgb \"#dddddd\"\n";
  }
  /// Adds a data block of rows; returns its name.
  std::string data(const std::vector<std::vector<double>>& rows) {
    const std::string name = fmt::format("$d{}", blocks_++);
    head_ << name << " << EOD\n";
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) head_ << (i ? " " : "") << number(row[i]);
      head_ << '\n';
    }
    head_ << "EOD\n";
    return name;
  }
  Script& operator<<(const std::string& line) {
    body_ << line << '\n';
    return *this;
  }
  std::string text() const { return head_.str() + body_.str(); }

 private:
  std::ostringstream head_, body_;
  int blocks_ = 0;
};

/// Writes plots/<name>.gp, runs gnuplot on it in that folder, and checks that the PNG appeared.
Figure render(const fs::path& plots, const std::string& name, const Script& script, const std::string& caption,
              const std::string& gnuplot) {
  const fs::path gp = plots / (name + ".gp"), png = plots / (name + ".png"), log = plots / (name + ".log");
  {
    std::ofstream out(gp);
    out << script.text();
    if (!out) throw DataError("lmlab report: cannot write " + gp.string());
  }
  fs::remove(png);
  const std::string command = fmt::format("cd {} && {} {} > {} 2>&1", detail::shell_quote(plots.string()), detail::shell_quote(gnuplot),
                                          detail::shell_quote(gp.filename().string()), detail::shell_quote(log.filename().string()));
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  const std::string messages((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (status != 0 || !fs::exists(png)) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 127) {
      throw DataError(fmt::format("gnuplot ({}) was not found; install it with ./scripts/install-deps (Debian "
                                  "package gnuplot-nox), or run lmlab report --no-plots",
                                  gnuplot));
    }
    throw DataError(fmt::format("gnuplot failed on {} (exit {}): {}", gp.string(), code, messages));
  }
  fs::remove(log);
  return {png, caption};
}

struct Curve {
  std::vector<double> x, y;
};

Curve read_curve(const RunReader& run, const std::string& group, const std::string& column) {
  Curve c;
  if (!run.exists(group + "/" + column) || !run.exists(group + "/step")) return c;
  const auto steps = run.floats(group + "/step");
  const auto values = run.floats(group + "/" + column);
  const std::size_t n = std::min(steps.size(), values.size());
  c.x.assign(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(n));
  c.y.assign(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n));
  return c;
}

std::vector<std::vector<double>> rows_of(const Curve& c) {
  std::vector<std::vector<double>> rows;
  for (std::size_t i = 0; i < c.x.size(); ++i) rows.push_back({c.x[i], c.y[i]});
  return rows;
}

// The complete runs grouped by sweep point, in the order the runs come.
std::vector<std::pair<std::string, std::vector<const RunRecord*>>> by_point(const std::vector<RunRecord>& runs) {
  std::vector<std::pair<std::string, std::vector<const RunRecord*>>> points;
  for (const RunRecord& run : runs) {
    if (!run.is(RunStatus::complete) || run.superseded) continue;
    auto it = std::find_if(points.begin(), points.end(), [&](const auto& p) { return p.first == run.sweep_point; });
    if (it == points.end()) it = points.insert(points.end(), {run.sweep_point, {}});
    it->second.push_back(&run);
  }
  return points;
}

std::string point_title(const std::string& point) { return point.empty() ? "all runs" : point; }

std::vector<std::string> decodings_of(const std::vector<RunRecord>& runs) {
  std::vector<std::string> names;
  for (const RunRecord& run : runs) {
    for (const auto& [metric, value] : run.finals) {
      if (metric.rfind("generation.", 0) != 0) continue;
      const std::string rest = metric.substr(11);
      const std::string name = rest.substr(0, rest.find('.'));
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  return names;
}

// Panels on a grid of at most 3 columns.
std::string multiplot(std::size_t panels, const std::string& title) {
  const std::size_t cols = std::min<std::size_t>(panels, 3), rows = (panels + cols - 1) / cols;
  return fmt::format("set multiplot layout {},{} title {}", rows, cols, quoted(title));
}

std::optional<Figure> loss_plot(const fs::path& plots, const std::vector<RunRecord>& runs, const std::string& gnuplot) {
  Script s(plots / "loss.png");
  std::vector<std::string> parts;
  std::size_t i = 0;
  for (const RunRecord& run : runs) {
    if (run.status == "unreadable" || run.superseded) continue;
    Curve train, val;
    try {
      const RunReader reader(run.file);
      train = read_curve(reader, "train", "loss");
      val = read_curve(reader, "eval", "val_loss");
    } catch (const Error&) {  // a running run met mid-flush: drawn without it
      continue;
    }
    if (!train.x.empty()) {
      parts.push_back(fmt::format("{} using 1:2 with lines lw 1.5 lc rgb \"{}\" title {}", s.data(rows_of(train)),
                                  colour(i), quoted(run.name + " train")));
    }
    if (!val.x.empty()) {
      parts.push_back(fmt::format("{} using 1:2 with linespoints dt 2 pt 7 ps 0.6 lw 1.5 lc rgb \"{}\" title {}",
                                  s.data(rows_of(val)), colour(i), quoted(run.name + " validation")));
    }
    ++i;
  }
  if (parts.empty()) return std::nullopt;
  s << "set title \"Training and validation loss\"" << "set xlabel \"step\"" << "set ylabel \"loss (nats per token)\""
    << "set key outside right top font \",8\"" << fmt::format("plot {}", fmt::join(parts, ", \\\n  "));
  return render(plots, "loss", s, "Training loss (solid) and validation loss (dashed) of every run, in nats per token.", gnuplot);
}

// Mean over a point's runs of the last evaluation's entropy curve, position by position.
Curve mean_entropy_curve(const std::vector<const RunRecord*>& runs, const std::string& decoding) {
  std::map<double, std::vector<double>> at;
  const std::string group = "generation/" + decoding + "/entropy_curve";
  for (const RunRecord* run : runs) {
    const RunReader reader(run->file);
    if (!reader.exists(group + "/entropy")) continue;
    const auto steps = reader.ints(group + "/step");
    const auto positions = reader.floats(group + "/position");
    const auto entropy = reader.floats(group + "/entropy");
    if (steps.empty()) continue;
    const std::int64_t last = *std::max_element(steps.begin(), steps.end());
    for (std::size_t r = 0; r < std::min({steps.size(), positions.size(), entropy.size()}); ++r) {
      if (steps[r] == last) at[positions[r]].push_back(entropy[r]);
    }
  }
  Curve c;
  for (const auto& [position, values] : at) c.x.push_back(position), c.y.push_back(mean_std(values).mean);
  return c;
}

std::optional<Figure> entropy_plot(const fs::path& plots, const std::vector<RunRecord>& runs, const std::string& gnuplot) {
  const auto decodings = decodings_of(runs);
  const auto points = by_point(runs);
  if (decodings.empty() || points.empty()) return std::nullopt;
  Script s(plots / "entropy.png", 1200, 420 * static_cast<int>((decodings.size() + 2) / 3));
  s << multiplot(decodings.size(), "Next-token entropy along generation (last evaluation, mean over seeds)");
  bool any = false;
  for (const std::string& decoding : decodings) {
    std::vector<std::string> parts;
    for (std::size_t p = 0; p < points.size(); ++p) {
      const Curve c = mean_entropy_curve(points[p].second, decoding);
      if (c.x.empty()) continue;
      parts.push_back(fmt::format("{} using 1:2 with lines lw 1.5 lc rgb \"{}\" title {}", s.data(rows_of(c)), colour(p),
                                  quoted(point_title(points[p].first))));
    }
    if (parts.empty()) continue;
    any = true;
    s << fmt::format("set title {}", quoted(decoding)) << "set xlabel \"generated position\""
      << "set ylabel \"entropy (nats)\"" << "set key top right font \",8\"" << fmt::format("plot {}", fmt::join(parts, ", "));
  }
  if (!any) return std::nullopt;
  s << "unset multiplot";
  return render(plots, "entropy", s,
                "Entropy of the model's untruncated next-token distribution at each generated position, one panel per "
                "decoding configuration, one line per sweep point.",
                gnuplot);
}

std::optional<Figure> seq_rep_plot(const fs::path& plots, const std::vector<RunRecord>& runs, const std::string& unit,
                                   const std::string& gnuplot) {
  const auto decodings = decodings_of(runs);
  const auto points = by_point(runs);
  const std::string name = "seq_rep_" + unit;
  Script s(plots / (name + ".png"), 1200, 420 * static_cast<int>((decodings.size() + 2) / 3));
  s << multiplot(std::max<std::size_t>(decodings.size(), 1),
                 fmt::format("seq-rep-n of the generated continuations, on {} (mean ± std over seeds)", unit));
  bool any = false;
  for (const std::string& decoding : decodings) {
    std::vector<std::string> parts;
    int max_n = 1;
    for (std::size_t p = 0; p < points.size(); ++p) {
      std::vector<std::vector<double>> rows;
      for (int n = 1; n <= 9; ++n) {
        std::vector<double> values;
        for (const RunRecord* run : points[p].second) {
          values.push_back(run->final_value(fmt::format("generation.{}.{}.seq_rep_{}", decoding, unit, n)));
        }
        const MeanStd m = mean_std(values);
        if (m.n > 0) rows.push_back({static_cast<double>(n), m.mean, m.n > 1 ? m.std : 0.0}), max_n = std::max(max_n, n);
      }
      if (rows.empty()) continue;
      parts.push_back(fmt::format("{} using 1:2:3 with yerrorlines lw 1.5 pt 7 lc rgb \"{}\" title {}", s.data(rows),
                                  colour(p), quoted(point_title(points[p].first))));
    }
    if (parts.empty()) continue;
    any = true;
    s << fmt::format("set title {}", quoted(decoding)) << "set xlabel \"n\"" << "set xtics 1"
      << fmt::format("set xrange [0.5:{}.5]", max_n)
      << "set ylabel \"seq-rep-n\"" << "set yrange [0:*]" << "set key top left font \",8\""
      << fmt::format("plot {}", fmt::join(parts, ", "));
  }
  if (!any) return std::nullopt;
  s << "unset multiplot";
  return render(plots, name, s,
                fmt::format("seq-rep-n (the share of repeated n-grams within a continuation) on {} for n = 1..4, one "
                            "panel per decoding configuration, one line per sweep point; bars are ± one std over seeds.",
                            unit),
                gnuplot);
}

std::optional<Figure> grad_flow_plot(const fs::path& plots, const std::string& point, const RunRecord& run,
                                     const std::string& gnuplot) {
  const RunReader reader(run.file);
  const auto flows = read_grad_flow(reader);
  if (flows.empty() || !flows.front().values.count("grad_norm") || flows.front().steps.empty()) return std::nullopt;
  const GradFlow& flow = flows.front();
  const std::vector<double>& g = flow.values.at("grad_norm");
  const std::size_t S = flow.steps.size(), L = flow.layers.size();
  // Layers with no gradient at all (an unused pooler) would be a blank row: left out.
  std::vector<std::size_t> layers;
  for (std::size_t l = 0; l < L; ++l) {
    for (std::size_t t = 0; t < S; ++t) {
      if (std::isfinite(g[t * L + l])) {
        layers.push_back(l);
        break;
      }
    }
  }
  if (layers.empty()) return std::nullopt;
  const std::string name = "grad_flow-" + file_safe_label(point.empty() ? "all" : point);
  Script s(plots / (name + ".png"), 1000, std::max(360, 110 + 22 * static_cast<int>(layers.size())));
  std::vector<std::vector<double>> rows;
  for (std::size_t t = 0; t < S; ++t) {
    for (std::size_t k = 0; k < layers.size(); ++k) {
      const double v = g[t * L + layers[k]];
      rows.push_back({static_cast<double>(t), static_cast<double>(k), v > 0 ? std::log10(v) : std::nan("")});
    }
  }
  const std::string block = s.data(rows);
  std::vector<std::string> ytics, xtics;
  for (std::size_t k = 0; k < layers.size(); ++k) ytics.push_back(fmt::format("{} {}", quoted(flow.layers[layers[k]]), k));
  const std::size_t stride = std::max<std::size_t>(1, S / 8);
  for (std::size_t t = 0; t < S; t += stride) xtics.push_back(fmt::format("\"{}\" {}", flow.steps[t], t));
  s << fmt::format("set title {}", quoted("Per-layer gradient norm, log10: " + run.name)) << "set xlabel \"step\""
    << fmt::format("set xtics ({})", fmt::join(xtics, ", ")) << fmt::format("set ytics ({}) font \",8\"", fmt::join(ytics, ", "))
    << fmt::format("set xrange [-0.5:{}]", static_cast<double>(S) - 0.5)
    << fmt::format("set yrange [-0.5:{}]", static_cast<double>(layers.size()) - 0.5) << "set cblabel \"log10 ||grad||\""
    << "set palette defined (0 \"#440154\", 1 \"#3b528b\", 2 \"#21918c\", 3 \"#5ec962\", 4 \"#fde725\")"
    << "unset grid" << fmt::format("plot {} using 1:2:3 with image notitle", block);
  return render(plots, name, s,
                fmt::format("Gradient norm of each layer (rows, input at the bottom) at each measured step (columns), "
                            "log10, from grad_monitor; run {}.",
                            run.name),
                gnuplot);
}

}  // namespace

std::vector<Figure> draw_plots(const fs::path& folder, const std::vector<RunRecord>& runs, const std::string& gnuplot) {
  const fs::path plots = folder / "plots";
  fs::create_directories(plots);
  std::vector<Figure> figures;
  const auto add = [&](std::optional<Figure> f) {
    if (f) figures.push_back(std::move(*f));
  };
  add(loss_plot(plots, runs, gnuplot));
  add(entropy_plot(plots, runs, gnuplot));
  add(seq_rep_plot(plots, runs, "tokens", gnuplot));
  add(seq_rep_plot(plots, runs, "words", gnuplot));
  // One heatmap per sweep point, from its first seed: seeds of one point look alike.
  for (const auto& [point, point_runs] : by_point(runs)) add(grad_flow_plot(plots, point, *point_runs.front(), gnuplot));
  return figures;
}

}  // namespace lmlab::report
