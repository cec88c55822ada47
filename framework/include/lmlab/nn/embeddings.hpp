/// Token embeddings plus, for `positions` = learned or sinusoidal, position embeddings added to
/// them (RoPE and ALiBi act inside attention instead), then embedding dropout. BERT's parts, where
/// the options ask for them: a segment table (token_types; lmlab feeds one segment, so its first
/// row is added everywhere) and a norm over the sum before the dropout (embedding_norm).
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include "lmlab/nn/norm.hpp"
#include "lmlab/nn/transformer_options.hpp"

namespace lmlab::nn {

class EmbeddingsImpl : public torch::nn::Module {
 public:
  /// With `shared_tokens` the token table is another module's (an encoder-decoder's shared
  /// vocabulary); it is used but not registered here, so its parameters are counted and
  /// updated once.
  EmbeddingsImpl(std::int64_t vocab_size, const TransformerOptions& o, std::int64_t context_length,
                 torch::nn::Embedding shared_tokens = nullptr);

  at::Tensor forward(const at::Tensor& tokens, const at::Tensor& positions);  // (B, T), (B, T) -> (B, T, C)

  torch::nn::Embedding tokens{nullptr};
  torch::nn::Embedding learned_positions{nullptr};  // positions = "learned" only
  torch::nn::Embedding token_types{nullptr};        // token_types > 0 only
  Norm norm{nullptr};                               // embedding_norm only

 private:
  bool sinusoidal_;
  double scale_;  // sqrt(d_model) under scale_embeddings, else 1
  std::int64_t d_model_;
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(Embeddings);

}  // namespace lmlab::nn
