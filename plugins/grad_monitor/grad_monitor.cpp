// Per-layer training diagnostics: on the steps it measures, for each layer, the L2 norm of its
// gradients, the L2 norm of its weights, the relative size of the optimizer's update
// ||w_after - w_before|| / ||w_before||, and the RMS of the layer's output activations. They
// show where a deep stack's gradients vanish or explode (Xiong et al. 2020 trace post-norm's
// need for warm-up to large gradients near the output) and whether the updates are of a sane
// size (around 1e-3 of the weights per step is the usual rule of thumb).
//
// A layer is a group of parameters by name: a name with a numeric component belongs to the
// group up to and including it (blocks.3.ffn.fc.weight -> blocks.3, encoder.0.… -> encoder.0);
// any other to the group of its first component (embeddings, final_norm, head, pooler, ...).
// The numbered groups, in the order their parameters come, are matched one to one with
// ModelOutput::layers (the encoder's blocks first, then the decoder's), which give act_rms;
// other groups get NaN there.
//
// When: before_step (gradients and weights, and a copy of the weights), after_step (the
// update, and one extra forward for the activations), log (the rows). The gradients and
// weights are what the regularisers listed before grad_monitor left: after grad_clip they
// are the clipped gradients, after weight_decay the update excludes the decay.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "lmlab/plugin.hpp"
#include "lmlab/regulariser.hpp"

namespace {

struct GradMonitorOptions {
  std::int64_t every = 0;
};

lmlab::OptionSet<GradMonitorOptions> options() {
  return lmlab::OptionSet<GradMonitorOptions>{}.add(
      "every", &GradMonitorOptions::every,
      "measure every N steps (rows are written at the trainer's next log step); 0: on the trainer's log steps",
      {.min = 0.0});
}

struct LayerName {
  std::string name;
  bool numbered = false;  // a block of a stack, whose output ModelOutput::layers holds
};

/// The layer a parameter name belongs to (see the header comment).
LayerName layer_of(const std::string& name) {
  for (std::size_t start = 0; start < name.size();) {
    const std::size_t end = std::min(name.find('.', start), name.size());
    const std::string part = name.substr(start, end - start);
    if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos) return {name.substr(0, end), true};
    start = end + 1;
  }
  return {name.substr(0, name.find('.')), false};
}

struct Layer {
  std::string name;
  bool numbered = false;
  std::vector<at::Tensor> params;  // each a parameter of the model, shared
  std::vector<at::Tensor> before;  // their values before the step, on measured steps only
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class GradMonitor final : public lmlab::Regulariser {
 public:
  explicit GradMonitor(GradMonitorOptions o) : o_(o) {}

  void before_step(lmlab::Architecture& model, const lmlab::StepInfo& step) override {
    measuring_ = o_.every > 0 ? step.step % o_.every == 0 : step.log_now;
    if (!measuring_) return;
    if (layers_.empty()) group(model);
    torch::NoGradGuard no_grad;
    // Summed on the device, one () per layer, and brought to the host in one transfer.
    std::vector<at::Tensor> grad_sq, weight_sq;
    std::vector<double> has_grad;
    for (auto& layer : layers_) {
      std::vector<at::Tensor> g, w;  // one () per parameter
      layer.before.clear();
      for (const auto& p : layer.params) {
        w.push_back(p.detach().to(at::kDouble).square().sum());  // ()
        if (p.grad().defined()) g.push_back(p.grad().detach().to(at::kDouble).square().sum());  // ()
        layer.before.push_back(p.detach().clone());  // same shape as p
      }
      weight_sq.push_back(at::stack(w).sum());  // ()
      grad_sq.push_back(g.empty() ? at::zeros({}, w.front().options()) : at::stack(g).sum());  // ()
      // A layer none of whose parameters got a gradient (an unused pooler) reports NaN, not 0.
      has_grad.push_back(g.empty() ? kNaN : 1.0);
    }
    grad_norm_ = at::stack(grad_sq).sqrt().cpu() * at::tensor(has_grad, at::kDouble);  // (G)
    weight_norm_ = at::stack(weight_sq).sqrt().cpu();                                 // (G)
  }

  void after_step(lmlab::Architecture& model, const lmlab::StepInfo& step) override {
    if (!measuring_) return;
    measuring_ = false;
    std::vector<at::Tensor> delta_sq;  // one () per layer
    {
      torch::NoGradGuard no_grad;
      for (auto& layer : layers_) {
        std::vector<at::Tensor> d;  // one () per parameter
        for (std::size_t i = 0; i < layer.params.size(); ++i) {
          d.push_back((layer.params[i].detach().to(at::kDouble) - layer.before[i].to(at::kDouble)).square().sum());  // ()
        }
        delta_sq.push_back(at::stack(d).sum());  // ()
        layer.before.clear();  // the copy is a model's worth of memory: free it now
      }
    }
    const at::Tensor update_ratio = at::stack(delta_sq).sqrt().cpu() / weight_norm_;  // (G)
    const std::vector<double> act_rms = activation_rms(model, step);
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const auto i = static_cast<std::int64_t>(l);
      pending_.push_back({{"step", step.step},
                          {"layer", layers_[l].name},
                          {"grad_norm", grad_norm_[i].item<double>()},
                          {"weight_norm", weight_norm_[i].item<double>()},
                          {"update_ratio", update_ratio[i].item<double>()},
                          {"act_rms", act_rms[l]}});
    }
  }

  /// Writes the rows measured since the last log step (with every = 0, this step's).
  void log(lmlab::Architecture&, const lmlab::StepInfo&, lmlab::RegulariserLog& out) override {
    for (const auto& row : pending_) out.append(row);
    pending_.clear();
  }

 private:
  /// Groups the parameters by layer, in the order named_parameters gives them; a tensor
  /// registered twice (a tied weight) counts once, in the first name's layer.
  void group(lmlab::Architecture& model) {
    std::unordered_map<std::string, std::size_t> index;
    std::unordered_set<const void*> seen;
    for (const auto& item : model.named_parameters()) {
      if (!seen.insert(item.value().unsafeGetTensorImpl()).second) continue;
      const LayerName layer = layer_of(item.key());
      auto [found, added] = index.emplace(layer.name, layers_.size());
      if (added) layers_.push_back({layer.name, layer.numbered, {}, {}});
      layers_[found->second].params.push_back(item.value());
    }
  }

  /// One no-grad forward of the step's block, in eval mode (no dropout: it draws nothing from
  /// the generators training uses, so monitoring cannot change the run), as the objective's
  /// causal reading of the first T tokens. NaN for layers without an output, and for all when
  /// the model's layer outputs do not pair one to one with the numbered layers.
  std::vector<double> activation_rms(lmlab::Architecture& model, const lmlab::StepInfo& step) {
    std::vector<double> rms(layers_.size(), kNaN);
    if (step.block == nullptr || !step.block->defined() || step.block->size(1) < 2) return rms;
    const at::Tensor tokens = step.block->narrow(1, 0, step.block->size(1) - 1);  // (B, T)
    lmlab::ModelInput input;
    input.tokens = tokens;
    if (model.capabilities().has_encoder) input.encoder_tokens = tokens;
    input.return_layers = true;
    const bool training = model.is_training();
    model.eval();
    std::vector<at::Tensor> outputs;
    {
      torch::NoGradGuard no_grad;
      outputs = model.forward(input).layers;  // each (B, T, C)
    }
    model.train(training);
    std::vector<std::size_t> numbered;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      if (layers_[l].numbered) numbered.push_back(l);
    }
    if (outputs.empty() || outputs.size() != numbered.size()) return rms;
    std::vector<at::Tensor> values;  // one () per layer output
    for (const auto& x : outputs) values.push_back(x.to(at::kDouble).square().mean().sqrt());  // ()
    const at::Tensor host = at::stack(values).cpu();  // (L)
    for (std::size_t k = 0; k < numbered.size(); ++k) rms[numbered[k]] = host[static_cast<std::int64_t>(k)].item<double>();
    return rms;
  }

  GradMonitorOptions o_;
  std::vector<Layer> layers_;
  bool measuring_ = false;
  at::Tensor grad_norm_, weight_norm_;  // (G), (G) on the host, of the step being measured
  std::vector<lmlab::LogRow> pending_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Regulariser>(
      "grad_monitor",
      "per-layer gradient norm, weight norm, update-to-weight ratio and activation RMS, logged to /grad_monitor",
      options(), [](const GradMonitorOptions& o, const lmlab::RegulariserContext&) { return std::make_shared<GradMonitor>(o); },
      {.hooks = {.before_step = true, .after_step = true, .log = true}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
