#include "lmlab/nn/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <fmt/format.h>
#include <torch/version.h>

#include "lmlab/nn/linear.hpp"
#include "nn/cpu_attention.hpp"
#include "nn/rounded_weights.hpp"

namespace lmlab::nn {

bool fused_attention_available() { return TORCH_VERSION_MAJOR >= 2; }

SelfAttentionLayout lay_out_pass(MaskKind kind, const at::Tensor& padding_mask, const at::Tensor& prefix_lengths,
                                 std::int64_t batch, std::int64_t length, const at::Device& device, KvCache* cache) {
  SelfAttentionLayout layout;
  layout.kind = kind;
  layout.prefix_lengths = prefix_lengths;
  layout.past = cache ? cache->length() : 0;
  layout.query_valid = padding_mask;
  const at::Tensor start = layout.past > 0 ? cache->next_positions() : at::Tensor();  // (B)
  layout.query_positions = position_ids(padding_mask, start, batch, length, device);  // (B, T)
  layout.key_positions = layout.query_positions;                                       // (B, S)
  layout.key_valid = padding_mask;                                                     // (B, S) or undefined
  if (!cache) return layout;
  const at::Tensor valid = padding_mask.defined() ? padding_mask.to(at::kBool)
                                                  : at::ones({batch, length}, at::TensorOptions().dtype(at::kBool).device(device));  // (B, T)
  if (layout.past > 0) {
    layout.key_valid = at::cat({cache->key_mask, valid}, 1);                                // (B, S)
    layout.key_positions = at::cat({cache->key_positions, layout.query_positions}, 1);     // (B, S)
  }
  cache->key_mask = layout.past > 0 ? layout.key_valid : valid;  // (B, S)
  cache->key_positions = layout.key_positions;                      // (B, S)
  return layout;
}

at::Tensor visibility(const SelfAttentionLayout& layout, std::int64_t T, std::int64_t S, const at::Device& device) {
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  const at::Tensor q = at::arange(layout.past, layout.past + T, longs).view({1, 1, T, 1});  // (1, 1, T, 1)
  const at::Tensor k = at::arange(S, longs).view({1, 1, 1, S});                            // (1, 1, 1, S)
  at::Tensor allowed;
  switch (layout.kind) {
    case MaskKind::causal: allowed = k <= q; break;  // (1, 1, T, S)
    case MaskKind::prefix: {
      if (!layout.prefix_lengths.defined()) {
        allowed = k <= q;  // (1, 1, T, S): no prefix given, so the prefix is empty
        break;
      }
      const at::Tensor p = layout.prefix_lengths.to(device).view({-1, 1, 1, 1});  // (B, 1, 1, 1)
      allowed = (k <= q).logical_or((k < p).logical_and(q < p));                   // (B, 1, T, S)
      break;
    }
    case MaskKind::bidirectional: allowed = at::ones({1, 1, T, S}, longs.dtype(at::kBool)); break;
  }
  if (layout.key_valid.defined()) {
    allowed = allowed.logical_and(layout.key_valid.to(device).view({-1, 1, 1, S}));  // (B, 1, T, S)
  }
  if (layout.query_valid.defined()) {
    allowed = allowed.logical_or(layout.query_valid.to(device).logical_not().view({-1, 1, T, 1}));  // (B, 1, T, S)
  }
  return allowed;
}

namespace {

// A one-token pass (a decoding step) whose query sees every key: under every mask kind the last
// position sees all earlier ones, so only padding could hide a key. Then attention needs no mask
// tensor, which spares building one per step and lets the unmasked kernels run. Asked on the
// CPU only, where reading the cached mask's verdict back costs no device synchronisation.
bool sees_every_key(const SelfAttentionLayout& layout) {
  if (layout.query_valid.defined()) return false;
  if (!layout.key_valid.defined()) return true;
  return layout.key_valid.device().is_cpu() && layout.key_valid.all().item<bool>();
}

}  // namespace

AttentionInputs self_attention_inputs(const SelfAttentionLayout& layout, const std::string& positions,
                                      std::int64_t n_heads, std::int64_t head_dim, double rope_base,
                                      const at::Tensor& position_bias) {
  const at::Tensor& qp = layout.query_positions;  // (B, T)
  const std::int64_t T = qp.size(1), S = layout.past + T;
  AttentionInputs in;
  if (positions == "rope") in.rotary = rotary_tables(qp, head_dim, rope_base);
  const bool padded = layout.query_valid.defined() || layout.key_valid.defined();
  const bool biased = positions == "alibi" || position_bias.defined();
  const bool prefix = layout.kind == MaskKind::prefix && layout.prefix_lengths.defined();
  if (!padded && !biased && !prefix && layout.past == 0) {
    // The common training case: no mask tensor at all, so fused kernels can take their fast path.
    in.is_causal = layout.kind != MaskKind::bidirectional;
    return in;
  }
  if (T == 1 && !biased && sees_every_key(layout)) return in;  // no mask, not causal: every key
  const at::Tensor allowed = visibility(layout, T, S, qp.device());  // (B|1, 1, T, S)
  if (!biased) {
    in.mask = allowed;
    return in;
  }
  const at::Tensor bias = position_bias.defined() ? position_bias  // (B|1, H, T, S)
                                                  : alibi_bias(alibi_slopes(n_heads), qp, layout.key_positions);  // (B, H, T, S)
  in.mask = bias.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());  // (B, H, T, S)
  return in;
}

AttentionInputs cross_attention_inputs(const at::Tensor& query_valid, const at::Tensor& memory_valid) {
  AttentionInputs in;
  if (!memory_valid.defined()) return in;
  const std::int64_t S = memory_valid.size(1);
  in.mask = memory_valid.to(at::kBool).view({-1, 1, 1, S});  // (B, 1, 1, S)
  if (query_valid.defined()) {
    in.mask = in.mask.logical_or(query_valid.logical_not().view({query_valid.size(0), 1, -1, 1}));  // (B, 1, T, S)
  }
  return in;
}

namespace {

// x (B, T, C) through the query, key and value projections as one product with their weights
// stacked; the parameters stay three, as checkpoints name them.
std::vector<at::Tensor> project_qkv(const at::Tensor& x, const torch::nn::LinearImpl& query,
                                    const torch::nn::LinearImpl& key, const torch::nn::LinearImpl& value) {
  // Without gradients and outside a generation (evaluation), stacking the weights would copy
  // 3 C^2 floats per call for nothing the product gains; a generation keeps them stacked once
  // (RoundedWeightScope), so each token takes one product instead of three. The stack is a second
  // copy of the weights while the generation runs: only for layers up to stack_max_elements (a
  // larger model's one-token products are bound by reading the weights, which stacking does not
  // change), and not for weights without a version counter (inference tensors).
  constexpr std::int64_t stack_max_elements = std::int64_t{1} << 22;  // 16 MB of float32 per layer
  const bool stackable = query.weight.numel() + key.weight.numel() + value.weight.numel() <= stack_max_elements &&
                         !query.weight.is_inference() && !key.weight.is_inference() && !value.weight.is_inference();
  const bool generating = !at::GradMode::is_enabled() && rounded_weight_scope_open() && stackable;
  if (!at::GradMode::is_enabled() && !generating) {
    return {nn::linear(x, query), nn::linear(x, key), nn::linear(x, value)};
  }
  const auto stack = [&](const std::vector<at::Tensor>& parts) {
    return generating ? stacked_weight(parts) : at::cat(parts, 0);
  };
  const at::Tensor weight = stack({query.weight, key.weight, value.weight});  // (C + 2 C_kv, C)
  const at::Tensor bias = query.bias.defined() ? stack({query.bias, key.bias, value.bias}) : at::Tensor();  // (C + 2 C_kv)
  const at::Tensor y = nn::linear(x, weight, bias);  // (B, T, C + 2 C_kv)
  return y.split_with_sizes({query.weight.size(0), key.weight.size(0), value.weight.size(0)}, -1);
}

// True when nothing but `t` itself can see its memory: no other handle to the tensor (a copied
// cache) and no other view of its storage. A view that autograd tracks keeps its base alive,
// which then holds the storage too.
bool sole_owner(const at::Tensor& t) {
  if (t.use_count() != 1) return false;
  if (t.is_view()) return t._base().use_count() == 1 && t.storage().use_count() == 2;
  return t.storage().use_count() == 1;
}

// `cached` (B, H, S, D) followed by `fresh` (B, H, T, D) along the positions. Decoding appends
// one position per step; copying the whole cache each time would cost O(S) per token, so the
// cache lives in a buffer with room to grow (twice what it holds when it is reallocated), and
// the new positions are written into that room. In place only when nothing else can see the
// buffer (no other tensor shares its storage) and no gradient is being recorded.
at::Tensor append_positions(const at::Tensor& cached, const at::Tensor& fresh) {
  const std::int64_t B = cached.size(0), H = cached.size(1), S = cached.size(2), D = cached.size(3), T = fresh.size(2);
  // Under autograd each step's cache is a new tensor the graph keeps: nothing to grow.
  if (at::GradMode::is_enabled()) return at::cat({cached, fresh}, 2);  // (B, H, S + T, D)
  const std::int64_t room = cached.stride(1) / std::max<std::int64_t>(D, 1);  // positions a head's slot holds
  const bool buffer_layout = cached.stride(3) == 1 && cached.stride(2) == D &&
                             cached.stride(0) == H * cached.stride(1) && cached.storage_offset() == 0;
  const auto held = static_cast<std::int64_t>(cached.storage().nbytes()) / std::max<std::int64_t>(cached.element_size(), 1);
  const bool fits = S + T <= room && B * H * room * D <= held;
  if (buffer_layout && fits && sole_owner(cached) && fresh.scalar_type() == cached.scalar_type()) {
    at::Tensor grown = cached.as_strided({B, H, S + T, D}, cached.strides());  // (B, H, S + T, D)
    grown.narrow(2, S, T).copy_(fresh);
    return grown;
  }
  const at::ScalarType dtype = at::promote_types(cached.scalar_type(), fresh.scalar_type());
  at::Tensor buffer = at::empty({B, H, 2 * (S + T), D}, cached.options().dtype(dtype));  // (B, H, 2 (S + T), D)
  at::Tensor grown = buffer.narrow(2, 0, S + T);                                        // (B, H, S + T, D)
  grown.narrow(2, 0, S).copy_(cached);
  grown.narrow(2, S, T).copy_(fresh);
  return grown;
}

// What a decoding cache keeps of `t` (B, H_kv, L, D). LibTorch 1.13 attends in float32 (the
// head-by-head kernel and the written-out chain both widen their inputs), so a bf16 cache would be
// widened whole at every step: O(L) conversions per layer and token, a tenth of a batch-16 bf16
// decoding step at L = 250. Widening bf16 is exact, so the cache holds float32 and each step
// converts only its new positions; the attention output is the same to the bit. Under autograd, or
// where LibTorch's fused kernel takes the cache's dtype as is, the cache keeps `t`'s dtype.
at::Tensor cache_form(const at::Tensor& t) {
  const bool widened = !fused_attention_available() && t.scalar_type() == at::kBFloat16 && t.device().is_cpu() &&
                       !at::GradMode::is_enabled();
  return widened ? t.to(at::kFloat) : t;  // (B, H_kv, L, D)
}

at::Tensor attend_plain(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionInputs& in,
                        double dropout) {
  const std::int64_t T = q.size(2), S = k.size(2);
  // Scores and softmax in float32 even under bf16 autocast, as the fused kernels accumulate:
  // autocast would cast matmul's float32 inputs back to bf16.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  at::Tensor scores = at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-2, -1)) /
                      std::sqrt(static_cast<double>(q.size(-1)));  // (B, H, T, S)
  const double minus_inf = -std::numeric_limits<double>::infinity();
  if (in.is_causal) {
    const at::Tensor future = at::ones({T, S}, q.options().dtype(at::kBool)).triu(1);  // (T, S)
    scores = scores.masked_fill(future, minus_inf);                                    // (B, H, T, S)
  }
  if (in.mask.defined()) {
    scores = in.mask.scalar_type() == at::kBool ? scores.masked_fill(in.mask.logical_not(), minus_inf)  // (B, H, T, S)
                                                : scores + in.mask.to(at::kFloat);                    // (B, H, T, S)
  }
  const at::Tensor weights = at::dropout(at::softmax(scores, -1), dropout, dropout > 0);  // (B, H, T, S)
  return at::matmul(weights, v.to(at::kFloat)).to(q.scalar_type());                     // (B, H, T, D)
}

}  // namespace

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionInputs& in,
                  double dropout, AttentionBackend backend) {
  const std::int64_t H = q.size(1), H_kv = k.size(1);
  if (H % H_kv != 0) {
    throw std::invalid_argument(fmt::format("attention: {} query heads cannot share {} key/value heads", H, H_kv));
  }
  at::Tensor keys = k, values = v;
  if (H_kv != H) {
    keys = k.repeat_interleave(H / H_kv, 1);    // (B, H, S, D): query head h reads key/value head h / (H / H_kv)
    values = v.repeat_interleave(H / H_kv, 1);  // (B, H, S, D)
  }
#if TORCH_VERSION_MAJOR >= 2
  if (backend == AttentionBackend::fused) {
    // A float mask must match the queries' dtype (bf16 under autocast); a bool mask is used as is.
    // An undefined tensor inside the optional is not "no mask" to every version's kernels.
    c10::optional<at::Tensor> mask;
    if (in.mask.defined()) {
      mask = in.mask.scalar_type() == at::kBool ? in.mask : in.mask.to(q.scalar_type());  // (B|1, H|1, T, S)
    }
    return at::scaled_dot_product_attention(q, keys, values, mask, dropout, in.is_causal);  // (B, H, T, D)
  }
#else
  // Without a mask tensor or dropout, the CPU's head-by-head kernel (nn/cpu_attention.hpp).
  if (backend == AttentionBackend::fused && !in.mask.defined() && dropout == 0.0 &&
      cpu_attention_supports(q, keys, values, in.is_causal)) {
    return cpu_attention(q, keys, values, in.is_causal);  // (B, H, T, D)
  }
#endif
  return attend_plain(q, keys, values, in, dropout);  // (B, H, T, D)
}

MultiHeadAttentionImpl::MultiHeadAttentionImpl(std::int64_t d_model, std::int64_t n_heads, std::int64_t n_kv_heads,
                                               bool bias, double dropout, bool cross, std::int64_t head_dim,
                                               bool scaled)
    : n_heads_(n_heads),
      n_kv_heads_(n_kv_heads),
      head_dim_(head_dim > 0 ? head_dim : d_model / n_heads),
      dropout_(dropout),
      cross_(cross),
      query_scale_(scaled ? 1.0 : std::sqrt(static_cast<double>(head_dim_))) {
  const std::int64_t d_q = n_heads * head_dim_, d_kv = n_kv_heads * head_dim_;
  query = register_module("query", torch::nn::Linear(torch::nn::LinearOptions(d_model, d_q).bias(bias)));
  key = register_module("key", torch::nn::Linear(torch::nn::LinearOptions(d_model, d_kv).bias(bias)));
  value = register_module("value", torch::nn::Linear(torch::nn::LinearOptions(d_model, d_kv).bias(bias)));
  out = register_module("out", torch::nn::Linear(torch::nn::LinearOptions(d_q, d_model).bias(bias)));
}

at::Tensor MultiHeadAttentionImpl::forward(const at::Tensor& x, const at::Tensor& memory, const AttentionInputs& in,
                                           LayerKv* cache) {
  const std::int64_t B = x.size(0), T = x.size(1), H = n_heads_, H_kv = n_kv_heads_, D = head_dim_;
  at::Tensor q, k, v;
  if (!cross_) {
    // One product for the three projections: a GEMM three times as wide runs faster than three.
    const std::vector<at::Tensor> qkv = project_qkv(x, *query, *key, *value);  // (B, T, C), (B, T, C_kv) x2
    q = qkv[0].view({B, T, H, D}).transpose(1, 2);     // (B, H, T, D); C = H D unless head_dim is set
    k = qkv[1].view({B, T, H_kv, D}).transpose(1, 2);  // (B, H_kv, T, D)
    v = qkv[2].view({B, T, H_kv, D}).transpose(1, 2);  // (B, H_kv, T, D)
  } else {
    q = nn::linear(x, *query).view({B, T, H, D}).transpose(1, 2);  // (B, H, T, D)
  }
  if (cross_ && cache && cache->k.defined()) {
    k = cache->k;  // (B, H_kv, S, D): the encoder's, computed at the first step
    v = cache->v;  // (B, H_kv, S, D)
  } else {
    if (cross_) {
      if (!memory.defined()) throw std::invalid_argument("cross-attention needs the encoder output (memory)");
      const std::int64_t S = memory.size(1);
      k = nn::linear(memory, *key).view({B, S, H_kv, D}).transpose(1, 2);    // (B, H_kv, S, D)
      v = nn::linear(memory, *value).view({B, S, H_kv, D}).transpose(1, 2);  // (B, H_kv, S, D)
    }
    if (!cross_ && in.rotary) {
      q = apply_rotary(q, *in.rotary);  // (B, H, T, D)
      k = apply_rotary(k, *in.rotary);  // (B, H_kv, T, D)
    }
    if (cache) {
      k = cache_form(k);  // (B, H_kv, T|S, D)
      v = cache_form(v);  // (B, H_kv, T|S, D)
      if (!cross_ && cache->k.defined()) {
        k = append_positions(cache->k, k);  // (B, H_kv, past + T, D)
        v = append_positions(cache->v, v);  // (B, H_kv, past + T, D)
      }
      cache->k = k;  // (B, H_kv, S, D)
      cache->v = v;  // (B, H_kv, S, D)
    }
  }
  // Unscaled attention (T5): the query times sqrt(D), which attend() divides back out; exact
  // whenever sqrt(D) is a power of two (D = 16, 64, 256).
  if (query_scale_ != 1.0) q = q * query_scale_;                                     // (B, H, T, D)
  const at::Tensor y = attend(q, k, v, in, is_training() ? dropout_ : 0.0, backend);  // (B, H, T, D)
  return nn::linear(y.transpose(1, 2).reshape({B, T, H * D}), *out);                 // (B, T, C)
}

}  // namespace lmlab::nn
