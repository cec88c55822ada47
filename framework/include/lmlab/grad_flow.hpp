/// Gradient flow as matrices: grad_monitor logs one row per layer per measured step; pivoted,
/// they are step x layer tables, which the run file keeps as /grad_flow and reports draw as
/// heatmaps (where along depth and when in training gradients vanish or explode).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lmlab/run_file.hpp"
#include "lmlab/run_reader.hpp"

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

/// Writes each as /<grad_flow_group>: `step` (S), `layer` (L) and one (S, L) float matrix per quantity.
void write_grad_flow(RunFile& file, const std::vector<GradFlow>& flows);

}  // namespace lmlab
