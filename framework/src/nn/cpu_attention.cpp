#include "nn/cpu_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include "nn/cpu_blas.hpp"

#if defined(LMLAB_HAVE_CBLAS) && TORCH_VERSION_MAJOR < 2
#define LMLAB_CPU_ATTENTION 1
#endif

namespace lmlab::nn {

#ifdef LMLAB_CPU_ATTENTION
namespace {

// One head's rows of a (B, H, N, D) float tensor whose last dimension is dense.
struct HeadRows {
  float* data;
  std::int64_t ld;  // elements from one row to the next
  float* row(std::int64_t r) const { return data + r * ld; }
};

HeadRows head_rows(const at::Tensor& t, std::int64_t b, std::int64_t h) {
  // One row: its stride is arbitrary, and BLAS wants a leading dimension of at least D.
  const std::int64_t ld = t.size(2) == 1 ? t.size(3) : t.stride(2);
  return {t.data_ptr<float>() + b * t.stride(0) + h * t.stride(1), ld};
}

// A float32 tensor whose rows BLAS can read in place (dense rows, each at least D after the
// last): `t` itself when it is one already. An expanded gradient (stride 0) is copied.
at::Tensor dense_float(const at::Tensor& t) {
  at::Tensor f = t.to(at::kFloat);
  const bool rows_ok = f.stride(3) == 1 && (f.size(2) == 1 || f.stride(2) >= f.size(3));
  return rows_ok ? f : f.contiguous();
}

// (B, N, H, D) storage seen as (B, H, N, D): each head's rows are H * D apart, the layout the
// output projection reads without a copy.
at::Tensor heads_view(std::int64_t B, std::int64_t H, std::int64_t N, std::int64_t D) {
  return at::empty({B, N, H, D}, at::TensorOptions().dtype(at::kFloat)).permute({0, 2, 1, 3});  // (B, H, N, D)
}

// The blocks of query rows one head is cut into, and where each block's softmax lives in the
// head's slab of saved probabilities: (rows, keys) row-major, keys = the columns it sees.
struct Blocks {
  std::int64_t T, S, D, size;
  bool causal;
  float scale;
  std::vector<std::int64_t> offsets;  // per block, then the slab's total

  Blocks(std::int64_t T_, std::int64_t S_, std::int64_t D_, bool causal_)
      : T(T_), S(S_), D(D_), size(64), causal(causal_), scale(static_cast<float>(1.0 / std::sqrt(double(D_)))) {
    offsets.push_back(0);
    for (std::int64_t i = 0; i < count(); ++i) offsets.push_back(offsets.back() + rows(i) * keys(i));
  }
  std::int64_t count() const { return (T + size - 1) / size; }
  std::int64_t first(std::int64_t i) const { return i * size; }
  std::int64_t rows(std::int64_t i) const { return std::min(size, T - first(i)); }
  std::int64_t keys(std::int64_t i) const { return causal ? first(i) + rows(i) : S; }
  std::int64_t slab() const { return offsets.back(); }
};

// Softmax of one block's scores in place, hiding the keys after each row's own position when
// causal (only the block's last `rows` columns can be in a row's future).
void softmax_block(const Blocks& g, std::int64_t i, float* p) {
  const std::int64_t rows = g.rows(i), keys = g.keys(i), r0 = g.first(i);
  if (g.causal) {
    for (std::int64_t r = 0; r < rows; ++r) {
      std::fill(p + r * keys + r0 + r + 1, p + (r + 1) * keys, -std::numeric_limits<float>::infinity());
    }
  }
  at::Tensor s = at::from_blob(p, {rows, keys}, at::TensorOptions().dtype(at::kFloat));  // (rows, keys)
  at::_softmax_out(s, s, 1, false);  // (rows, keys): one pass per row, in place
}

void forward_head(const Blocks& g, HeadRows q, HeadRows k, HeadRows v, float* probs, HeadRows out) {
  for (std::int64_t i = 0; i < g.count(); ++i) {
    const std::int64_t r0 = g.first(i), rows = g.rows(i), keys = g.keys(i);
    float* p = probs + g.offsets[i];                                                        // (rows, keys)
    gemm_rows(false, true, rows, keys, g.D, g.scale, q.row(r0), q.ld, k.data, k.ld, 0.f, p, keys);  // q k^T / sqrt(D)
    softmax_block(g, i, p);
    gemm_rows(false, false, rows, g.D, keys, 1.f, p, keys, v.data, v.ld, 0.f, out.row(r0), out.ld);  // (rows, D)
  }
}

// The gradients of one head, blocks last to first: the last block sees every key, so its
// products initialise dK and dV (beta 0) and the earlier blocks add to their first rows.
// With P the softmax, O its output and dO the output's gradient:
//   dV = P^T dO,  dS = P * (dO V^T - rowsum(dO * O)) / sqrt(D),  dQ = dS K,  dK = dS^T Q.
void backward_head(const Blocks& g, HeadRows q, HeadRows k, HeadRows v, HeadRows out, HeadRows dout,
                   const float* probs, HeadRows dq, HeadRows dk, HeadRows dv) {
  std::vector<float> ds(static_cast<std::size_t>(g.size * g.S));
  for (std::int64_t i = g.count() - 1; i >= 0; --i) {
    const std::int64_t r0 = g.first(i), rows = g.rows(i), keys = g.keys(i);
    const float beta = i == g.count() - 1 ? 0.f : 1.f;
    const float* p = probs + g.offsets[i];  // (rows, keys)
    gemm_rows(true, false, keys, g.D, rows, 1.f, p, keys, dout.row(r0), dout.ld, beta, dv.data, dv.ld);  // dV
    gemm_rows(false, true, rows, keys, g.D, 1.f, dout.row(r0), dout.ld, v.data, v.ld, 0.f, ds.data(), keys);  // dP
    for (std::int64_t r = 0; r < rows; ++r) {
      float c = 0.f;  // rowsum(dP * P) = rowsum(dO * O)
      for (std::int64_t d = 0; d < g.D; ++d) c += dout.row(r0 + r)[d] * out.row(r0 + r)[d];
      float* ds_row = ds.data() + r * keys;
      const float* p_row = p + r * keys;
      for (std::int64_t j = 0; j < keys; ++j) ds_row[j] = p_row[j] * (ds_row[j] - c) * g.scale;
    }
    gemm_rows(false, false, rows, g.D, keys, 1.f, ds.data(), keys, k.data, k.ld, 0.f, dq.row(r0), dq.ld);  // dQ
    gemm_rows(true, false, keys, g.D, rows, 1.f, ds.data(), keys, q.row(r0), q.ld, beta, dk.data, dk.ld);  // dK
  }
}

// Runs `task(b, h)` for every (batch, head) pair: spread over the intra-op threads, or one after
// another when the BLAS threads each call itself.
template <typename Task>
void for_each_head(std::int64_t B, std::int64_t H, const Task& task) {
  if (blas_has_own_threads()) {
    for (std::int64_t bh = 0; bh < B * H; ++bh) task(bh / H, bh % H);
    return;
  }
  at::parallel_for(0, B * H, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t bh = begin; bh < end; ++bh) task(bh / H, bh % H);
  });
}

// The forward pass: `out` (B, H, T, D) float32 and each head's block softmaxes `probs`, which
// the backward pass reads.
struct Forward {
  at::Tensor q, k, v, out, probs;
};

Forward attention_forward(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in, bool causal) {
  Forward f{dense_float(q_in), dense_float(k_in), dense_float(v_in), {}, {}};  // (B, H, T|S, D)
  const std::int64_t B = f.q.size(0), H = f.q.size(1), T = f.q.size(2), S = f.k.size(2), D = f.q.size(3);
  const Blocks g(T, S, D, causal);
  f.probs = at::empty({B * H, g.slab()}, f.q.options());  // (B H, slab): each head's block softmaxes
  f.out = heads_view(B, H, T, D);                          // (B, H, T, D)
  for_each_head(B, H, [&](std::int64_t b, std::int64_t h) {
    forward_head(g, head_rows(f.q, b, h), head_rows(f.k, b, h), head_rows(f.v, b, h),
                 f.probs.data_ptr<float>() + (b * H + h) * g.slab(), head_rows(f.out, b, h));
  });
  return f;
}

class CpuAttentionFunction : public torch::autograd::Function<CpuAttentionFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in, bool causal) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const Forward f = attention_forward(q_in, k_in, v_in, causal);
    const at::Tensor &q = f.q, &k = f.k, &v = f.v, &out = f.out, &probs = f.probs;
    ctx->save_for_backward({q, k, v, out, probs});
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["dtypes"] = std::vector<std::int64_t>{static_cast<std::int64_t>(q_in.scalar_type()),
                                                           static_cast<std::int64_t>(k_in.scalar_type()),
                                                           static_cast<std::int64_t>(v_in.scalar_type())};
    return out.to(q_in.scalar_type());  // (B, H, T, D)
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &probs = saved[4];
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    const at::Tensor dout = dense_float(grads[0]);  // (B, H, T, D)
    const std::int64_t B = q.size(0), H = q.size(1), T = q.size(2), S = k.size(2), D = q.size(3);
    const Blocks g(T, S, D, ctx->saved_data["causal"].toBool());
    at::Tensor dq = heads_view(B, H, T, D);                                   // (B, H, T, D)
    at::Tensor dk = heads_view(B, H, S, D), dv = heads_view(B, H, S, D);      // (B, H, S, D) each
    for_each_head(B, H, [&](std::int64_t b, std::int64_t h) {
      backward_head(g, head_rows(q, b, h), head_rows(k, b, h), head_rows(v, b, h), head_rows(out, b, h),
                    head_rows(dout, b, h), probs.data_ptr<float>() + (b * H + h) * g.slab(), head_rows(dq, b, h),
                    head_rows(dk, b, h), head_rows(dv, b, h));
    });
    const auto dtypes = ctx->saved_data["dtypes"].toIntVector();
    const auto as = [&](const at::Tensor& t, std::size_t i) { return t.to(static_cast<at::ScalarType>(dtypes[i])); };
    return {as(dq, 0), as(dk, 1), as(dv, 2), at::Tensor()};
  }
};

}  // namespace

bool cpu_attention_built() { return true; }

bool cpu_attention_supports(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
  // Row strides and sizes go to CBLAS as int.
  constexpr std::int64_t int_max = std::numeric_limits<int>::max();
  if (q.numel() > int_max || k.numel() > int_max) return false;
  const auto type_ok = [](const at::Tensor& t) {
    return t.dim() == 4 && t.device().is_cpu() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16);
  };
  if (!type_ok(q) || !type_ok(k) || !type_ok(v)) return false;
  const bool same_heads = k.size(0) == q.size(0) && k.size(1) == q.size(1) && v.sizes() == k.sizes();
  const bool same_width = k.size(3) == q.size(3);
  return same_heads && same_width && q.size(2) > 0 && k.size(2) > 0 && (!causal || q.size(2) == k.size(2));
}

at::Tensor cpu_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
  const bool records = at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  if (records) return CpuAttentionFunction::apply(q, k, v, causal);  // (B, H, T, D)
  // Nothing to differentiate (decoding, evaluation): no autograd node, nothing saved for it, a
  // few microseconds less per layer and token.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  return attention_forward(q, k, v, causal).out.to(q.scalar_type());  // (B, H, T, D)
}

#else  // no CBLAS, or LibTorch has at::scaled_dot_product_attention: attend() does not ask

bool cpu_attention_built() { return false; }

bool cpu_attention_supports(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool) { return false; }

at::Tensor cpu_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool) {
  throw std::logic_error("cpu_attention: not built (no CBLAS, or LibTorch >= 2 has its own fused attention)");
}

#endif

}  // namespace lmlab::nn
