// Multi-task training (Raffel et al. 2020, section 3.5.2): a weighted mixture of named objectives,
// the tasks, each configured in [objective.<task>] and built by the host. "sum" trains every task
// on every block and minimises the weighted mean of their losses; "sample" draws one task per
// block with probability w_i / sum w, so that in expectation the gradient is the same mixture at
// the cost of one task's forward pass. Each task's loss, and its own components, are logged apart.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct MultitaskOptions {
  std::vector<std::string> tasks;
  std::vector<double> weights;
  std::string mixing = "sum";
};

lmlab::OptionSet<MultitaskOptions> options() {
  using O = MultitaskOptions;
  return lmlab::OptionSet<O>{}
      .add("tasks", &O::tasks,
           "the objectives mixed, in order; each is configured in [objective.<task>] and must suit the architecture")
      .add("weights", &O::weights, "one weight per task (empty: all 1.0); sum: the loss is sum w_i L_i / sum w_i, "
                                   "sample: task i is drawn with probability w_i / sum w",
           {.min = 0.0})
      .add("mixing", &O::mixing,
           "sum: every task on every block; sample: one task per block (training only; evaluation runs every task)",
           {"sum", "sample"})
      // Checked at validation as well as at construction, so that `lmlab validate` reports it.
      .check("weights must list one weight per task, or none for equal weights",
             [](const O& o) { return o.weights.empty() || o.tasks.empty() || o.weights.size() == o.tasks.size(); })
      .check("weights must not all be 0", [](const O& o) {
        return o.weights.empty() || std::any_of(o.weights.begin(), o.weights.end(), [](double w) { return w > 0.0; });
      });
}

class Multitask final : public lmlab::Objective {
 public:
  Multitask(std::vector<lmlab::NamedObjective> tasks, std::vector<double> weights, bool sample)
      : tasks_(std::move(tasks)), weights_(std::move(weights)), sample_(sample) {
    weight_sum_ = std::accumulate(weights_.begin(), weights_.end(), 0.0);
    // On the CPU whatever the model's device: the draw is one number, and LibTorch's default CPU
    // generator is the one checkpoints carry, so a resumed run draws the same tasks.
    probabilities_ = at::tensor(weights_, at::kDouble) / weight_sum_;  // (K)
    // The tasks' own components are fixed when they are built; asked once here, not every step.
    for (const auto& task : tasks_) {
      names_.push_back(task.name);
      task_components_.push_back(task.objective->components());
      for (const auto& c : task_components_.back()) names_.push_back(fmt::format("{}.{}", task.name, c));
    }
  }

  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    // Evaluation covers every task whatever the mixing, so that validation does not depend on
    // which tasks happened to be drawn.
    std::vector<std::size_t> chosen(tasks_.size());
    std::iota(chosen.begin(), chosen.end(), std::size_t{0});
    const bool sampled = sample_ && model.is_training();
    if (sampled) chosen = {static_cast<std::size_t>(at::multinomial(probabilities_, 1).item<std::int64_t>())};

    lmlab::LossOutput out;
    at::Tensor weighted;  // () sum of w_i L_i over the tasks computed
    std::vector<at::Tensor> flat_logits, flat_targets;
    // Validation perplexity of a mixture is over all computed tasks' predicted tokens together:
    // nll_sum, tokens and correct are plain sums, so a task that predicts more tokens per block
    // counts for more there than its weight says.
    for (const std::size_t i : chosen) {
      const lmlab::NamedObjective& task = tasks_[i];
      const lmlab::LossOutput r = task.objective->compute(model, block);
      if (!r.loss.defined() || !r.nll_sum.defined() || !r.correct.defined()) {
        throw std::runtime_error(fmt::format("multitask: task '{}' returned no loss, nll_sum or correct", task.name));
      }
      weighted = weighted.defined() ? weighted + weights_[i] * r.loss : weights_[i] * r.loss;  // ()
      out.nll_sum = out.nll_sum.defined() ? out.nll_sum + r.nll_sum : r.nll_sum;  // ()
      out.correct = out.correct.defined() ? out.correct + r.correct : r.correct;  // ()
      out.tokens += r.tokens;
      out.components.push_back({task.name, r.loss.detach()});  // ()
      for (const auto& c : r.components) {
        const auto& declared = task_components_[i];
        if (std::find(declared.begin(), declared.end(), c.name) == declared.end()) {
          throw std::runtime_error(fmt::format("multitask: task '{}' reported a loss component '{}' it does not "
                                               "declare (declared: {})",
                                               task.name, c.name, fmt::join(declared, ", ")));
        }
        out.components.push_back({fmt::format("{}.{}", task.name, c.name), c.value});  // ()
      }
      // Regularisers that read logits (z-loss, label smoothing) see only the positions that
      // predict something; a task that does not say which those are gives none.
      if (!r.logits.defined() || !r.targets.defined()) continue;
      const at::Tensor logits = lmlab::at_least_float(r.logits);  // (B, T, V)
      if (logits.dim() < 2 || !r.targets.sizes().equals(logits.sizes().slice(0, logits.dim() - 1))) {
        throw std::runtime_error(fmt::format("multitask: task '{}' returned logits of shape {} and targets of shape {}",
                                             task.name, fmt::join(logits.sizes(), "x"),
                                             fmt::join(r.targets.sizes(), "x")));
      }
      const at::Tensor targets = r.targets.reshape({-1});                  // (B*T)
      const at::Tensor predicted = targets.ne(lmlab::ignore_index).nonzero().squeeze(1);  // (n_i)
      flat_logits.push_back(logits.reshape({targets.size(0), -1}).index_select(0, predicted));  // (n_i, V)
      flat_targets.push_back(targets.index_select(0, predicted));                              // (n_i)
    }

    // sum: the weighted mean of the tasks' mean losses; sample: the drawn task's own loss, whose
    // expectation over draws is that same weighted mean. A drawn task has w_i > 0, and the
    // options refuse weights that are all 0, so neither divides by 0.
    const double normaliser = sampled ? weights_[chosen.front()] : weight_sum_;
    out.loss = weighted / normaliser;  // ()
    if (!flat_logits.empty()) {
      const at::Tensor logits = at::cat(flat_logits, 0);    // (N, V)
      const at::Tensor targets = at::cat(flat_targets, 0);  // (N)
      if (logits.size(0) > 0) {
        out.logits = logits.unsqueeze(0);    // (1, N, V)
        out.targets = targets.unsqueeze(0);  // (1, N)
      }
    }
    return out;
  }

  std::vector<std::string> components() const override { return names_; }

 private:
  std::vector<lmlab::NamedObjective> tasks_;
  std::vector<double> weights_;
  bool sample_;
  double weight_sum_ = 0.0;
  at::Tensor probabilities_;  // (K) w_i / sum w, on the CPU
  std::vector<std::string> names_;
  std::vector<std::vector<std::string>> task_components_;
};

std::shared_ptr<lmlab::Objective> make(const MultitaskOptions& o, const lmlab::ObjectiveContext& context) {
  if (context.tasks.empty()) {
    throw std::invalid_argument(
        "multitask needs its tasks built by the host from `tasks` and [objective.<task>]; it was given none");
  }
  std::vector<std::string> built;
  for (const auto& t : context.tasks) {
    if (!t.objective) throw std::invalid_argument(fmt::format("multitask: task '{}' was not built", t.name));
    built.push_back(t.name);
  }
  if (!o.tasks.empty() && o.tasks != built) {
    throw std::invalid_argument(fmt::format("multitask: tasks = [{}] but the host built [{}]", fmt::join(o.tasks, ", "),
                                            fmt::join(built, ", ")));
  }
  std::vector<double> weights = o.weights;
  if (weights.empty()) weights.assign(context.tasks.size(), 1.0);
  if (weights.size() != context.tasks.size()) {
    throw std::invalid_argument(fmt::format("multitask: {} weights for {} tasks; give one per task, or none",
                                            weights.size(), context.tasks.size()));
  }
  return std::make_shared<Multitask>(context.tasks, std::move(weights), o.mixing == "sample");
}

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Objective>("multitask",
                          "a weighted mixture of the objectives in `tasks` (summed, or one sampled per step), each "
                          "logged as train/loss.<task>",
                          options(), make,
                          // No needs of its own: the host checks each task against the architecture.
                          {.composite = true});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
