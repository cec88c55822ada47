#include "lmlab/nn/linear.hpp"

#include <atomic>

#include <ATen/ATen.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/modules/linear.h>

#include "nn/cpu_autocast.hpp"
#include "nn/cpu_bf16_products.hpp"
#include "nn/cpu_float32_products.hpp"
#include "nn/cpu_thin_products.hpp"
#include "nn/onednn_bf16_linear.hpp"
#include "nn/rounded_weights.hpp"

namespace lmlab::nn {

namespace {

std::atomic<CpuBf16Products> g_cpu_bf16_products{CpuBf16Products::bf16_kernels};
std::atomic<CpuBf16Products> g_cpu_bf16_decoding_products{CpuBf16Products::float32_kernels};

at::Tensor rounded(const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kFloat); }

// A decoding step's product on bf16 kernels, with the generation's cached bf16 weights: from 2
// to thin_product_max_rows rows. A single row is a matrix-vector product, which the float32 path
// spreads over the intra-op threads (thin_product) and oneDNN's bf16 GEMM does not: 1,278 against
// 836 tokens/s at batch 1 (docs/performance.md).
bool decoding_step_on_bf16_kernels(const at::Tensor& x) {
  if (cpu_bf16_decoding_products() != CpuBf16Products::bf16_kernels || !rounded_weight_scope_open()) return false;
  if (x.dim() < 1 || x.numel() == 0) return false;
  const std::int64_t rows = x.numel() / x.size(-1);
  return rows >= 2 && rows <= thin_product_max_rows;
}

// Autocast's bf16 product computed on float32 kernels (see linear.hpp). Keeps the rounded
// operands in bf16 for the backward pass, as autocast does. No bias is an empty tensor: an
// undefined one cannot be a custom function's input in LibTorch 1.13.
class Bf16ProductOnFloat32 : public torch::autograd::Function<Bf16ProductOnFloat32> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const at::Tensor x16 = x.to(at::kBFloat16), w16 = weight.to(at::kBFloat16);  // (..., C_in), (C_out, C_in)
    ctx->save_for_backward({x16, w16});
    ctx->saved_data["dtypes"] = std::vector<std::int64_t>{static_cast<std::int64_t>(x.scalar_type()),
                                                           static_cast<std::int64_t>(weight.scalar_type()),
                                                           bias.numel() > 0 ? static_cast<std::int64_t>(bias.scalar_type()) : -1};
    const at::Tensor b = bias.numel() > 0 ? rounded(bias) : at::Tensor();  // (C_out) or undefined
    const at::Tensor x32 = x16.to(at::kFloat), w32 = w16.to(at::kFloat);  // (..., C_in), (C_out, C_in)
    const at::Tensor y = onednn_linear_applies(x32, w32, b) ? onednn_linear(x32, w32, b)
                                                            : at::linear(x32, w32, b);  // (..., C_out) float32
    return y.to(at::kBFloat16);                                                // (..., C_out)
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // A backward pass started inside an autocast scope must not recast these products either.
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const auto saved = ctx->get_saved_variables();
    const auto dtypes = ctx->saved_data["dtypes"].toIntVector();
    const auto as = [&](const at::Tensor& t, std::size_t i) {
      return t.to(at::kBFloat16).to(static_cast<at::ScalarType>(dtypes[i]));  // rounded as autocast's gradients
    };
    const at::Tensor x = saved[0].to(at::kFloat), w = saved[1].to(at::kFloat);  // (..., C_in), (C_out, C_in)
    const at::Tensor dy = grads[0].to(at::kFloat);                               // (..., C_out)
    const at::Tensor dy2 = dy.reshape({-1, dy.size(-1)});                        // (N, C_out)
    const at::Tensor dx = float32_mm(dy2, false, w, false).view(x.sizes());     // (..., C_in)
    const at::Tensor dw = float32_mm(dy2, true, x.reshape({-1, x.size(-1)}), false);  // (C_out, C_in)
    const at::Tensor db = dtypes[2] >= 0 ? as(dy2.sum(0), 2) : at::Tensor();     // (C_out)
    return {as(dx, 0), as(dw, 1), db};
  }
};

}  // namespace

CpuBf16Products cpu_bf16_products() { return g_cpu_bf16_products.load(); }

void set_cpu_bf16_products(CpuBf16Products products) { g_cpu_bf16_products.store(products); }

CpuBf16Products cpu_bf16_decoding_products() { return g_cpu_bf16_decoding_products.load(); }

void set_cpu_bf16_decoding_products(CpuBf16Products products) { g_cpu_bf16_decoding_products.store(products); }

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  // Autocast leaves float64 alone, and so does this path.
  const auto castable = [](const at::Tensor& t) {
    return t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16;
  };
  if (x.device().is_cpu() && cpu_bf16_products() == CpuBf16Products::float32_kernels && cpu_bf16_autocast_enabled() &&
      castable(x) && castable(weight)) {
    if (!at::GradMode::is_enabled()) {
      // Nothing to save for a backward pass; while generating, the rounded weights are cached.
      c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
      if (decoding_step_on_bf16_kernels(x)) {
        const at::Tensor x16 = x.to(at::kBFloat16), w16 = bf16_weight(weight);     // (..., C_in), (C_out, C_in)
        const at::Tensor b16 = bias.defined() ? bf16_weight(bias) : at::Tensor();  // (C_out) or undefined
        return onednn_bf16_linear_applies(x16, w16, b16) ? onednn_bf16_linear(x16, w16, b16)
                                                         : at::linear(x16, w16, b16);  // (..., C_out) bf16
      }
      const at::Tensor x32 = rounded(x);                                       // (..., C_in) float32
      const at::Tensor w32 = rounded_weight(weight);                           // (C_out, C_in) float32
      const at::Tensor b32 = bias.defined() ? rounded(bias) : at::Tensor();  // (C_out) or undefined
      const at::Tensor y = thin_product_applies(x32, w32, b32) ? thin_product(x32, w32, b32)
                                                               : at::linear(x32, w32, b32);  // (..., C_out)
      return y.to(at::kBFloat16);                                             // (..., C_out)
    }
    const at::Tensor no_bias = bias.defined() ? bias : at::empty({0}, weight.options());
    return Bf16ProductOnFloat32::apply(x, weight, no_bias);  // (..., C_out) bf16
  }
  if (thin_product_applies(x, weight, bias)) return thin_product(x, weight, bias);  // (..., C_out)
  // Training's products only: oneDNN compiles its kernels at its first call (~30 ms here), which a
  // generation's few small products would pay for nothing. Under autocast at::linear's dispatch
  // recasts the operands; the oneDNN path would not.
  const bool records_gradient = at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
  if (records_gradient && !cpu_autocast_enabled() && onednn_linear_applies(x, weight, bias)) {
    return onednn_linear(x, weight, bias);  // (..., C_out)
  }
  return at::linear(x, weight, bias);  // (..., C_out)
}

at::Tensor linear(const at::Tensor& x, const torch::nn::LinearImpl& layer) {
  return nn::linear(x, layer.weight, layer.bias);  // (..., C_out)
}

}  // namespace lmlab::nn
