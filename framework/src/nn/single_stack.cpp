#include "lmlab/nn/single_stack.hpp"

#include <limits>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/nn/feed_forward.hpp"
#include "lmlab/nn/linear.hpp"

namespace lmlab::nn {

void check_prefix_lengths(const std::string& family, const at::Tensor& prefix_lengths, std::int64_t batch,
                          std::int64_t past) {
  if (!prefix_lengths.defined()) return;
  if (prefix_lengths.dim() != 1 || prefix_lengths.size(0) != batch) {
    throw std::invalid_argument(fmt::format("{} expects prefix_lengths as (B) = ({}), got shape {}", family, batch,
                                            fmt::join(prefix_lengths.sizes(), "x")));
  }
  // Keys cached before this pass were computed without seeing it, so a prefix must be fed in
  // the pass that starts it.
  if (past > 0 && prefix_lengths.gt(past).any().item<bool>()) {
    throw std::invalid_argument(fmt::format("{}: a prefix of {} columns reaches past the {} cached ones; feed the "
                                            "whole prefix in the first pass",
                                            family, prefix_lengths.max().item<std::int64_t>(), past));
  }
}

void check_tokens(const std::string& family, const char* field, const at::Tensor& tokens, const at::Tensor& padding_mask) {
  if (!tokens.defined() || tokens.dim() != 2 || tokens.size(1) < 1) {
    throw std::invalid_argument(fmt::format("{} expects {} as (B, T) token ids with T >= 1, got {}", family, field,
                                            tokens.defined() ? fmt::format("shape {}", fmt::join(tokens.sizes(), "x"))
                                                             : std::string("nothing")));
  }
  if (padding_mask.defined() && padding_mask.sizes() != tokens.sizes()) {
    throw std::invalid_argument(fmt::format("{}: the padding mask of {} has shape {}, the tokens {}", family, field,
                                            fmt::join(padding_mask.sizes(), "x"), fmt::join(tokens.sizes(), "x")));
  }
}

std::int64_t resolve_context_length(const std::string& family, const TransformerOptions& o,
                                    const ArchitectureContext& context) {
  if (context.vocab_size <= 0) {
    throw std::invalid_argument(fmt::format("{} needs a vocabulary size, got {}", family, context.vocab_size));
  }
  const std::int64_t length = o.context_length > 0 ? o.context_length : context.max_seq_len;
  if (length <= 0) {
    throw std::invalid_argument(fmt::format(
        "{}: context_length is 0 (use the host's max_seq_len) but the host gave no max_seq_len", family));
  }
  return length;
}

RelativePositionBias make_relative_bias(const TransformerOptions& o, bool bidirectional) {
  if (o.positions != "relative") return nullptr;
  return RelativePositionBias(o.n_heads, o.relative_buckets, o.relative_max_distance, bidirectional);
}

AttentionInputs stack_attention_inputs(const TransformerOptions& o, const SelfAttentionLayout& layout,
                                       RelativePositionBias& relative_bias) {
  const at::Tensor bias = relative_bias ? relative_bias(layout.query_positions, layout.key_positions)  // (B, H, T, S)
                                        : at::Tensor();
  return self_attention_inputs(layout, o.positions, o.n_heads, o.head_dim(), o.rope_base, bias);
}

SingleStackModel::SingleStackModel(const TransformerOptions& o, const ArchitectureContext& context,
                                   SingleStackFamily family)
    : options_(o),
      family_(std::move(family)),
      vocab_size_(context.vocab_size),
      context_length_(resolve_context_length(family_.name, o, context)) {
  if (family_.predicted_vocab > vocab_size_) {
    throw std::invalid_argument(fmt::format("{}: predicted_vocab {} exceeds the tokenizer's {} ids", family_.name,
                                            family_.predicted_vocab, vocab_size_));
  }
  embeddings = register_module("embeddings", Embeddings(vocab_size_, o, context_length_));
  if (auto bias = make_relative_bias(o, family_.mask != MaskKind::causal)) {
    relative_bias = register_module("relative_bias", bias);
  }
  block_list_ = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < o.n_layers; ++i) {
    blocks.push_back(TransformerBlock(o, /*cross_attention=*/false));
    block_list_->push_back(blocks.back());
  }
  if (o.pre_norm()) final_norm = register_module("final_norm", Norm(o.norm, o.d_model, o.bias, o.norm_eps));
  if (!o.tie_embeddings) {
    head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, vocab_size_).bias(false)));
  }
  if (o.head_transform) {
    head_transform = register_module(
        "head_transform", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.d_model).bias(o.bias)));
    head_norm = register_module("head_norm", Norm(o.norm, o.d_model, o.bias, o.norm_eps));
  }
  if (o.head_bias) head_bias = register_parameter("head_bias", at::zeros({vocab_size_}));
  if (family_.pooler) {
    pooler = register_module("pooler", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.d_model).bias(o.bias)));
  }
  initialise(*this, o, o.n_layers);
}

ModelOutput SingleStackModel::forward(const ModelInput& input) {
  const at::Tensor& tokens = input.tokens;  // (B, T)
  check_tokens(family_.name, "tokens", tokens, input.padding_mask);
  KvCache* cache = input.cache;
  if (cache && !family_.capabilities.generates) {
    throw std::invalid_argument(fmt::format("{} does not generate: it has no key/value cache", family_.name));
  }
  const std::int64_t B = tokens.size(0), T = tokens.size(1), past = cache ? cache->length() : 0;
  if (past + T > context_length_) {
    throw std::invalid_argument(fmt::format("{}: {} tokens{} exceed the context length {} (set context_length, or "
                                            "feed shorter windows)",
                                            family_.name, T, past ? fmt::format(" after {} cached", past) : "",
                                            context_length_));
  }
  check_prefix_lengths(family_.name, input.prefix_lengths, B, past);
  if (cache && cache->self.empty()) cache->self.resize(blocks.size());
  // A pass that fails half way would leave some layers' keys appended and others not.
  CacheGuard guard(cache);
  const SelfAttentionLayout layout =
      lay_out_pass(family_.mask, input.padding_mask, input.prefix_lengths, B, T, tokens.device(), cache);
  const AttentionInputs self_inputs = stack_attention_inputs(options_, layout, relative_bias);

  ModelOutput out;
  at::Tensor x = embeddings(tokens, layout.query_positions);  // (B, T, C)
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    x = blocks[i](x, self_inputs, cache ? &cache->self[i] : nullptr);  // (B, T, C)
    if (input.return_layers) out.layers.push_back(x);
  }
  if (final_norm) x = final_norm(x);  // (B, T, C)
  if (input.return_hidden) out.hidden = x;
  // Tied: the output projection is the token embedding itself, which saves V * C parameters
  // and ties each token's input and output representations.
  if (pooler) out.pooled = at::tanh(nn::linear(x.select(1, 0), *pooler));  // (B, C)
  if (head_transform) {
    x = head_norm(activate(options_.activation, nn::linear(x, *head_transform)));  // (B, T, C)
  }
  out.logits = head ? nn::linear(x, *head) : nn::linear(x, embeddings->tokens->weight);  // (B, T, V)
  if (head_bias.defined()) out.logits = out.logits + head_bias;                           // (B, T, V)
  if (family_.predicted_vocab > 0 && family_.predicted_vocab < vocab_size_) {
    // Ids a tokenizer appends after a published vocabulary: that model never predicts them.
    const at::Tensor unpredicted =
        at::arange(vocab_size_, out.logits.options().dtype(at::kLong)) >= family_.predicted_vocab;  // (V)
    out.logits = out.logits.masked_fill(unpredicted, -std::numeric_limits<double>::infinity());     // (B, T, V)
  }
  guard.release();
  return out;
}

Accounting SingleStackModel::accounting() const {
  Accounting a;
  a.parameters = count_parameters(*this);
  const std::int64_t V = vocab_size_, C = options_.d_model;
  a.embedding_parameters = V * C + (embeddings->learned_positions ? context_length_ * C : 0) + (head ? V * C : 0);
  a.flops_per_token = static_cast<double>(options_.n_layers) * block_flops_per_token(options_, context_length_) +
                      2.0 * static_cast<double>(V * C) + (head_transform ? 2.0 * static_cast<double>(C * C) : 0.0);
  return a;
}

}  // namespace lmlab::nn
