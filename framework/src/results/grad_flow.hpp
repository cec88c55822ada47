/// Gradient flow as matrices: grad_monitor logs one row per layer per measured step; pivoted,
/// they are step x layer tables, which the run file keeps as /grad_flow and reports draw as
/// heatmaps (where along depth and when in training gradients vanish or explode).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "results/run_file.hpp"
#include "results/run_reader.hpp"

namespace lmlab {

struct GradFlow {
  std::string source;                                   // the group pivoted: "grad_monitor", "grad_monitor.2"
  std::vector<std::int64_t> steps;                      // (S), ascending
  std::vector<std::string> layers;                      // (L), in the order the monitor logs them
  std::map<std::string, std::vector<double>> values;    // per quantity (grad_norm, ...): (S, L) row-major, NaN where no row
};

/// The group a monitor group's matrices go to: "grad_monitor" -> "grad_flow", "grad_monitor.2" -> "grad_flow.2".
std::string grad_flow_group(const std::string& source);

/// One GradFlow per grad_monitor group of the run (none when it has no grad_monitor).
std::vector<GradFlow> read_grad_flow(const RunReader& run);

/// One number per question, for comparing runs (lmlab's index lists them as final values):
/// `first_last_ratio`, the geometric mean over measured steps of the gradient norm of the first
/// numbered layer (`blocks.0`, `encoder.0`) over that of the last (below 1: gradients shrink on
/// their way to the input; above 1: they grow), steps where either is missing or zero left out;
/// and `max_grad_norm`, the largest of any layer at any step. NaN where nothing defines them.
std::vector<std::pair<std::string, double>> grad_flow_summary(const GradFlow& flow);

/// Writes each as /<grad_flow_group>: `step` (S), `layer` (L) and one (S, L) float matrix per quantity.
void write_grad_flow(RunFile& file, const std::vector<GradFlow>& flows);

}  // namespace lmlab
