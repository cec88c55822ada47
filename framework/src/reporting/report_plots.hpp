// The report's plots: one gnuplot script per figure, kept beside its PNG so a reader can restyle
// it and render it again with `gnuplot plots/<name>.gp`.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "results/experiment_index.hpp"

namespace lmlab::report {

/// A figure the report embeds: its file and caption.
struct Figure {
  std::filesystem::path png;
  std::string caption;
};

/// Draws every figure the runs have data for into `folder/plots/`; throws DataError when
/// gnuplot is missing or fails (naming the script and gnuplot's message).
std::vector<Figure> draw_plots(const std::filesystem::path& folder, const std::vector<RunRecord>& runs,
                               const std::string& gnuplot);

}  // namespace lmlab::report
