#include "lmlab/next_token_loss.hpp"

#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace lmlab {

void check_next_token_block(const at::Tensor& block, std::string_view objective) {
  if (block.dim() != 2 || block.size(1) < 2) {
    throw std::invalid_argument(fmt::format("{} needs a (B, T+1) block with T >= 1, got shape {}", objective,
                                            fmt::join(block.sizes(), "x")));
  }
}

at::Tensor next_token_logits(const at::Tensor& raw, std::int64_t vocab_size, std::string_view objective) {
  at::Tensor logits = at_least_float(raw);  // (B, T, V)
  if (logits.dim() != 3 || logits.size(-1) != vocab_size) {
    throw std::invalid_argument(fmt::format("{} expects (B, T, {}) logits from the model, got {}", objective,
                                            vocab_size, fmt::join(logits.sizes(), "x")));
  }
  return logits;
}

NextTokenPrediction predict_next_tokens(Architecture& model, const at::Tensor& block, std::int64_t vocab_size,
                                        std::string_view objective) {
  check_next_token_block(block, objective);
  const std::int64_t length = block.size(1) - 1;
  NextTokenPrediction p;
  p.input = block.narrow(1, 0, length);   // (B, T)
  p.target = block.narrow(1, 1, length);  // (B, T)
  p.logits = next_token_logits(model.forward(ModelInput{p.input}).logits, vocab_size, objective);  // (B, T, V)
  return p;
}

LossOutput next_token_output(const NextTokenPrediction& prediction, const at::Tensor& nll_sum, const at::Tensor& loss) {
  LossOutput out;
  out.tokens = prediction.target.numel();
  out.loss = loss;                                                             // ()
  out.nll_sum = nll_sum.detach();                                              // ()
  out.correct = prediction.logits.detach().argmax(-1).eq(prediction.target).sum();  // ()
  out.logits = prediction.logits;                                              // (B, T, V)
  out.targets = prediction.target;  // (B, T) every position predicts its next token
  return out;
}

LossOutput next_token_loss(Architecture& model, const at::Tensor& block, std::int64_t vocab_size,
                           std::string_view objective) {
  const NextTokenPrediction p = predict_next_tokens(model, block, vocab_size, objective);
  const at::Tensor flat_logits = p.logits.reshape({-1, vocab_size});  // (B*T, V)
  const at::Tensor flat_target = p.target.reshape({-1});              // (B*T)
  const at::Tensor nll_sum = at::cross_entropy_loss(flat_logits, flat_target, {}, at::Reduction::Sum);  // ()
  return next_token_output(p, nll_sum, nll_sum / static_cast<double>(flat_target.numel()));  // loss: () mean
}

}  // namespace lmlab
