/// Architecture plugins: a torch module mapping a batch of token ids to next-token logits, with
/// the capabilities objectives and decoders are checked against and the sizes runs report.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "lmlab/capabilities.hpp"

namespace lmlab {

class KvCache;

/// What the host knows when it builds a model: the vocabulary and the longest context it feeds.
struct ArchitectureContext {
  std::int64_t vocab_size = 0;
  std::int64_t max_seq_len = 0;
};

/// A batch as the model sees it. A field an architecture does not use stays undefined; one it
/// needs and lacks is an error.
struct ModelInput {
  at::Tensor tokens{};                // (B, T) int64: the decoder's input (the only stack's, without an encoder)
  at::Tensor padding_mask{};          // (B, T) bool, true at real tokens; undefined: nothing is padding
  at::Tensor prefix_lengths{};        // (B) int64, prefix decoders: columns < length (left padding included) see each other
  at::Tensor encoder_tokens{};        // (B, S) int64, encoder-decoders
  at::Tensor encoder_padding_mask{};  // (B, S) bool, true at real tokens; undefined: nothing is padding
  bool return_hidden = false;       // fill ModelOutput::hidden
  bool return_layers = false;       // fill ModelOutput::layers
  /// Incremental decoding: when set, `tokens` continue the sequences the cache holds (an empty
  /// cache is filled from this call, prompt and encoder input included), and are appended to it.
  KvCache* cache = nullptr;
};

/// What a forward pass returns; all but the logits only on request or where the family has them.
struct ModelOutput {
  at::Tensor logits{};               // (B, T, V)
  at::Tensor hidden{};               // (B, T, C) final hidden states, after any final norm
  std::vector<at::Tensor> layers{};  // one (B, T|S, C) per block: the encoder's first, then the decoder's
  at::Tensor pooled{};               // (B, C) encoder-only: the pooled first token, for sequence-level heads
};

/// Sizes for comparing families at equal cost, counted as the T5 paper does (section 3.2.2):
/// an encoder-decoder of L + L layers has twice the parameters of an L-layer decoder at about
/// the same FLOPs per token, because each token passes through one of its stacks.
struct Accounting {
  std::int64_t parameters = 0;            // every trainable parameter; a tied tensor counts once
  std::int64_t embedding_parameters = 0;  // token and position embeddings, and an untied output head
  double flops_per_token = 0;             // forward FLOPs per token of a context_length() example
};

/// The interface every architecture implements. It is a torch::nn::Module, so parameters,
/// train/eval mode, devices and serialization come from LibTorch.
class Architecture : public torch::nn::Module {
 public:
  static constexpr std::string_view kind = "architecture";
  using Context = ArchitectureContext;

  ~Architecture() override;

  virtual ModelOutput forward(const ModelInput& input) = 0;

  /// The longest sequence forward accepts (per stack, for an encoder-decoder).
  virtual std::int64_t context_length() const = 0;

  /// What the family can do; the same as it registered with.
  virtual Capabilities capabilities() const = 0;

  virtual Accounting accounting() const = 0;
};

}  // namespace lmlab
