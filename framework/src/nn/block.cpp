#include "lmlab/nn/block.hpp"

namespace lmlab::nn {

TransformerBlockImpl::TransformerBlockImpl(const TransformerOptions& o, bool with_cross_attention)
    : pre_norm_(o.pre_norm()) {
  const auto norm = [&] { return Norm(o.norm, o.d_model, o.bias, o.norm_eps); };
  attention_norm = register_module("attention_norm", norm());
  attention = register_module(
      "attention", MultiHeadAttention(o.d_model, o.n_heads, o.kv_heads(), o.bias, o.attention_dropout, false,
                                      o.head_dim(), o.scale_attention));
  if (with_cross_attention) {
    cross_norm = register_module("cross_norm", norm());
    cross_attention = register_module(
        "cross_attention", MultiHeadAttention(o.d_model, o.n_heads, o.kv_heads(), o.bias, o.attention_dropout, true,
                                            o.head_dim(), o.scale_attention));
  }
  ffn_norm = register_module("ffn_norm", norm());
  ffn = register_module("ffn", FeedForward(o.d_model, o.ff_width(), o.activation, o.bias));
  residual_dropout_ = register_module("residual_dropout", torch::nn::Dropout(o.residual_dropout));
}

at::Tensor TransformerBlockImpl::forward(at::Tensor x, const AttentionInputs& self_inputs, LayerKv* self_cache,
                                         const at::Tensor& memory, const AttentionInputs& cross_inputs,
                                         LayerKv* cross_cache) {
  if (pre_norm_) {
    x = x + residual_dropout_(attention(attention_norm(x), at::Tensor(), self_inputs, self_cache));  // (B, T, C)
    if (cross_attention) {
      x = x + residual_dropout_(cross_attention(cross_norm(x), memory, cross_inputs, cross_cache));  // (B, T, C)
    }
    return x + residual_dropout_(ffn(ffn_norm(x)));  // (B, T, C)
  }
  x = attention_norm(x + residual_dropout_(attention(x, at::Tensor(), self_inputs, self_cache)));  // (B, T, C)
  if (cross_attention) {
    x = cross_norm(x + residual_dropout_(cross_attention(x, memory, cross_inputs, cross_cache)));  // (B, T, C)
  }
  return ffn_norm(x + residual_dropout_(ffn(x)));  // (B, T, C)
}

}  // namespace lmlab::nn
