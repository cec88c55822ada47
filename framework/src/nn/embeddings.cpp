#include "lmlab/nn/embeddings.hpp"

#include <cmath>

#include <ATen/ATen.h>

#include "lmlab/nn/positions.hpp"

namespace lmlab::nn {

EmbeddingsImpl::EmbeddingsImpl(std::int64_t vocab_size, const TransformerOptions& o, std::int64_t context_length,
                               torch::nn::Embedding shared_tokens)
    : sinusoidal_(o.positions == "sinusoidal"),
      scale_(o.scale_embeddings ? std::sqrt(static_cast<double>(o.d_model)) : 1.0),
      d_model_(o.d_model) {
  tokens = shared_tokens ? shared_tokens : register_module("tokens", torch::nn::Embedding(vocab_size, o.d_model));
  if (o.positions == "learned") {
    learned_positions = register_module("learned_positions", torch::nn::Embedding(context_length, o.d_model));
  }
  if (o.token_types > 0) token_types = register_module("token_types", torch::nn::Embedding(o.token_types, o.d_model));
  if (o.embedding_norm) norm = register_module("norm", Norm(o.norm, o.d_model, o.bias, o.norm_eps));
  dropout_ = register_module("dropout", torch::nn::Dropout(o.embedding_dropout));
}

at::Tensor EmbeddingsImpl::forward(const at::Tensor& ids, const at::Tensor& positions) {
  at::Tensor x = tokens(ids);         // (B, T, C)
  if (scale_ != 1.0) x = x * scale_;  // (B, T, C)
  // Every position is in segment 0 (BERT's first sentence), added before the positions as BERT does.
  if (token_types) x = x + token_types->weight[0];  // (B, T, C)
  if (learned_positions) {
    // Callers keep positions below context_length by checking lengths: reading the largest
    // position here would cost a host sync per step.
    x = x + learned_positions(positions);  // (B, T, C)
  } else if (sinusoidal_) {
    x = x + sinusoidal_embeddings(positions, d_model_).to(x.scalar_type());  // (B, T, C)
  }
  if (norm) x = norm(x);  // (B, T, C)
  return dropout_(x);     // (B, T, C)
}

}  // namespace lmlab::nn
