#include "reporting/experiment_report.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "build_info.hpp"
#include "lmlab/error.hpp"
#include "reporting/report_plots.hpp"
#include "util/format.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string cell(const MeanStd& s) {
  if (s.n == 0) return "–";
  if (s.n == 1) return format_value(s.mean);
  return fmt::format("{} ± {:.2g}", format_value(s.mean), s.std);
}

// Metrics in reading order: validation, then generation, then training, then size.
int metric_rank(const std::string& metric) {
  for (const auto& [prefix, rank] : {std::pair{"eval.", 0}, {"generation.", 1}, {"train.", 2}}) {
    if (metric.rfind(prefix, 0) == 0) return rank;
  }
  return 3;
}

// Every final metric some complete run has a number for.
std::vector<std::string> metrics_of(const std::vector<const RunRecord*>& runs) {
  std::vector<std::string> metrics;
  for (const RunRecord* run : runs) {
    for (const auto& [metric, value] : run->finals) {
      if (!std::isnan(value) && std::find(metrics.begin(), metrics.end(), metric) == metrics.end()) metrics.push_back(metric);
    }
  }
  std::stable_sort(metrics.begin(), metrics.end(),
                   [](const std::string& a, const std::string& b) { return metric_rank(a) < metric_rank(b); });
  return metrics;
}

std::string value_of(const RunRecord& run, const std::string& axis) {
  for (const auto& [a, v] : run.axes) {
    if (a == axis) return v;
  }
  return "";
}

// One column of a table: a label and the runs it averages.
struct Column {
  std::string label;
  std::vector<const RunRecord*> runs;
};

// Mean ± std over seeds of `metric` in a column: within each seed the column's runs (the other
// axes' values) are averaged first, so each seed counts once.
MeanStd over_seeds(const Column& column, const std::string& metric) {
  std::map<std::int64_t, std::vector<double>> by_seed;
  for (const RunRecord* run : column.runs) by_seed[run->seed].push_back(run->final_value(metric));
  std::vector<double> per_seed;
  for (const auto& [seed, values] : by_seed) per_seed.push_back(mean_std(values).mean);
  return mean_std(per_seed);
}

std::size_t seeds_in(const Column& column) {
  std::vector<std::int64_t> seeds;
  for (const RunRecord* run : column.runs) seeds.push_back(run->seed);
  std::sort(seeds.begin(), seeds.end());
  return static_cast<std::size_t>(std::unique(seeds.begin(), seeds.end()) - seeds.begin());
}

void write_table(std::ostream& md, const std::vector<Column>& columns, const std::vector<std::string>& metrics) {
  md << "| metric |";
  for (const Column& c : columns) md << fmt::format(" {} ({} seed{}) |", c.label, seeds_in(c), seeds_in(c) == 1 ? "" : "s");
  md << "\n|---|";
  for (std::size_t i = 0; i < columns.size(); ++i) md << "---|";
  md << '\n';
  for (const std::string& metric : metrics) {
    md << fmt::format("| `{}` |", metric);
    for (const Column& c : columns) md << ' ' << cell(over_seeds(c, metric)) << " |";
    md << '\n';
  }
  md << '\n';
}

std::vector<std::string> axes_of(const std::vector<const RunRecord*>& runs) {
  std::vector<std::string> axes;
  for (const RunRecord* run : runs) {
    for (const auto& [axis, value] : run->axes) {
      if (std::find(axes.begin(), axes.end(), axis) == axes.end()) axes.push_back(axis);
    }
  }
  return axes;
}

std::string utc_today() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02} UTC", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
}

void write_markdown(std::ostream& md, const fs::path& folder, const std::vector<RunRecord>& runs,
                    const std::vector<report::Figure>& figures, const std::string& plot_error) {
  std::vector<const RunRecord*> complete;
  std::map<std::string, int> statuses;
  for (const RunRecord& run : runs) {
    ++statuses[run.status];
    if (run.is(RunStatus::complete) && !run.superseded) complete.push_back(&run);
  }
  std::vector<std::string> counts;
  for (const auto& [status, n] : statuses) counts.push_back(fmt::format("{} {}", n, status));
  md << fmt::format("# Report: {}\n\n", folder.filename().string());
  md << fmt::format(
      "Written by `lmlab report {}` (lmlab {}) on {} from {} run file{} ({}). Each cell is a final value: the "
      "last evaluation of a run. Cells are the mean ± sample standard deviation (n − 1) over seeds; a value "
      "with no ± comes from one seed. Only complete runs count, and only the latest configuration of each sweep point. `index.h5` beside this file links every run "
      "file and holds these values per run.\n\n",
      folder.string(), build_info::version, utc_today(), runs.size(), runs.size() == 1 ? "" : "s",
      fmt::join(counts, ", "));

  // Bits per character beside the per-token figures: the one loss that compares tokenizers.
  md << "## Runs\n\n| run | sweep point | seed | status | steps | `eval.val_loss` | `eval.val_ppl` | `eval.val_bpc` "
        "|\n|---|---|---|---|---|---|---|---|\n";
  for (const RunRecord& run : runs) {
    md << fmt::format("| {} | {} | {} | {}{} | {} | {} | {} | {} |\n", run.name,
                      run.sweep_point.empty() ? "–" : run.sweep_point, run.seed, run.status,
                      run.superseded ? " (older configuration)" : "", run.steps,
                      format_value(run.final_value("eval.val_loss")), format_value(run.final_value("eval.val_ppl")),
                      format_value(run.final_value("eval.val_bpc")));
  }
  md << '\n';

  const std::vector<std::string> metrics = metrics_of(complete);
  const std::vector<std::string> axes = axes_of(complete);
  if (complete.empty()) {
    md << "No run is complete yet: there are no final values to compare.\n\n";
  } else if (axes.empty()) {
    md << "## Final metrics\n\n";
    write_table(md, {{"all runs", complete}}, metrics);
  }
  for (const std::string& axis : axes) {
    std::vector<Column> columns;
    for (const RunRecord* run : complete) {
      const std::string label = fmt::format("{}={}", axis.substr(axis.rfind('.') + 1), value_of(*run, axis));
      auto it = std::find_if(columns.begin(), columns.end(), [&](const Column& c) { return c.label == label; });
      if (it == columns.end()) it = columns.insert(columns.end(), Column{label, {}});
      it->runs.push_back(run);
    }
    md << fmt::format("## By `{}`\n\n", axis);
    if (axes.size() > 1) {
      md << "Within each seed, the runs of a value are averaged over the other axes first; the cell is then the "
            "mean ± std of those averages over seeds.\n\n";
    }
    write_table(md, columns, metrics);
  }
  if (axes.size() > 1) {
    std::vector<Column> columns;
    for (const RunRecord* run : complete) {
      auto it = std::find_if(columns.begin(), columns.end(), [&](const Column& c) { return c.label == run->sweep_point; });
      if (it == columns.end()) it = columns.insert(columns.end(), Column{run->sweep_point, {}});
      it->runs.push_back(run);
    }
    md << "## By sweep point\n\n";
    write_table(md, columns, metrics);
  }

  md << "## Plots\n\n";
  if (!plot_error.empty()) md << "No plots: " << plot_error << "\n\n";
  for (const report::Figure& figure : figures) {
    md << fmt::format("![{}](plots/{})\n\n*{}*\n\n", figure.caption, figure.png.filename().string(), figure.caption);
  }

  std::vector<const RunRecord*> stale;
  for (const RunRecord& run : runs) {
    if (run.superseded) stale.push_back(&run);
  }
  if (!stale.empty()) {
    md << "## Runs of older configurations (left out)\n\nThese runs share a sweep point with later runs of another "
          "configuration (the experiment file was edited since they ran); delete them, or move them to another folder, "
          "to drop them from the index.\n\n";
    for (const RunRecord* run : stale) md << fmt::format("- `{}` (configuration {}, started {})\n", run->name, run->variant, run->start_time);
    md << '\n';
  }
  std::vector<const RunRecord*> others;
  for (const RunRecord& run : runs) {
    if (!run.is(RunStatus::complete)) others.push_back(&run);
  }
  if (!others.empty()) {
    md << "## Runs that are not complete\n\n";
    for (const RunRecord* run : others) {
      md << fmt::format("- `{}`: {}{}\n", run->name, run->status, run->status_reason.empty() ? "" : " (" + run->status_reason + ")");
    }
    md << '\n';
  }
}

}  // namespace

MeanStd mean_std(const std::vector<double>& values) {
  double sum = 0;
  std::size_t n = 0;
  for (const double v : values) {
    if (!std::isnan(v)) sum += v, ++n;
  }
  if (n == 0) return {kNaN, kNaN, 0};
  const double mean = sum / static_cast<double>(n);
  if (n == 1) return {mean, kNaN, 1};
  double squares = 0;
  for (const double v : values) {
    if (!std::isnan(v)) squares += (v - mean) * (v - mean);
  }
  return {mean, std::sqrt(squares / static_cast<double>(n - 1)), n};
}

ReportResult write_report(const fs::path& folder, const ReportOptions& options) {
  ReportResult result;
  result.runs = rebuild_index(folder);
  if (result.runs.empty()) throw DataError("lmlab report: " + folder.string() + " holds no run files (*.h5)");
  std::vector<report::Figure> figures;
  std::string plot_error;
  if (options.plots) {
    try {
      figures = report::draw_plots(folder, result.runs, options.gnuplot);
    } catch (const std::exception& e) {  // gnuplot's failures, and the file system's
      plot_error = e.what();
    }
  } else {
    plot_error = "`--no-plots` was given.";
  }
  result.markdown = folder / "report.md";
  std::ostringstream md;
  write_markdown(md, folder, result.runs, figures, plot_error);
  std::ofstream out(result.markdown);
  out << md.str();
  if (!out) throw DataError("lmlab report: cannot write " + result.markdown.string());
  out.close();
  for (const auto& figure : figures) result.plots.push_back(figure.png);
  if (options.plots && !plot_error.empty()) throw DataError(plot_error + " (report.md was written without plots)");
  return result;
}

}  // namespace lmlab
