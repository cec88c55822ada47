/// The options every transformer family shares, each an ablation axis: declared once here so
/// that causal, prefix, encoder-only and encoder-decoder models read `norm = "rmsnorm"` alike.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "lmlab/options.hpp"

namespace lmlab::nn {

struct TransformerOptions {
  std::string preset = "none";
  std::int64_t d_model = 128;
  std::int64_t n_layers = 4;
  std::int64_t n_heads = 4;
  std::int64_t n_kv_heads = 0;  // 0: n_heads (multi-head); 1: multi-query; between: grouped-query
  std::int64_t d_ff = 0;        // 0: 4 * d_model, or 8/3 * d_model (to a multiple of 8) when gated
  std::string norm = "layernorm";
  std::string norm_position = "pre";
  double norm_eps = 1e-5;
  std::string activation = "gelu";
  std::string positions = "learned";
  double rope_base = 10000.0;
  std::int64_t relative_buckets = 32;        // positions = "relative": buckets per direction pair
  std::int64_t relative_max_distance = 128;  // positions = "relative": distances beyond share a bucket
  bool bias = true;
  bool tie_embeddings = true;
  bool scale_embeddings = false;  // token embeddings x sqrt(d_model), initialised with std d_model^-0.5
  double embedding_dropout = 0.0;
  double attention_dropout = 0.0;
  double residual_dropout = 0.0;
  std::string init = "scaled";
  double init_std = 0.02;
  std::int64_t context_length = 0;  // 0: the host's max_seq_len
  // BERT's parts, declared as options only by the families that offer them (encoder_only); every
  // other family keeps these defaults, which add nothing.
  std::int64_t token_types = 0;  // > 0: a segment table; its first row is added at every position
  bool embedding_norm = false;   // a norm over the summed embeddings, before their dropout
  bool head_transform = false;   // Linear, activation and norm between the last block and the logits
  bool head_bias = false;        // a learned bias on the logits
  // T5's attention, declared as options only by encoder_decoder; the defaults are every other
  // family's attention.
  std::int64_t head_width = 0;   // 0: d_model / n_heads; else each head's width (T5's d_kv)
  bool scale_attention = true;   // false: scores q.k without 1/sqrt(head width) (T5 folds it into its init)

  std::int64_t kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  std::int64_t head_dim() const { return head_width > 0 ? head_width : d_model / n_heads; }
  /// The attention's inner width, queries' and outputs' (d_model unless head_width is set).
  std::int64_t attention_width() const { return n_heads * head_dim(); }
  bool gated() const { return activation == "swiglu" || activation == "geglu" || activation == "geglu_tanh"; }
  /// d_ff, or its default: gated MLPs have three matrices, so 2/3 of 4 * d_model keeps the
  /// parameter count of the two-matrix MLP (the LLaMA convention).
  std::int64_t ff_width() const;
  bool pre_norm() const { return norm_position == "pre"; }
};

namespace detail {
void add_shared_options(OptionSet<TransformerOptions>& set);
}

/// Declares the shared options on the options struct T of a family (T derives from
/// TransformerOptions), with its presets. Family options go before; the preset comes last.
template <class T>
void add_transformer_options(OptionSet<T>& set, std::vector<Preset> presets) {
  OptionSet<TransformerOptions> shared;
  detail::add_shared_options(shared);
  set.merge_base(shared);
  set.presets("preset", static_cast<std::string T::*>(&TransformerOptions::preset),
              "a published model's settings, applied under the keys given here", std::move(presets));
}

/// Initialises every linear layer and embedding under `root` by `o.init`: normal(0, init_std);
/// scaled, as normal but the projections that write into the residual stream get
/// init_std / sqrt(2 * layers) (GPT-2); xavier (uniform); kaiming (normal, fan-in). Norm scales
/// are 1 and biases 0 under every scheme. Embedding tables get normal(0, init_std), token tables
/// normal(0, d_model^-0.5) under scale_embeddings. `residual_layers` is the depth the scaling uses.
void initialise(torch::nn::Module& root, const TransformerOptions& o, std::int64_t residual_layers);

/// Trainable parameters under `root`, a tensor shared by two modules counted once.
std::int64_t count_parameters(const torch::nn::Module& root);

/// Forward FLOPs of one token through one block: 2 per multiply-add of each weight matrix, and
/// 4 * keys * d_model for the attention scores (2) and their weighted sum of values (2) over
/// `self_keys` keys (and `cross_keys` encoder keys when the block has cross-attention), every
/// query charged all keys, as the kernels compute them. Norms, biases, activations and softmax
/// are left out. (Kaplan et al. 2020 count only the scores' 2 * n_ctx * d.)
double block_flops_per_token(const TransformerOptions& o, std::int64_t self_keys, std::int64_t cross_keys = 0);

}  // namespace lmlab::nn
