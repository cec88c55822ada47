#include "training/train_step.hpp"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "distributed/data_parallel.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "training/optimizer.hpp"
#include "training/runtime.hpp"
#include "training/trainer.hpp"

namespace lmlab {

namespace {

// The step's loss and terms, summed on the device so that the step syncs with the host once,
// not once per micro-batch. Slot 0 holds the loss, slot 1 + c the term columns[c]; `reported[c]`
// counts the micro-batches that reported term c.
class StepSums {
 public:
  StepSums(const std::vector<std::string>& columns, std::int64_t grad_accum, const c10::Device& device)
      : columns_(columns),
        grad_accum_(static_cast<double>(grad_accum)),
        sums_(at::zeros({static_cast<std::int64_t>(columns.size()) + 1},
                        at::TensorOptions().dtype(at::kDouble).device(device))),  // (1 + terms)
        reported_(columns.size(), 0) {}

  void add_loss(const at::Tensor& loss) { add(0, loss); }

  /// Adds term `name`'s value; false when it is not one of the columns.
  bool add_term(const std::string& name, const at::Tensor& value) {
    const auto column = std::find(columns_.begin(), columns_.end(), name);
    if (column == columns_.end()) return false;
    const auto c = static_cast<std::size_t>(column - columns_.begin());
    add(1 + c, value);
    reported_[c] += 1;
    return true;
  }

  /// The one host sync: the step's loss and, for each term reported, its mean over the
  /// micro-batches that reported it.
  double to_host(std::vector<LossTerm>& terms) const {
    const at::Tensor host = sums_.cpu();  // (1 + terms)
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      if (reported_[c] == 0) continue;
      // Scaled back from the micro-batch mean to the mean over the micro-batches that reported it.
      terms.push_back({columns_[c], host[static_cast<std::int64_t>(c + 1)].item<double>() * grad_accum_ /
                                        static_cast<double>(reported_[c])});
    }
    return host[0].item<double>();
  }

  /// Over the ranks, in one all-reduce: the loss becomes the mean of the ranks' (each had an
  /// equal share of the batch), a term's mean is over every rank's micro-batches that reported
  /// it, `tokens` the sum, and `stop` true when any rank was asked to stop.
  void sum_over_ranks(distributed::DataParallel& parallel, std::int64_t& tokens, bool& stop) {
    const std::int64_t n = sums_.size(0);
    std::vector<double> counts(reported_.begin(), reported_.end());
    counts.push_back(static_cast<double>(tokens));
    counts.push_back(stop ? 1.0 : 0.0);
    at::Tensor all = at::cat({sums_.cpu(), at::tensor(counts, at::kDouble)});  // (1 + terms + terms + 2)
    parallel.sum(all, "the sum of the step's loss over the ranks");
    sums_.copy_(all.narrow(0, 0, n));
    sums_[0] /= static_cast<double>(parallel.size());
    const double* summed = all.data_ptr<double>() + n;
    for (std::size_t c = 0; c < reported_.size(); ++c) reported_[c] = static_cast<std::int64_t>(summed[c]);
    tokens = static_cast<std::int64_t>(summed[reported_.size()]);
    stop = summed[reported_.size() + 1] > 0.0;
  }

 private:
  void add(std::size_t slot, const at::Tensor& value) {
    sums_[static_cast<std::int64_t>(slot)] += value.detach().to(at::kDouble) / grad_accum_;
  }

  const std::vector<std::string>& columns_;
  double grad_accum_;
  at::Tensor sums_;  // (1 + terms) float64 on the run's device
  std::vector<std::int64_t> reported_;
};

// One micro-batch `block` (B, T+1): the objective's loss and components, the regularisers'
// extra terms, and backward of the total over train.grad_accum. Returns the tokens it counted.
std::int64_t micro_batch(RunSetup& run, const at::Tensor& block, std::int64_t grad_accum, StepSums& sums) {
  Architecture& model = run.model();
  at::Tensor loss;
  LossOutput result;
  plugin_call(run.plugins.objective.info, "a training step", [&] {
    AutocastScope autocast(run.device, run.bf16);
    result = run.plugins.objective.plugin->compute(model, block);
    loss = result.loss;  // ()
    for (const auto& c : result.components) {
      if (!sums.add_term(c.name, c.value)) {
        throw Error(fmt::format("reported a loss component '{}' it does not declare (declared: {})", c.name,
                                fmt::join(run.columns, ", ")));
      }
    }
  });
  for (const RunRegulariser& r : run.plugins.regularisers) {
    if (!r.info.traits.hooks.extra_loss) continue;
    const at::Tensor extra = plugin_call(r.info, "extra_loss", [&] {
      AutocastScope autocast(run.device, run.bf16);
      return r.plugin->extra_loss(result, model);  // ()
    });
    if (!extra.defined()) continue;
    loss = loss + extra;  // ()
    sums.add_term(r.label, extra);
  }
  (loss / static_cast<double>(grad_accum)).backward();
  sums.add_loss(loss);
  return result.tokens;
}

// Global L2 norm of the gradients, before any regulariser touches them: one reduction and one
// device sync, and only on the steps that log it.
double gradient_norm(torch::nn::Module& model) {
  std::vector<at::Tensor> norms;
  for (const auto& p : model.parameters()) {
    if (p.grad().defined()) norms.push_back(p.grad().detach().to(at::kFloat).norm());  // ()
  }
  return norms.empty() ? 0.0 : at::stack(norms).norm().item<double>();
}

}  // namespace

StepResult train_step(RunSetup& run, const TrainSection& train, std::int64_t step, bool log_now) {
  StepResult r;
  r.step = step;
  r.log_now = log_now;
  r.lr = learning_rate(train, step);
  set_learning_rate(*run.optimizer, r.lr);
  run.optimizer->zero_grad();
  StepSums sums(run.columns, train.grad_accum, run.device);
  distributed::DataParallel* parallel = run.parallel.get();
  const std::int64_t ranks = parallel ? parallel->size() : 1;
  for (std::int64_t micro = 0; micro < train.grad_accum; ++micro) {
    // Every rank draws the same global micro-batch and keeps its own rows of it, so the rows a
    // step trains on do not depend on how many ranks share them.
    const at::Tensor rows = run.sampler.next(train.batch_size * ranks);  // (ranks x B, T+1)
    r.block = (parallel ? parallel->share(rows) : rows).to(run.device);  // (B, T+1)
    if (parallel) parallel->before_backward(micro + 1 == train.grad_accum);
    r.tokens += micro_batch(run, r.block, train.grad_accum, sums);
  }
  if (parallel) {
    parallel->average_gradients();
    r.stop = stop_requested();
    sums.sum_over_ranks(*parallel, r.tokens, r.stop);
  }
  r.loss = sums.to_host(r.terms);
  if (!std::isfinite(r.loss)) throw Error(fmt::format("loss became {} at step {}", r.loss, step));
  Architecture& model = run.model();
  r.grad_norm = log_now ? gradient_norm(model) : 0.0;
  const StepInfo info = r.info();
  call_hooks(run.plugins.regularisers, &HookPoints::before_step, "before_step",
             [&](const RunRegulariser& reg) { reg.plugin->before_step(model, info); });
  // With a sharded optimizer ([distributed] shard_optimizer) each rank updates its share of the
  // parameters and broadcasts them, so the after_step hooks see the whole updated model.
  if (parallel) parallel->step(*run.optimizer);
  else run.optimizer->step();
  call_hooks(run.plugins.regularisers, &HookPoints::after_step, "after_step",
             [&](const RunRegulariser& reg) { reg.plugin->after_step(model, info); });
  return r;
}

}  // namespace lmlab
