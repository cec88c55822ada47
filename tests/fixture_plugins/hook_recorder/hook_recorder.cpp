// Regularisers that record each hook call the trainer makes, for the trainer's tests of hook order
// and of declared hook points. Every call gets a number from one counter shared by all instances
// (they live in this one library), and `log` writes the calls since the last log step as rows
// {step, seq, hook} of the instance's run-file group, so a test can merge the groups by `seq`.
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/plugin.hpp"
#include "lmlab/regulariser.hpp"

namespace {

std::atomic<std::int64_t> next_seq{0};

struct Options {
  double weight = 0.0;  // extra_loss returns weight * 0 + weight: a known constant term
};

class Recorder final : public lmlab::Regulariser {
 public:
  explicit Recorder(double weight) : weight_(weight) {}

  at::Tensor extra_loss(const lmlab::LossOutput& out, lmlab::Architecture&) override {
    record(0, "extra_loss");
    return at::full({}, weight_, out.loss.options().dtype(at::kFloat));  // ()
  }
  void before_step(lmlab::Architecture&, const lmlab::StepInfo& s) override { record(s.step, "before_step"); }
  void after_step(lmlab::Architecture&, const lmlab::StepInfo& s) override { record(s.step, "after_step"); }
  void log(lmlab::Architecture&, const lmlab::StepInfo& s, lmlab::RegulariserLog& out) override {
    record(s.step, "log");
    for (const auto& [seq, hook] : calls_) out.append({{"step", s.step}, {"seq", seq}, {"hook", hook}});
    calls_.clear();
  }

 private:
  void record(std::int64_t, std::string hook) { calls_.emplace_back(next_seq++, std::move(hook)); }

  double weight_;
  std::vector<std::pair<std::int64_t, std::string>> calls_;
};

void register_plugins(lmlab::Registrar& r) {
  auto options = [] {
    return lmlab::OptionSet<Options>{}.add("weight", &Options::weight, "the constant extra_loss returns");
  };
  auto make = [](const Options& o, const lmlab::RegulariserContext&) { return std::make_shared<Recorder>(o.weight); };
  r.add<lmlab::Regulariser>("record_all_hooks", "records every hook call (tests only)", options(), make,
                            {.hooks = {.extra_loss = true, .before_step = true, .after_step = true, .log = true}});
  // Declares only two hook points: the trainer must not call the others.
  r.add<lmlab::Regulariser>("record_loss_hook", "records the hooks it declares: extra_loss and log (tests only)", options(),
                            make, {.hooks = {.extra_loss = true, .log = true}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
