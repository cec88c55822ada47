#include "results/grad_flow.hpp"

#include <algorithm>
#include <cmath>
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

std::vector<std::pair<std::string, double>> grad_flow_summary(const GradFlow& flow) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::size_t> numbered;  // the layers with a numeric component, in logged order
  for (std::size_t l = 0; l < flow.layers.size(); ++l) {
    const std::string& name = flow.layers[l];
    const auto dot = name.rfind('.');
    if (dot != std::string::npos && dot + 1 < name.size() &&
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(dot) + 1, name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      numbered.push_back(l);
    }
  }
  const auto it = flow.values.find("grad_norm");
  if (it == flow.values.end()) return {{"first_last_ratio", nan}, {"max_grad_norm", nan}};
  const std::vector<double>& g = it->second;  // (S, L)
  const std::size_t L = flow.layers.size();
  double log_sum = 0.0, max_norm = nan;
  std::size_t counted = 0;
  for (std::size_t s = 0; s < flow.steps.size(); ++s) {
    for (std::size_t l = 0; l < L; ++l) {
      const double v = g[s * L + l];
      if (std::isfinite(v) && !(v <= max_norm)) max_norm = v;  // also replaces the initial NaN
    }
    if (numbered.size() < 2) continue;
    const double first = g[s * L + numbered.front()], last = g[s * L + numbered.back()];
    if (std::isfinite(first) && std::isfinite(last) && first > 0 && last > 0) {
      log_sum += std::log(first / last);
      ++counted;
    }
  }
  return {{"first_last_ratio", counted ? std::exp(log_sum / static_cast<double>(counted)) : nan},
          {"max_grad_norm", max_norm}};
}

}  // namespace lmlab
