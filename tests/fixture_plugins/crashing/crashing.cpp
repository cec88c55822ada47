// A metric that kills its process: with `abort = true`, its first validation batch calls
// std::abort(), as a plugin bug would. Sweeps must lose that run only. Tests only.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "lmlab/metric.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct Options {
  bool abort = false;
};

class Crashing final : public lmlab::Metric {
 public:
  explicit Crashing(bool abort) : abort_(abort) {}
  std::vector<std::string> validation_values() const override { return {"alive"}; }
  void observe(const lmlab::Predictions&) override {
    if (abort_) std::abort();
  }
  std::vector<lmlab::MetricValue> predicted() override { return {{"alive", 1.0}}; }

 private:
  bool abort_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Metric>("crashing", "calls std::abort() on its first validation batch when asked (tests only)",
                       lmlab::OptionSet<Options>{}.add("abort", &Options::abort, "abort the process"),
                       [](const Options& o, const lmlab::MetricContext&) { return std::make_shared<Crashing>(o.abort); });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
