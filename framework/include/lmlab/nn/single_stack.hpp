/// The one-stack transformer behind three families, which differ only in what each position
/// may see: causal_decoder (GPT, LLaMA), prefix_decoder (ChatGLM, U-PaLM: bidirectional over
/// the prefix, causal after it) and encoder_only (BERT: bidirectional, with a pooled first
/// token for sequence-level heads). Keeping them one class makes an ablation between them
/// change the mask and nothing else.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

#include "lmlab/architecture.hpp"
#include "lmlab/nn/attention.hpp"
#include "lmlab/nn/block.hpp"
#include "lmlab/nn/embeddings.hpp"
#include "lmlab/nn/norm.hpp"
#include "lmlab/nn/relative_position_bias.hpp"
#include "lmlab/nn/transformer_options.hpp"

namespace lmlab::nn {

/// What distinguishes the families built on SingleStackModel.
struct SingleStackFamily {
  std::string name;  // for error messages: "prefix_decoder"
  MaskKind mask = MaskKind::causal;
  Capabilities capabilities;
  bool pooler = false;  // a tanh(Linear) over the first token's final state (BERT's pooler)
  /// 0: every id is predicted. Otherwise a published model's own vocabulary size: the ids a
  /// tokenizer appends after it keep their embedding rows but get logit -inf.
  std::int64_t predicted_vocab = 0;
};

class SingleStackModel : public Architecture {
 public:
  SingleStackModel(const TransformerOptions& o, const ArchitectureContext& context, SingleStackFamily family);

  ModelOutput forward(const ModelInput& input) override;
  std::int64_t context_length() const override { return context_length_; }
  Capabilities capabilities() const override { return family_.capabilities; }
  Accounting accounting() const override;

  Embeddings embeddings{nullptr};
  RelativePositionBias relative_bias{nullptr};  // positions = "relative" only
  std::vector<TransformerBlock> blocks;
  Norm final_norm{nullptr};         // pre-norm only: post-norm blocks end normalised
  torch::nn::Linear head{nullptr};  // untied only; tied logits use the token embedding
  torch::nn::Linear pooler{nullptr};
  // head_transform only: BERT's Linear, activation and norm between the last block and the logits.
  torch::nn::Linear head_transform{nullptr};
  Norm head_norm{nullptr};
  at::Tensor head_bias;  // head_bias only: (V), added to the logits

 private:
  TransformerOptions options_;
  SingleStackFamily family_;
  std::int64_t vocab_size_, context_length_;
  torch::nn::ModuleList block_list_{nullptr};
};

/// Checks prefix lengths: (B) where given, and, after `past` cached positions, not past them.
void check_prefix_lengths(const std::string& family, const at::Tensor& prefix_lengths, std::int64_t batch,
                          std::int64_t past);

/// Checks a (B, T) int64 token tensor (and, if defined, its (B, T) padding mask), naming the
/// family and the field in the error.
void check_tokens(const std::string& family, const char* field, const at::Tensor& tokens, const at::Tensor& padding_mask);

/// The learned relative position bias a stack needs under `o.positions` ("relative"), or none.
RelativePositionBias make_relative_bias(const TransformerOptions& o, bool bidirectional);

/// The shared self-attention inputs of one pass of a stack, the stack's relative bias (if any)
/// included.
AttentionInputs stack_attention_inputs(const TransformerOptions& o, const SelfAttentionLayout& layout,
                                       RelativePositionBias& relative_bias);

/// The context length an options struct asks for, or the host's; throws naming `family` when
/// neither is set or the vocabulary is empty.
std::int64_t resolve_context_length(const std::string& family, const TransformerOptions& o,
                                    const ArchitectureContext& context);

}  // namespace lmlab::nn
