#include "lmlab/nn/transformer_options.hpp"

#include <cmath>
#include <set>
#include <string_view>

#include <ATen/ATen.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

namespace lmlab::nn {

std::int64_t TransformerOptions::ff_width() const {
  if (d_ff > 0) return d_ff;
  if (!gated()) return 4 * d_model;
  const std::int64_t two_thirds = (8 * d_model + 2) / 3;
  return (two_thirds + 7) / 8 * 8;
}

namespace detail {

void add_shared_options(OptionSet<TransformerOptions>& set) {
  using O = TransformerOptions;
  const Limits probability{.min = 0.0, .max = 1.0, .exclusive_max = true};
  set.add("d_model", &O::d_model, "width of the residual stream and the embeddings", {.min = 1})
      .add("n_layers", &O::n_layers, "number of transformer blocks", {.min = 1})
      .add("n_heads", &O::n_heads, "attention (query) heads per block; must divide d_model", {.min = 1})
      .add("n_kv_heads", &O::n_kv_heads,
           "key/value heads: 0 for n_heads (multi-head), 1 for multi-query, between for grouped-query; "
           "must divide n_heads",
           {.min = 0})
      .add("d_ff", &O::d_ff, "hidden width of each MLP (0: 4 * d_model, or 8/3 * d_model rounded up to 8 when gated)",
           {.min = 0})
      .add("norm", &O::norm, "normalisation: layernorm (centre and scale) or rmsnorm (scale only, no bias)",
           {"layernorm", "rmsnorm"})
      .add("norm_position", &O::norm_position,
           "pre: norm each branch's input and the final output (GPT-2, LLaMA); post: norm after each residual add "
           "(the 2017 Transformer, BERT)",
           {"pre", "post"})
      .add("norm_eps", &O::norm_eps, "epsilon added to the variance in every norm", {.min = 0.0, .exclusive_min = true})
      .add("activation", &O::activation,
           "MLP non-linearity; gelu_tanh is GELU's tanh approximation (GPT-2's); swiglu, geglu and geglu_tanh "
           "(T5 v1.1's) gate it with a third matrix (Shazeer 2020)",
           {"gelu", "gelu_tanh", "relu", "swiglu", "geglu", "geglu_tanh", "sigmoid", "tanh"})
      .add("positions", &O::positions,
           "position information: learned or sinusoidal embeddings added to the input, rope (rotary, on queries "
           "and keys), alibi (linear distance bias on attention), relative (T5's learned, bucketed distance bias "
           "on attention), or none",
           {"learned", "sinusoidal", "rope", "alibi", "relative", "none"})
      .add("rope_base", &O::rope_base, "rope: the base of the rotation frequencies", {.min = 1.0, .exclusive_min = true})
      .add("relative_buckets", &O::relative_buckets,
           "relative: buckets of distance per stack (half exact, half logarithmic; split by direction where "
           "attention is bidirectional)",
           {.min = 4})
      .add("relative_max_distance", &O::relative_max_distance,
           "relative: the distance from which all share the last bucket; > relative_buckets / 2", {.min = 2})
      .add("bias", &O::bias, "biases in the linear layers and layernorms")
      .add("tie_embeddings", &O::tie_embeddings, "the output head is the token embedding matrix")
      .add("scale_embeddings", &O::scale_embeddings,
           "multiply token embeddings by sqrt(d_model) and initialise them with std d_model^-0.5, so each channel "
           "has unit variance next to sinusoidal positions (the 2017 Transformer)")
      .add("embedding_dropout", &O::embedding_dropout, "dropout on the embedded input", probability)
      .add("attention_dropout", &O::attention_dropout, "dropout on the attention weights", probability)
      .add("residual_dropout", &O::residual_dropout, "dropout on each branch before it joins the residual stream",
           probability)
      .add("init", &O::init,
           "weight initialisation: normal (init_std), scaled (normal, residual projections / sqrt(2 * layers), "
           "GPT-2), xavier (uniform), kaiming (normal, fan-in)",
           {"normal", "scaled", "xavier", "kaiming"})
      .add("init_std", &O::init_std, "standard deviation of normal and scaled init, and of the embeddings",
           {.min = 0.0, .exclusive_min = true})
      .add("context_length", &O::context_length,
           "longest input and number of learned positions (0: the host's max_seq_len)", {.min = 0})
      .check("d_model must be divisible by n_heads",
             [](const O& o) { return o.head_width > 0 || o.d_model % o.n_heads == 0; })
      .check("n_heads must be divisible by n_kv_heads",
             [](const O& o) { return o.n_kv_heads == 0 || o.n_heads % o.n_kv_heads == 0; })
      .check("positions = \"rope\" needs an even head width (d_model / n_heads)",
             [](const O& o) { return o.positions != "rope" || o.head_dim() % 2 == 0; })
      .check("relative_max_distance must exceed half of relative_buckets (a causal stack's exact distances)",
             [](const O& o) { return o.relative_max_distance > o.relative_buckets / 2; })
      .check("positions = \"sinusoidal\" needs an even d_model",
             [](const O& o) { return o.positions != "sinusoidal" || o.d_model % 2 == 0; });
}

}  // namespace detail

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The projections that write a branch's output into the residual stream, by the names the
// framework's blocks give them.
bool writes_residual(std::string_view name) {
  return ends_with(name, "attention.out") || ends_with(name, "cross_attention.out") || ends_with(name, "ffn.proj");
}

}  // namespace

void initialise(torch::nn::Module& root, const TransformerOptions& o, std::int64_t residual_layers) {
  torch::NoGradGuard no_grad;
  const double scaled_std = o.init_std / std::sqrt(2.0 * static_cast<double>(std::max<std::int64_t>(residual_layers, 1)));
  for (const auto& item : root.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    torch::nn::Module& m = *item.value();
    if (auto* linear = m.as<torch::nn::Linear>()) {
      at::Tensor& w = linear->weight;
      if (o.init == "xavier") torch::nn::init::xavier_uniform_(w);
      else if (o.init == "kaiming") torch::nn::init::kaiming_normal_(w, 0.0, torch::kFanIn, torch::kReLU);
      else w.normal_(0.0, o.init == "scaled" && writes_residual(item.key()) ? scaled_std : o.init_std);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = m.as<torch::nn::Embedding>()) {
      const bool token_table = ends_with(item.key(), "tokens");
      embedding->weight.normal_(0.0, o.scale_embeddings && token_table ? 1.0 / std::sqrt(static_cast<double>(o.d_model))
                                                                       : o.init_std);
    }
  }
}

std::int64_t count_parameters(const torch::nn::Module& root) {
  std::set<const void*> seen;
  std::int64_t n = 0;
  for (const auto& p : root.parameters()) {
    if (seen.insert(p.data_ptr()).second) n += p.numel();
  }
  return n;
}

double block_flops_per_token(const TransformerOptions& o, std::int64_t self_keys, std::int64_t cross_keys) {
  const double d = static_cast<double>(o.d_model);
  const double d_kv = static_cast<double>(o.kv_heads() * o.head_dim());
  const double d_q = static_cast<double>(o.attention_width());
  const double f = static_cast<double>(o.ff_width());
  const double attention_weights = d * d_q + 2 * d * d_kv + d_q * d;  // q, k, v, out
  const double ffn_weights = d * f * (o.gated() ? 2 : 1) + f * d;
  double flops = 2 * (attention_weights + ffn_weights) + 4 * static_cast<double>(self_keys) * d_q;
  if (cross_keys > 0) flops += 2 * attention_weights + 4 * static_cast<double>(cross_keys) * d_q;
  return flops;
}

}  // namespace lmlab::nn
