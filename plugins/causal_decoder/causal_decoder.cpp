// A GPT-2 style decoder-only transformer: token and learned position embeddings, pre-LayerNorm
// blocks of causal self-attention and a GELU MLP, a final LayerNorm, and an LM head tied to the
// token embedding. Initialised as GPT-2 (and nanoGPT) do.
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/utils.h>
#include <torch/version.h>

#include "lmlab/architecture.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct DecoderOptions {
  std::int64_t d_model = 128;
  std::int64_t n_layers = 4;
  std::int64_t n_heads = 4;
  std::int64_t d_ff = 0;
  double dropout = 0.0;
  bool bias = true;
  std::int64_t context_length = 0;
};

lmlab::OptionSet<DecoderOptions> options() {
  return lmlab::OptionSet<DecoderOptions>{}
      .add("d_model", &DecoderOptions::d_model, "width of the residual stream and the embeddings", {.min = 1})
      .add("n_layers", &DecoderOptions::n_layers, "number of transformer blocks", {.min = 1})
      .add("n_heads", &DecoderOptions::n_heads, "attention heads per block; must divide d_model", {.min = 1})
      .add("d_ff", &DecoderOptions::d_ff, "hidden width of each MLP (0: 4 * d_model)", {.min = 0})
      .add("dropout", &DecoderOptions::dropout,
           "dropout on the embeddings, the attention weights and each residual branch",
           {.min = 0.0, .max = 1.0, .exclusive_max = true})
      .add("bias", &DecoderOptions::bias, "biases in the linear layers and LayerNorms")
      .add("context_length", &DecoderOptions::context_length,
           "longest input and number of learned positions (0: the host's max_seq_len)", {.min = 0})
      .check("d_model must be divisible by n_heads",
             [](const DecoderOptions& o) { return o.d_model % o.n_heads == 0; });
}

/// GPT-2's initialisation of a linear layer: normal weights, zero bias.
void init_linear(torch::nn::Linear& layer, double std) {
  torch::NoGradGuard no_grad;
  layer->weight.normal_(0.0, std);
  if (layer->bias.defined()) layer->bias.zero_();
}

/// LayerNorm whose bias can be left out, which torch::nn::LayerNorm cannot express.
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(std::int64_t dim, bool bias) : dim_(dim) {
    weight_ = register_parameter("weight", at::ones({dim}));
    if (bias) bias_ = register_parameter("bias", at::zeros({dim}));
  }

  at::Tensor forward(const at::Tensor& x) {
    return at::layer_norm(x, {dim_}, weight_, bias_, 1e-5);  // (B, T, C)
  }

 private:
  std::int64_t dim_;
  at::Tensor weight_, bias_;
};
TORCH_MODULE(LayerNorm);

/// Multi-head self-attention in which position t sees positions <= t only.
class CausalSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit CausalSelfAttentionImpl(const DecoderOptions& o) : n_heads_(o.n_heads), dropout_(o.dropout) {
    qkv_ = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, 3 * o.d_model).bias(o.bias)));
    proj_ = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.d_model).bias(o.bias)));
    resid_dropout_ = register_module("resid_dropout", torch::nn::Dropout(o.dropout));
    init_linear(qkv_, 0.02);
    // Each block adds two branches to the residual stream; scaling their output projections
    // keeps the stream's variance independent of depth (GPT-2).
    init_linear(proj_, 0.02 / std::sqrt(2.0 * static_cast<double>(o.n_layers)));
  }

  at::Tensor forward(const at::Tensor& x) {
    const std::int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = n_heads_, D = C / H;
    const std::vector<at::Tensor> qkv = qkv_(x).split(C, -1);       // 3 x (B, T, C)
    const at::Tensor q = qkv[0].view({B, T, H, D}).transpose(1, 2);  // (B, H, T, D)
    const at::Tensor k = qkv[1].view({B, T, H, D}).transpose(1, 2);  // (B, H, T, D)
    const at::Tensor v = qkv[2].view({B, T, H, D}).transpose(1, 2);  // (B, H, T, D)
    const double attn_dropout = is_training() ? dropout_ : 0.0;
#if TORCH_VERSION_MAJOR >= 2
    // The fused kernels (flash, memory-efficient) never materialise the (T, T) scores.
    const at::Tensor y =
        at::scaled_dot_product_attention(q, k, v, {}, attn_dropout, /*is_causal=*/true);  // (B, H, T, D)
#else
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(D));  // (B, H, T, T)
    // Built per call rather than registered as a buffer, so checkpoints hold parameters only.
    const at::Tensor future = at::ones({T, T}, x.options().dtype(at::kBool)).triu(1);  // (T, T) true above diagonal
    scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());     // (B, H, T, T)
    const at::Tensor weights = at::dropout(at::softmax(scores, -1), attn_dropout, is_training());  // (B, H, T, T)
    const at::Tensor y = at::matmul(weights, v);  // (B, H, T, D)
#endif
    const at::Tensor merged = y.transpose(1, 2).contiguous().view({B, T, C});  // (B, T, C)
    return resid_dropout_(proj_(merged));                                      // (B, T, C)
  }

 private:
  std::int64_t n_heads_;
  double dropout_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
  torch::nn::Dropout resid_dropout_{nullptr};
};
TORCH_MODULE(CausalSelfAttention);

/// The position-wise feed-forward network: d_model -> d_ff -> d_model with a GELU between.
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const DecoderOptions& o, std::int64_t d_ff) {
    fc_ = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, d_ff).bias(o.bias)));
    proj_ = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(d_ff, o.d_model).bias(o.bias)));
    dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
    init_linear(fc_, 0.02);
    init_linear(proj_, 0.02 / std::sqrt(2.0 * static_cast<double>(o.n_layers)));
  }

  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor h = at::gelu(fc_(x));  // (B, T, F)
    return dropout_(proj_(h));              // (B, T, C)
  }

 private:
  torch::nn::Linear fc_{nullptr}, proj_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(Mlp);

/// One pre-LayerNorm transformer block: normalising the branch inputs rather than the residual
/// stream is what lets GPT-2 train deep stacks without warm-up tricks.
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const DecoderOptions& o, std::int64_t d_ff) {
    ln_1_ = register_module("ln_1", LayerNorm(o.d_model, o.bias));
    attn_ = register_module("attn", CausalSelfAttention(o));
    ln_2_ = register_module("ln_2", LayerNorm(o.d_model, o.bias));
    mlp_ = register_module("mlp", Mlp(o, d_ff));
  }

  at::Tensor forward(at::Tensor x) {
    x = x + attn_(ln_1_(x));  // (B, T, C)
    x = x + mlp_(ln_2_(x));   // (B, T, C)
    return x;
  }

 private:
  LayerNorm ln_1_{nullptr}, ln_2_{nullptr};
  CausalSelfAttention attn_{nullptr};
  Mlp mlp_{nullptr};
};
TORCH_MODULE(Block);

class CausalDecoder final : public lmlab::Architecture {
 public:
  CausalDecoder(const DecoderOptions& o, const lmlab::ArchitectureContext& context)
      : context_length_(o.context_length > 0 ? o.context_length : context.max_seq_len) {
    if (context.vocab_size <= 0) {
      throw std::invalid_argument(fmt::format("causal_decoder needs a vocabulary size, got {}", context.vocab_size));
    }
    if (context_length_ <= 0) {
      throw std::invalid_argument(
          "causal_decoder: context_length is 0 (use the host's max_seq_len) but the host gave no max_seq_len");
    }
    const std::int64_t d_ff = o.d_ff > 0 ? o.d_ff : 4 * o.d_model;
    wte_ = register_module("wte", torch::nn::Embedding(context.vocab_size, o.d_model));
    wpe_ = register_module("wpe", torch::nn::Embedding(context_length_, o.d_model));
    dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
    blocks_list_ = register_module("blocks", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < o.n_layers; ++i) {
      blocks_.push_back(Block(o, d_ff));
      blocks_list_->push_back(blocks_.back());
    }
    ln_f_ = register_module("ln_f", LayerNorm(o.d_model, o.bias));
    torch::NoGradGuard no_grad;
    wte_->weight.normal_(0.0, 0.02);
    wpe_->weight.normal_(0.0, 0.02);
  }

  at::Tensor forward(const lmlab::ModelInput& input) override {
    const at::Tensor& tokens = input.tokens;  // (B, T)
    if (!tokens.defined() || tokens.dim() != 2 || tokens.size(1) < 1) {
      throw std::invalid_argument("causal_decoder expects (B, T) token ids with T >= 1");
    }
    const std::int64_t T = tokens.size(1);
    if (T > context_length_) {
      throw std::invalid_argument(fmt::format("causal_decoder: input of {} tokens is longer than the context "
                                              "length {} (set context_length, or feed shorter windows)",
                                              T, context_length_));
    }
    const at::Tensor positions = at::arange(T, tokens.options().dtype(at::kLong));  // (T)
    at::Tensor x = dropout_(wte_(tokens) + wpe_(positions));                        // (B, T, C)
    for (auto& block : blocks_) x = block(x);                                       // (B, T, C)
    x = ln_f_(x);                                                                   // (B, T, C)
    // Tied head: the output projection is the token embedding itself, which saves V * C
    // parameters and ties the input and output representations of each token.
    return at::linear(x, wte_->weight);  // (B, T, V)
  }

  std::int64_t context_length() const override { return context_length_; }

 private:
  std::int64_t context_length_;
  torch::nn::Embedding wte_{nullptr}, wpe_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::ModuleList blocks_list_{nullptr};
  std::vector<Block> blocks_;  // the blocks of blocks_list_, typed, for forward
  LayerNorm ln_f_{nullptr};
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Architecture>("causal_decoder",
                             "GPT-2 style decoder: pre-LayerNorm causal attention blocks, learned positions, "
                             "tied embeddings",
                             options(), [](const DecoderOptions& o, const lmlab::ArchitectureContext& context) {
                               return std::make_shared<CausalDecoder>(o, context);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
