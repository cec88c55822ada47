// Metrics that report what the host handed them, so tests can check the plumbing: `probe` counts
// the ids of the continuations (per unit) and the validation batches and positions it observed;
// `probe_twin` claims probe's value name, which a run must refuse. Tests only.
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct Options {
  bool undeclared = false;  // also report a value it did not declare
};

class Probe final : public lmlab::Metric {
 public:
  explicit Probe(bool undeclared) : undeclared_(undeclared) {}
  std::vector<std::string> generation_values() const override { return {"ids", "vocab"}; }
  std::vector<lmlab::MetricValue> generated(const lmlab::GeneratedText& text) override {
    double ids = 0;
    for (const auto& c : text.continuations) ids += static_cast<double>(c.size());
    std::vector<lmlab::MetricValue> out{{"ids", ids}, {"vocab", static_cast<double>(text.vocab_size)}};
    if (undeclared_) out.push_back({"surprise", 1.0});
    return out;
  }
  std::vector<std::string> validation_values() const override { return {"batches", "positions"}; }
  void reset() override { batches_ = positions_ = 0; }
  void observe(const lmlab::Predictions& batch) override {
    ++batches_;
    positions_ += batch.targets.ne(lmlab::ignore_index).sum().item<double>();
  }
  std::vector<lmlab::MetricValue> predicted() override { return {{"batches", batches_}, {"positions", positions_}}; }

 private:
  bool undeclared_;
  double batches_ = 0, positions_ = 0;
};

class Twin final : public lmlab::Metric {
 public:
  std::vector<std::string> generation_values() const override { return {"ids"}; }
};

struct NoOptions {};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("probe", "counts what it is given (tests only)",
                       lmlab::OptionSet<Options>{}.add("undeclared", &Options::undeclared,
                                                       "also report an undeclared value"),
                       [](const Options& o, const lmlab::MetricContext&) { return std::make_shared<Probe>(o.undeclared); });
  r.add<lmlab::Metric>("probe_twin", "claims probe's value name (tests only)", lmlab::OptionSet<NoOptions>{},
                       [](const NoOptions&, const lmlab::MetricContext&) { return std::make_shared<Twin>(); });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
