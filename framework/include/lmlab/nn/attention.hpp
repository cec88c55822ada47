/// Multi-head attention for every family: self-attention under a causal, prefix or
/// bidirectional mask, cross-attention on an encoder's output, grouped-query heads, padding,
/// RoPE and ALiBi, and a key/value cache for incremental decoding. The scores go through
/// at::scaled_dot_product_attention where LibTorch has it (>= 2.0); on LibTorch 1.13 a CPU pass
/// without a mask tensor or dropout goes through lmlab's head-by-head kernel, and every other
/// pass through the plain, written-out implementation.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "lmlab/kv_cache.hpp"
#include "lmlab/nn/positions.hpp"

namespace lmlab::nn {

/// Which earlier and later positions a query sees in self-attention.
enum class MaskKind {
  causal,        // keys at or before the query
  prefix,        // causal, and every position of the prefix sees the whole prefix
  bidirectional  // every key
};

enum class AttentionBackend {
  fused,  // at::scaled_dot_product_attention (LibTorch >= 2.0); on 1.13 the CPU kernel where it applies, else plain
  plain   // softmax(q k^T / sqrt(D) + mask) v, written out
};

/// True when this LibTorch has at::scaled_dot_product_attention.
bool fused_attention_available();

/// What every attention layer of a stack shares in one forward pass, built once per pass.
struct AttentionInputs {
  /// bool (B|1, 1, T, S), true where a query may attend a key; or float (B, H, T, S) added to
  /// the scores, -inf where it may not (ALiBi). Undefined: every query sees every key.
  at::Tensor mask;
  bool is_causal = false;  // mask undefined and query i sees keys <= i: fused kernels skip the mask
  std::optional<RotaryTables> rotary;  // RoPE: rotates this pass's queries and keys
};

/// How the queries of one self-attention pass line up with its keys: the queries are positions
/// past .. past + T - 1 of their rows, the keys 0 .. S - 1 with S = past + T.
struct SelfAttentionLayout {
  MaskKind kind = MaskKind::causal;
  std::int64_t past = 0;       // positions cached before this pass
  at::Tensor query_valid;      // (B, T) bool, or undefined: no padding among the queries
  at::Tensor key_valid;        // (B, S) bool, or undefined: no padding among the keys
  at::Tensor prefix_lengths;   // (B) int64, MaskKind::prefix: columns < length (padding included) form the prefix
  at::Tensor query_positions;  // (B, T) int64 position ids
  at::Tensor key_positions;    // (B, S) int64 position ids
};

/// Lays out one self-attention pass of a stack over (B, T) tokens: their position ids, which
/// keys are real, and, when the pass continues `cache`, the positions cached before it. The
/// cache's key mask and positions are extended to cover this pass (the layers append their
/// keys and values).
SelfAttentionLayout lay_out_pass(MaskKind kind, const at::Tensor& padding_mask, const at::Tensor& prefix_lengths,
                                 std::int64_t batch, std::int64_t length, const at::Device& device, KvCache* cache);

/// Which keys each query may attend to: (B|1, 1, T, S) bool. Padding keys are hidden; a padding
/// query sees every key, so that no softmax row is empty (its output is never used).
at::Tensor visibility(const SelfAttentionLayout& layout, std::int64_t T, std::int64_t S, const at::Device& device);

/// The shared inputs of a stack's self-attention layers under position scheme `positions`.
/// `position_bias` (B|1, H, T, S) is the learned bias of positions = "relative", added to the
/// scores like ALiBi's.
AttentionInputs self_attention_inputs(const SelfAttentionLayout& layout, const std::string& positions,
                                      std::int64_t n_heads, std::int64_t head_dim, double rope_base,
                                      const at::Tensor& position_bias = {});

/// Cross-attention: every real decoder query sees every real encoder key.
AttentionInputs cross_attention_inputs(const at::Tensor& query_valid, const at::Tensor& memory_valid);

/// softmax(q k^T / sqrt(D) + mask) v, with H / H_kv query heads sharing each key/value head.
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionInputs& inputs,
                  double dropout, AttentionBackend backend);  // (B, H, T, D), (B, H_kv, S, D) x2 -> (B, H, T, D)

class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  /// Cross-attention (`cross`) reads keys and values from an encoder output instead of its input.
  /// `head_dim` 0 is d_model / n_heads; otherwise the heads' inner width n_heads * head_dim may
  /// differ from d_model (T5's d_kv). `scaled` false leaves the scores q.k undivided by
  /// sqrt(head_dim) (T5 folds that factor into its initialisation).
  MultiHeadAttentionImpl(std::int64_t d_model, std::int64_t n_heads, std::int64_t n_kv_heads, bool bias,
                         double dropout, bool cross, std::int64_t head_dim = 0, bool scaled = true);

  /// `memory` (B, S, C) is the encoder output (cross-attention only; may be undefined once the
  /// cache holds its keys). With a cache, self-attention appends this pass's keys and values.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& memory, const AttentionInputs& inputs,
                     LayerKv* cache);  // (B, T, C) -> (B, T, C)

  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr}, out{nullptr};
  AttentionBackend backend = AttentionBackend::fused;

 private:
  std::int64_t n_heads_, n_kv_heads_, head_dim_;
  double dropout_;
  bool cross_;
  double query_scale_;  // sqrt(head_dim) when unscaled: cancels attend()'s division
};
TORCH_MODULE(MultiHeadAttention);

}  // namespace lmlab::nn
