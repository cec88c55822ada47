// The plugin interfaces' out-of-line destructors and default hooks (Architecture, Objective,
// DecodingStep, Regulariser, Metric, ...): defined here, they anchor each interface's vtable and
// type_info in the framework library, so host and plugins agree on them.
#include <algorithm>
#include <cmath>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/regulariser.hpp"

namespace lmlab {

Architecture::~Architecture() = default;
Objective::~Objective() = default;
std::vector<std::string> Objective::components() const { return {}; }
DecodingStep::~DecodingStep() = default;
Regulariser::~Regulariser() = default;

at::Tensor Regulariser::extra_loss(const LossOutput&, Architecture&) { return {}; }
void Regulariser::before_step(Architecture&, const StepInfo&) {}
void Regulariser::after_step(Architecture&, const StepInfo&) {}
void Regulariser::log(Architecture&, const StepInfo&, RegulariserLog&) {}
RegulariserLog::~RegulariserLog() = default;

Metric::~Metric() = default;
std::vector<std::string> Metric::generation_values() const { return {}; }
std::vector<MetricValue> Metric::generated(const GeneratedText&) { return {}; }
std::vector<std::string> Metric::validation_values() const { return {}; }
void Metric::reset() {}
void Metric::observe(const Predictions&) {}
std::vector<MetricValue> Metric::predicted() { return {}; }
std::vector<std::string> Metric::probe_values() const { return {}; }
std::vector<MetricValue> Metric::probe(const ModelProbe&) { return {}; }

std::vector<MetricValue> in_declared_order(const std::vector<std::string>& declared,
                                           const std::vector<MetricValue>& values) {
  std::vector<MetricValue> out;
  out.reserve(declared.size());
  for (const auto& name : declared) {
    const auto it = std::find_if(values.begin(), values.end(), [&](const MetricValue& v) { return v.name == name; });
    out.push_back({name, it == values.end() ? std::nan("") : it->value});
  }
  return out;
}

}  // namespace lmlab
