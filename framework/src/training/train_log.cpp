#include "training/train_log.hpp"

#include <algorithm>
#include <cmath>

#include "lmlab/capabilities.hpp"
#include "plugin_host/run_plugins.hpp"

namespace lmlab {

Throughput TokenRate::per_second() const {
  const double seconds =
      std::max(1e-9, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  return {static_cast<double>(tokens_) / seconds, static_cast<double>(steps_) / seconds};
}

void TokenRate::restart() {
  start_ = std::chrono::steady_clock::now();
  tokens_ = 0;
  steps_ = 0;
}

void record_step(TrainingState& state, const StepResult& result) {
  state.step = result.step;
  state.tokens += result.tokens;
  state.loss_sum += result.loss;
  state.loss_count += 1;
  for (const LossTerm& term : result.terms) {
    RunningMean& mean = state.components[term.name];
    mean.sum += term.value;
    mean.count += 1;
  }
}

void log_step(RunFile& file, RunSetup& run, TrainingState& state, const StepResult& result, double tokens_per_s,
              std::optional<double> mfu, std::optional<double> comm_s) {
  RunFile::Row row{{"step", result.step},  {"tokens", state.tokens}, {"loss", state.loss_sum / state.loss_count},
                   {"lr", result.lr},      {"grad_norm", result.grad_norm}, {"tokens_per_s", tokens_per_s}};
  if (mfu) row.emplace_back("mfu", *mfu);
  if (comm_s) row.emplace_back("comm_s", *comm_s);
  for (const auto& name : run.columns) {
    const RunningMean mean = state.components[name];
    row.emplace_back("loss." + name, mean.count > 0 ? mean.sum / static_cast<double>(mean.count) : std::nan(""));
  }
  file.append("train", row);
  state.loss_sum = 0.0;
  state.loss_count = 0;
  state.components.clear();
  Architecture& model = run.model();
  const StepInfo info = result.info();
  call_hooks(run.plugins.regularisers, &HookPoints::log, "log", [&](const RunRegulariser& r) {
    GroupLog group(file, r.label);
    r.plugin->log(model, info, group);
  });
}

}  // namespace lmlab
