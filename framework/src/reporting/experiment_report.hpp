/// `lmlab report results/<experiment>`: report.md beside the run files, with a table of every
/// final metric as mean ± std over seeds for each sweep axis, and PNG plots drawn by gnuplot
/// (loss curves, entropy along generation, seq-rep-n per arm, gradient-flow heatmaps).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "results/experiment_index.hpp"

namespace lmlab {

struct ReportOptions {
  bool plots = true;
  std::string gnuplot = "gnuplot";  // the program, found on PATH unless a path
};

struct ReportResult {
  std::filesystem::path markdown;            // <folder>/report.md
  std::vector<std::filesystem::path> plots;  // <folder>/plots/*.png
  std::vector<RunRecord> runs;
};

/// Rebuilds the folder's index.h5, then writes report.md and the plots. report.md is written
/// even when plotting fails (it then says why); the failure is then thrown as a DataError.
ReportResult write_report(const std::filesystem::path& folder, const ReportOptions& options = {});

/// Mean and sample standard deviation (n - 1) of the values that are not NaN; std is NaN for
/// fewer than two, both are NaN for none.
struct MeanStd {
  double mean;
  double std;
  std::size_t n;
};
MeanStd mean_std(const std::vector<double>& values);

}  // namespace lmlab
