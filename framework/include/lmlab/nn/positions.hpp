/// The position schemes an ablation compares, all driven by per-token position ids so that a
/// left-padded prompt and a cached continuation number their tokens as an unpadded sequence
/// would: learned and sinusoidal embeddings (added to the input), rotary embeddings (RoPE, Su et
/// al. 2021: queries and keys rotated by position) and ALiBi (Press et al. 2022: attention
/// scores penalised linearly with distance).
#pragma once
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace lmlab::nn {

/// Each real token's position: its index among the real tokens of its row, plus `start` (B)
/// where given (the positions a cache already holds). Padding gets the position of the
/// neighbouring token or 0; it is never attended to. `valid` (B, T) may be undefined (no padding).
at::Tensor position_ids(const at::Tensor& valid, const at::Tensor& start, std::int64_t batch, std::int64_t length,
                        const at::Device& device);  // -> (B, T) int64

/// The 2017 Transformer's fixed embeddings: sin at even channels, cos at odd ones, wavelengths
/// from 2 pi to 10000 * 2 pi.
at::Tensor sinusoidal_embeddings(const at::Tensor& positions, std::int64_t dim);  // (B, T) -> (B, T, C) float

/// cos and sin of each position's rotation angles, shaped to broadcast over heads.
struct RotaryTables {
  at::Tensor cos, sin;  // (B, 1, T, D/2) float
};
RotaryTables rotary_tables(const at::Tensor& positions, std::int64_t head_dim, double base);

/// Rotates channel pairs (i, i + D/2) of queries or keys by their position's angles (the
/// "rotate half" layout of GPT-NeoX and LLaMA).
at::Tensor apply_rotary(const at::Tensor& x, const RotaryTables& tables);  // (B, H, T, D) -> (B, H, T, D)

/// ALiBi's per-head slopes: a geometric sequence from 2^(-8/H), and for H not a power of two,
/// the paper's interleaving of the two nearest powers' sequences.
at::Tensor alibi_slopes(std::int64_t n_heads);  // -> (H) float

/// -slope * |query position - key position|: symmetric, so the same bias serves causal masks,
/// bidirectional prefixes and encoders.
at::Tensor alibi_bias(const at::Tensor& slopes, const at::Tensor& query_positions,
                      const at::Tensor& key_positions);  // (H), (B, T), (B, S) -> (B, H, T, S) float

}  // namespace lmlab::nn
