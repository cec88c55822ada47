#include "lmlab/grad_flow.hpp"

#include <algorithm>
#include <limits>

namespace lmlab {

namespace {

bool is_monitor_group(const std::string& name) {
  return name == "grad_monitor" || name.rfind("grad_monitor.", 0) == 0;
}

}  // namespace

std::string grad_flow_group(const std::string& source) { return "grad_flow" + source.substr(std::string("grad_monitor").size()); }

std::vector<GradFlow> read_grad_flow(const RunReader& run) {
  std::vector<GradFlow> flows;
  for (const std::string& group : run.groups("")) {
    if (!is_monitor_group(group)) continue;
    const std::vector<std::string> columns = run.datasets(group);
    const auto has = [&](const char* c) { return std::find(columns.begin(), columns.end(), c) != columns.end(); };
    if (!has("step") || !has("layer")) continue;
    GradFlow flow;
    flow.source = group;
    const auto steps = run.ints(group + "/step");
    const auto layers = run.strings(group + "/layer");
    // A run killed inside a flush can leave columns of different lengths: use the rows all have.
    std::size_t rows = std::min(steps.size(), layers.size());
    std::map<std::string, std::vector<double>> quantities;
    for (const std::string& c : columns) {
      if (c == "step" || c == "layer" || run.is_text(group + "/" + c)) continue;
      quantities[c] = run.floats(group + "/" + c);
      rows = std::min(rows, quantities[c].size());
    }
    for (std::size_t r = 0; r < rows; ++r) {
      if (std::find(flow.layers.begin(), flow.layers.end(), layers[r]) == flow.layers.end()) flow.layers.push_back(layers[r]);
      if (flow.steps.empty() || flow.steps.back() != steps[r]) flow.steps.push_back(steps[r]);
    }
    // Steps arrive ascending, except after a resume relogged some: sort and deduplicate.
    std::sort(flow.steps.begin(), flow.steps.end());
    flow.steps.erase(std::unique(flow.steps.begin(), flow.steps.end()), flow.steps.end());
    const std::size_t S = flow.steps.size(), L = flow.layers.size();
    for (auto& [name, column] : quantities) {
      std::vector<double>& matrix = flow.values[name];
      matrix.assign(S * L, std::numeric_limits<double>::quiet_NaN());
      for (std::size_t r = 0; r < rows; ++r) {
        const auto s = static_cast<std::size_t>(std::lower_bound(flow.steps.begin(), flow.steps.end(), steps[r]) - flow.steps.begin());
        const auto l = static_cast<std::size_t>(std::find(flow.layers.begin(), flow.layers.end(), layers[r]) - flow.layers.begin());
        matrix[s * L + l] = column[r];
      }
    }
    flows.push_back(std::move(flow));
  }
  return flows;
}

void write_grad_flow(RunFile& file, const std::vector<GradFlow>& flows) {
  for (const GradFlow& flow : flows) {
    const std::string group = grad_flow_group(flow.source);
    const std::uint64_t S = flow.steps.size(), L = flow.layers.size();
    file.write_array(group + "/step", {S}, flow.steps);
    file.write_array(group + "/layer", {L}, flow.layers);
    for (const auto& [name, matrix] : flow.values) file.write_array(group + "/" + name, {S, L}, matrix);
  }
}

}  // namespace lmlab
