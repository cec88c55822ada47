/// One transformer block: self-attention, cross-attention on an encoder output (decoder blocks
/// of an encoder-decoder only), and an MLP, each a residual branch. Pre-norm normalises each
/// branch's input (GPT-2, LLaMA: trains deep stacks without warm-up tricks); post-norm
/// normalises after each residual add (the 2017 Transformer, BERT).
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/pimpl.h>

#include "lmlab/kv_cache.hpp"
#include "lmlab/nn/attention.hpp"
#include "lmlab/nn/feed_forward.hpp"
#include "lmlab/nn/norm.hpp"
#include "lmlab/nn/transformer_options.hpp"

namespace lmlab::nn {

class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(const TransformerOptions& o, bool cross_attention);

  /// `memory`, `cross_inputs` and `cross_cache` are used by blocks with cross-attention only.
  at::Tensor forward(at::Tensor x, const AttentionInputs& self_inputs, LayerKv* self_cache,
                     const at::Tensor& memory = {}, const AttentionInputs& cross_inputs = {},
                     LayerKv* cross_cache = nullptr);  // (B, T, C) -> (B, T, C)

  MultiHeadAttention attention{nullptr}, cross_attention{nullptr};
  FeedForward ffn{nullptr};
  Norm attention_norm{nullptr}, cross_norm{nullptr}, ffn_norm{nullptr};

 private:
  bool pre_norm_;
  torch::nn::Dropout residual_dropout_{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace lmlab::nn
