#include <atomic>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "nn/cpu_float32_products.hpp"
#include "nn/cpu_onednn.hpp"

namespace lmlab::nn {

namespace {

std::atomic<CpuFloat32Products> g_cpu_float32_products{CpuFloat32Products::libtorch};

// C = op(A) op(B) for row-major dense float32 tensors; C (m, n) written whole.
void onednn_product(bool trans_a, bool trans_b, const at::Tensor& a, const at::Tensor& b, at::Tensor& c,
                    float beta = 0.0f) {
  const std::int64_t m = c.size(0), n = c.size(1), k = trans_a ? a.size(0) : a.size(1);
  onednn_gemm_rows(trans_a, trans_b, m, n, k, 1.0f, a.data_ptr<float>(), a.size(1), b.data_ptr<float>(), b.size(1),
                   beta, c.data_ptr<float>(), n);
}

std::vector<std::int64_t> onednn_output_shape(const at::Tensor& x, const at::Tensor& w) {
  std::vector<std::int64_t> shape = x.sizes().vec();
  shape.back() = w.size(0);
  return shape;
}

// The input's shape (..., C_in), from its gradient's (..., C_out) and the saved x2 (N, C_in).
std::vector<std::int64_t> x_shape_of(const at::Tensor& grad, const at::Tensor& x2) {
  std::vector<std::int64_t> shape = grad.sizes().vec();
  shape.back() = x2.size(1);
  return shape;
}

// The forward product, x2 (N, C_in) by w (C_out, C_in), into a new tensor of `shape` (..., C_out):
// made in that shape, not a view of a 2-D result, since a view returned by a custom function
// could not be modified in place afterwards. `bias` empty for none (an undefined tensor cannot be
// a custom function's input in LibTorch 1.13).
at::Tensor onednn_forward(const at::Tensor& x2, const at::Tensor& w, const at::Tensor& bias,
                          const std::vector<std::int64_t>& shape) {
  const bool biased = bias.numel() > 0;
  const at::Tensor y = at::empty(shape, x2.options());                 // (..., C_out)
  at::Tensor y2 = y.view({x2.size(0), w.size(0)});                     // (N, C_out), y's memory
  // Starting from the bias and adding the product (beta 1) spares a second pass over y. A copy,
  // never the expanded view's contiguous(): with one row that view counts as contiguous and is
  // the bias itself, which the product would then be added into.
  if (biased) y2.copy_(bias);                                          // (N, C_out), every row the bias
  onednn_product(false, true, x2, w, y2, biased ? 1.0f : 0.0f);        // (N, C_out) += (N, C_in) (C_in, C_out)
  return y;
}

class OnednnLinear : public torch::autograd::Function<OnednnLinear> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
    const at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();  // (N, C_in)
    const at::Tensor w = weight.contiguous();                         // (C_out, C_in)
    ctx->save_for_backward({x2, w});
    ctx->saved_data["biased"] = bias.numel() > 0;
    return onednn_forward(x2, w, bias, onednn_output_shape(x, w));  // (..., C_out)
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x2 = saved[0];  // (N, C_in)
    const at::Tensor& w = saved[1];   // (C_out, C_in)
    const at::Tensor dy2 = grads[0].reshape({-1, w.size(0)}).contiguous().to(at::kFloat);  // (N, C_out)
    at::Tensor dx, dw, db;
    if (at::GradMode::is_enabled()) {
      // A backward that builds its own graph (create_graph): differentiable products instead.
      if (ctx->needs_input_grad(0)) dx = at::mm(dy2, w).view(x_shape_of(grads[0], x2));  // (..., C_in)
      if (ctx->needs_input_grad(1)) dw = at::mm(dy2.t(), x2);                             // (C_out, C_in)
      if (ctx->needs_input_grad(2) && ctx->saved_data["biased"].toBool()) db = dy2.sum(0);  // (C_out)
      return {dx, dw, db};
    }
    if (ctx->needs_input_grad(0)) {
      dx = at::empty(x_shape_of(grads[0], x2), x2.options());  // (..., C_in)
      at::Tensor dx2 = dx.view({x2.size(0), x2.size(1)});      // (N, C_in), dx's memory
      onednn_product(false, false, dy2, w, dx2);                // (N, C_in) = (N, C_out) (C_out, C_in)
    }
    if (ctx->needs_input_grad(1)) {
      dw = at::empty({w.size(0), w.size(1)}, w.options());  // (C_out, C_in)
      onednn_product(true, false, dy2, x2, dw);              // (C_out, C_in) = (C_out, N) (N, C_in)
    }
    if (ctx->needs_input_grad(2) && ctx->saved_data["biased"].toBool()) db = dy2.sum(0);  // (C_out)
    return {dx, dw, db};
  }
};

}  // namespace

CpuFloat32Products cpu_float32_products() { return g_cpu_float32_products.load(); }

void set_cpu_float32_products(CpuFloat32Products products) { g_cpu_float32_products.store(products); }

bool onednn_linear_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (cpu_float32_products() != CpuFloat32Products::onednn || !onednn_built()) return false;
  const auto dense_float = [](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.layout() == at::kStrided;
  };
  if (!dense_float(x) || !dense_float(weight) || (bias.defined() && !dense_float(bias))) return false;
  // No empty product either: oneDNN refuses a leading dimension of 0.
  return x.dim() >= 1 && x.numel() > 0 && weight.dim() == 2 && weight.numel() > 0 && x.size(-1) == weight.size(1);
}

at::Tensor float32_mm(const at::Tensor& a, bool trans_a, const at::Tensor& b, bool trans_b) {
  if (cpu_float32_products() != CpuFloat32Products::onednn || !onednn_built()) {
    return at::mm(trans_a ? a.t() : a, trans_b ? b.t() : b);  // (m, n)
  }
  const at::Tensor a2 = a.contiguous(), b2 = b.contiguous();   // stored (m, k) or (k, m); (k, n) or (n, k)
  at::Tensor c = at::empty({trans_a ? a2.size(1) : a2.size(0), trans_b ? b2.size(0) : b2.size(1)},
                           a2.options());  // (m, n)
  onednn_product(trans_a, trans_b, a2, b2, c);  // (m, n)
  return c;
}

at::Tensor onednn_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const at::Tensor no_bias = bias.defined() ? bias : at::empty({0}, weight.options());
  if (at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() || no_bias.requires_grad())) {
    return OnednnLinear::apply(x, weight, no_bias);  // (..., C_out)
  }
  const at::Tensor x2 = x.reshape({-1, x.size(-1)}).contiguous();                      // (N, C_in)
  return onednn_forward(x2, weight.contiguous(), no_bias, onednn_output_shape(x, weight));  // (..., C_out)
}

}  // namespace lmlab::nn
