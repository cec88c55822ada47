#include "training/fused_adamw.hpp"

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace lmlab {

namespace {

// Elements per task on the intra-op threads: a few hundred KiB of each of the four arrays.
constexpr std::int64_t grain = 1 << 15;

bool single_pass(const at::Tensor& p, const torch::optim::AdamWOptions& options) {
  const auto dense_float = [](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.layout() == at::kStrided && t.is_contiguous();
  };
  if (options.amsgrad() || !dense_float(p)) return false;
  return !p.grad().defined() || dense_float(p.grad());
}

struct Coefficients {
  float decay;          // 1 - lr * weight_decay
  float beta1, rest1;   // beta1, 1 - beta1
  float beta2, rest2;   // beta2, 1 - beta2
  float root_bc2;       // sqrt(1 - beta2^step)
  float eps;
  float neg_step_size;  // -lr / (1 - beta1^step)
};

// p, m, v updated in place from g: AdamW::step's nine operations in their order, per element.
void update(float* p, float* m, float* v, const float* g, std::int64_t n, const Coefficients& c) {
  at::parallel_for(0, n, grain, [&](std::int64_t begin, std::int64_t end) {
#pragma omp simd
    for (std::int64_t i = begin; i < end; ++i) {
      const float decayed = p[i] * c.decay;                                 // p.mul_(1 - lr wd)
      const float mi = m[i] * c.beta1 + c.rest1 * g[i];                     // exp_avg.mul_(b1).add_(g, 1 - b1)
      const float vi = v[i] * c.beta2 + c.rest2 * g[i] * g[i];              // exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)
      const float denom = std::sqrt(vi) / c.root_bc2 + c.eps;              // (sqrt(v) / sqrt(bc2)).add_(eps)
      p[i] = decayed + (c.neg_step_size * mi) / denom;                      // p.addcdiv_(m, denom, -step_size)
      m[i] = mi;
      v[i] = vi;
    }
  });
}

// A template, so that only the branch of the LibTorch at hand is compiled.
template <typename Key>
Key fused_adamw_key(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << static_cast<void*>(p.unsafeGetTensorImpl());
    return key.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

}  // namespace

OptimizerStateKey optimizer_state_key(const at::Tensor& p) { return fused_adamw_key<OptimizerStateKey>(p); }

bool FusedAdamW::fused() const {
  for (const auto& group : param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (const auto& p : group.params()) {
      if (!single_pass(p, options)) return false;
    }
  }
  return true;
}

at::Tensor FusedAdamW::step(LossClosure closure) {
  if (!fused()) return torch::optim::AdamW::step(std::move(closure));
  at::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  at::NoGradGuard no_grad;
  auto& states = state();
  for (auto& group : param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const auto [beta1, beta2] = options.betas();
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto key = optimizer_state_key(p);
      if (states.find(key) == states.end()) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(at::zeros_like(p, at::MemoryFormat::Contiguous));
        fresh->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Contiguous));
        states[key] = std::move(fresh);
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*states[key]);
      // A state loaded from a checkpoint may be laid out otherwise; the pass needs it dense.
      if (!s.exp_avg().is_contiguous()) s.exp_avg(s.exp_avg().contiguous());
      if (!s.exp_avg_sq().is_contiguous()) s.exp_avg_sq(s.exp_avg_sq().contiguous());
      s.step(s.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, s.step());
      const double bias_correction2 = 1 - std::pow(beta2, s.step());
      const Coefficients c{static_cast<float>(options.weight_decay() != 0 ? 1 - options.lr() * options.weight_decay() : 1),
                           static_cast<float>(beta1), static_cast<float>(1 - beta1),
                           static_cast<float>(beta2), static_cast<float>(1 - beta2),
                           static_cast<float>(std::sqrt(bias_correction2)), static_cast<float>(options.eps()),
                           static_cast<float>(-(options.lr() / bias_correction1))};
      update(p.data_ptr<float>(), s.exp_avg().data_ptr<float>(), s.exp_avg_sq().data_ptr<float>(),
             p.grad().data_ptr<float>(), p.numel(), c);
    }
  }
  return loss;
}

}  // namespace lmlab
