// Decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"), as
// AdamW applies it, with the parameters chosen by name: before each optimizer step,
//   p <- p - lr * rate * p
// for every parameter the patterns select, lr being this step's learning rate. LibTorch's AdamW
// shrinks a parameter the same way (p *= 1 - lr * weight_decay) before its Adam update, which
// does not read p, so this plugin followed by AdamW(weight_decay = 0) takes AdamW's steps.
// Unlike train.weight_decay, which decays weight matrices and (optionally) embeddings, norms and
// biases, the groups here are glob patterns over parameter names: say, decay the attention and
// MLP matrices but not the output head.
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "lmlab/plugin.hpp"
#include "lmlab/regulariser.hpp"

namespace {

struct WeightDecayOptions {
  double rate = 0.1;
  // The built-in families name their parameters embeddings.tokens.weight, blocks.3.ffn.fc.bias,
  // blocks.3.attention_norm.weight, final_norm.weight, relative_bias.table.weight,
  // encoder_embeddings..., encoder_norm..., head.weight; these defaults leave out what
  // train.weight_decay leaves out by default: embeddings (position tables and the relative
  // bias table too), norms and biases.
  std::vector<std::string> exclude = {"*bias", "*norm*", "*embeddings*", "*relative_bias*"};
  std::vector<std::string> include = {};
};

lmlab::OptionSet<WeightDecayOptions> options() {
  using O = WeightDecayOptions;
  return lmlab::OptionSet<O>{}
      .add("rate", &O::rate, "decay per unit learning rate: p <- p - lr * rate * p each step", {.min = 0.0})
      .add("exclude", &O::exclude,
           "glob patterns ('*' any run of characters, dots included; '?' one character) over parameter names; "
           "a matching parameter is not decayed")
      .add("include", &O::include, "glob patterns whose parameters are decayed even when `exclude` matches them");
}

/// Whether `name` matches `pattern` as a whole, '*' standing for any run of characters (dots
/// included, so "*bias" matches blocks.0.ffn.fc.bias) and '?' for one character. Backtracks to
/// the last '*' on a mismatch, which is enough for '*' and '?' and linear in practice.
bool glob_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool any_match(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& pattern : patterns) {
    if (glob_match(pattern, name)) return true;
  }
  return false;
}

class WeightDecay final : public lmlab::Regulariser {
 public:
  explicit WeightDecay(WeightDecayOptions o) : o_(std::move(o)) {}

  void before_step(lmlab::Architecture& model, const lmlab::StepInfo& step) override {
    if (!chosen_) choose(model);
    const double factor = 1.0 - step.lr * o_.rate;
    torch::NoGradGuard no_grad;
    for (auto& p : decayed_) {
      // As AdamW: a parameter with no gradient this step is not trained, so not decayed either.
      if (p.grad().defined()) p.mul_(factor);  // same shape as p
    }
  }

  /// The first call writes which parameters are decayed, one row each; later calls write nothing.
  void log(lmlab::Architecture& model, const lmlab::StepInfo& step, lmlab::RegulariserLog& out) override {
    if (logged_) return;
    if (!chosen_) choose(model);
    for (const auto& [name, decayed] : decisions_) {
      out.append({{"step", step.step},
                  {"parameter", name},
                  {"decayed", static_cast<std::int64_t>(decayed ? 1 : 0)},
                  {"rate", decayed ? o_.rate : 0.0}});
    }
    logged_ = true;
  }

 private:
  /// Decides once, from the names, which parameters decay; a tensor registered under two names
  /// (a tied weight) is decided by its first name and decayed once.
  void choose(lmlab::Architecture& model) {
    std::unordered_set<const void*> seen;
    for (const auto& item : model.named_parameters()) {
      const at::Tensor& p = item.value();
      if (!p.requires_grad() || !seen.insert(p.unsafeGetTensorImpl()).second) continue;
      const bool decayed = any_match(o_.include, item.key()) || !any_match(o_.exclude, item.key());
      decisions_.emplace_back(item.key(), decayed);
      if (decayed) decayed_.push_back(p);
    }
    chosen_ = true;
  }

  WeightDecayOptions o_;
  bool chosen_ = false, logged_ = false;
  std::vector<std::pair<std::string, bool>> decisions_;
  std::vector<at::Tensor> decayed_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Regulariser>(
      "weight_decay",
      "decoupled weight decay (AdamW's, p <- p - lr * rate * p) on the parameters chosen by name patterns",
      options(),
      [](const WeightDecayOptions& o, const lmlab::RegulariserContext& context) {
        // Two decays at once would shrink the weight matrices twice as fast as either says.
        if (context.optimizer_weight_decay > 0) {
          throw std::invalid_argument(fmt::format(
              "weight_decay decays the parameters itself, but the optimizer decays them too "
              "(train.weight_decay = {}): set train.weight_decay = 0",
              context.optimizer_weight_decay));
        }
        return std::make_shared<WeightDecay>(o);
      },
      {.hooks = {.before_step = true, .log = true}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
