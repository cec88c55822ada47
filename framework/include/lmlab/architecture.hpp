/// Architecture plugins: a torch module mapping token ids to next-token logits.
#pragma once
#include <cstdint>
#include <string_view>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

namespace lmlab {

/// What the host knows when it builds a model: the vocabulary and the longest context it feeds.
struct ArchitectureContext {
  std::int64_t vocab_size = 0;
  std::int64_t max_seq_len = 0;
};

/// A batch as the model sees it. Later architectures read more fields (a prefix length per
/// example, encoder tokens); a field an architecture does not use stays undefined.
struct ModelInput {
  at::Tensor tokens;  // (B, T) int64
};

/// The interface every architecture implements. It is a torch::nn::Module, so parameters,
/// train/eval mode, devices and serialization come from LibTorch.
class Architecture : public torch::nn::Module {
 public:
  static constexpr std::string_view kind = "architecture";
  using Context = ArchitectureContext;

  ~Architecture() override;

  /// Logits for the token after each position: (B, T) -> (B, T, V).
  virtual at::Tensor forward(const ModelInput& input) = 0;

  /// The longest sequence forward accepts.
  virtual std::int64_t context_length() const = 0;
};

}  // namespace lmlab
