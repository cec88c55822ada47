// The encoder-decoder transformer of T5, BART and the 2017 Transformer: a bidirectional encoder
// reads the input (ModelInput::encoder_tokens), and a causal decoder predicts the target, each
// of its blocks attending to the encoder's output through cross-attention. Each token passes
// through one stack, so L + L layers cost about what L layers of a decoder-only model do on the
// concatenated input and target, with twice the parameters (T5, section 3.2.2).
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/nn/linear.hpp"
#include "lmlab/nn/single_stack.hpp"
#include "lmlab/plugin.hpp"

namespace {

using lmlab::nn::TransformerOptions;

struct EncoderDecoderOptions : TransformerOptions {
  std::int64_t n_encoder_layers = 0;  // 0: n_layers
  std::int64_t n_decoder_layers = 0;  // 0: n_layers
  bool share_embeddings = true;
  bool share_layers = false;
  bool rescale_tied_head = false;  // T5: the decoder output x d_model^-0.5 before the tied head

  std::int64_t encoder_layers() const { return n_encoder_layers > 0 ? n_encoder_layers : n_layers; }
  std::int64_t decoder_layers() const { return n_decoder_layers > 0 ? n_decoder_layers : n_layers; }
};

toml::table post_norm_preset(const char* activation, const char* positions, const char* init) {
  return toml::table{{"norm", "layernorm"}, {"norm_position", "post"}, {"activation", activation},
                     {"positions", positions}, {"bias", true}, {"tie_embeddings", true}, {"share_embeddings", true},
                     {"init", init}, {"init_std", 0.02}, {"norm_eps", 1e-5}, {"embedding_dropout", 0.1},
                     {"attention_dropout", 0.0}, {"residual_dropout", 0.1}};
}

toml::table with_scaled_embeddings(toml::table preset) {
  preset.insert_or_assign("scale_embeddings", true);
  return preset;
}

// What Hugging Face's T5 computes beyond the t5 preset (lmlab import sets them); each is left out
// of the resolved config at its default, so existing encoder_decoder configs keep their hashes.
void add_t5_parts(lmlab::OptionSet<EncoderDecoderOptions>& set) {
  using O = EncoderDecoderOptions;
  set.add("head_width", &O::head_width,
          "0: d_model / n_heads. Otherwise each attention head's width, so that the heads' inner width "
          "n_heads * head_width may differ from d_model (T5's d_kv)",
          {.min = 0})
      .omitted_at_default()
      .add("scale_attention", &O::scale_attention,
           "divide attention scores by sqrt(head width); T5 does not (its initialisation folds the factor in)")
      .omitted_at_default()
      .add("rescale_tied_head", &O::rescale_tied_head,
           "with tie_embeddings, multiply the decoder's output by d_model^-0.5 before the tied head (T5)")
      .omitted_at_default();
}

lmlab::OptionSet<EncoderDecoderOptions> options() {
  using O = EncoderDecoderOptions;
  lmlab::OptionSet<O> set;
  set.add("n_encoder_layers", &O::n_encoder_layers, "encoder blocks (0: n_layers)", {.min = 0})
      .add("n_decoder_layers", &O::n_decoder_layers, "decoder blocks (0: n_layers)", {.min = 0})
      .add("share_embeddings", &O::share_embeddings, "encoder and decoder read one token embedding table")
      .add("share_layers", &O::share_layers,
           "decoder block i uses encoder block i's self-attention, MLP and their norms (T5's 'Enc-dec, shared'); "
           "needs as many encoder as decoder blocks");
  add_t5_parts(set);
  lmlab::nn::add_transformer_options(
      set,
      {{"t5",
        "T5 (Raffel et al. 2020): pre-RMSNorm, ReLU, relative position bias (32 buckets to distance 128), no "
        "biases, shared and tied embeddings, 0.1 dropout",
        toml::table{{"norm", "rmsnorm"}, {"norm_position", "pre"}, {"activation", "relu"}, {"positions", "relative"},
                    {"relative_buckets", 32}, {"relative_max_distance", 128},
                    {"bias", false}, {"tie_embeddings", true}, {"share_embeddings", true}, {"init", "normal"},
                    {"init_std", 0.02}, {"norm_eps", 1e-6}, {"embedding_dropout", 0.1}, {"attention_dropout", 0.1},
                    {"residual_dropout", 0.1}}},
       {"bart", "BART (Lewis et al. 2020): post-LayerNorm, GELU, learned positions, shared and tied embeddings",
        post_norm_preset("gelu", "learned", "normal")},
       {"transformer",
        "the 2017 Transformer (Vaswani et al.): post-LayerNorm, ReLU, sinusoidal positions, shared, tied and "
        "sqrt(d_model)-scaled embeddings, Xavier init, 0.1 dropout on embeddings and residual branches",
        with_scaled_embeddings(post_norm_preset("relu", "sinusoidal", "xavier"))}});
  return set;
}

class EncoderDecoder final : public lmlab::Architecture {
 public:
  EncoderDecoder(const EncoderDecoderOptions& o, const lmlab::ArchitectureContext& context)
      : o_(o),
        vocab_size_(context.vocab_size),
        context_length_(lmlab::nn::resolve_context_length("encoder_decoder", o, context)) {
    using lmlab::nn::Embeddings;
    using lmlab::nn::TransformerBlock;
    encoder_embeddings_ = register_module("encoder_embeddings", Embeddings(vocab_size_, o, context_length_));
    decoder_embeddings_ = register_module(
        "decoder_embeddings",
        Embeddings(vocab_size_, o, context_length_, o.share_embeddings ? encoder_embeddings_->tokens : nullptr));
    // T5 gives each stack its own table: the encoder's buckets look both ways, the decoder's back.
    if (auto bias = lmlab::nn::make_relative_bias(o, /*bidirectional=*/true)) {
      encoder_relative_bias_ = register_module("encoder_relative_bias", bias);
      decoder_relative_bias_ = register_module("decoder_relative_bias", lmlab::nn::make_relative_bias(o, false));
    }
    encoder_list_ = register_module("encoder", torch::nn::ModuleList());
    decoder_list_ = register_module("decoder", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < o.encoder_layers(); ++i) {
      encoder_.push_back(TransformerBlock(o, /*cross_attention=*/false));
      encoder_list_->push_back(encoder_.back());
    }
    if (o.share_layers && o.encoder_layers() != o.decoder_layers()) {
      throw lmlab::ConfigError(fmt::format("model.share_layers needs as many encoder as decoder blocks; got {} and {}",
                                           o.encoder_layers(), o.decoder_layers()));
    }
    for (std::int64_t i = 0; i < o.decoder_layers(); ++i) {
      decoder_.push_back(TransformerBlock(o, /*cross_attention=*/true));
      if (o.share_layers) {
        // T5's shared variant (section 3.2.2): one stack of weights read twice, so P parameters
        // at the cost of L + L layers; cross-attention (and its norm) stays the decoder's own.
        // The shared modules stay registered under the encoder only: registered twice, every
        // parameter would be listed twice, and a global-norm clip would count it twice.
        auto& mine = *decoder_.back();
        const auto& theirs = *encoder_[static_cast<std::size_t>(i)];
        for (const char* name : {"attention", "attention_norm", "ffn", "ffn_norm"}) mine.unregister_module(name);
        mine.attention = theirs.attention;
        mine.attention_norm = theirs.attention_norm;
        mine.ffn = theirs.ffn;
        mine.ffn_norm = theirs.ffn_norm;
      }
      decoder_list_->push_back(decoder_.back());
    }
    if (o.pre_norm()) {
      encoder_norm_ = register_module("encoder_norm", lmlab::nn::Norm(o.norm, o.d_model, o.bias, o.norm_eps));
      decoder_norm_ = register_module("decoder_norm", lmlab::nn::Norm(o.norm, o.d_model, o.bias, o.norm_eps));
    }
    if (!o.tie_embeddings) {
      head_ = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, vocab_size_).bias(false)));
    }
    // GPT-2's residual scaling by the deeper stack's depth, for both stacks (docs/architectures.md).
    lmlab::nn::initialise(*this, o, std::max(o.encoder_layers(), o.decoder_layers()));
  }

  lmlab::ModelOutput forward(const lmlab::ModelInput& input) override {
    lmlab::KvCache* cache = input.cache;
    lmlab::CacheGuard guard(cache);  // a failed pass leaves an empty cache, not a half-updated one
    lmlab::ModelOutput out;
    at::Tensor memory, memory_valid;  // (B, S, C), (B, S)
    if (!cache || !cache->has_memory()) {
      memory = encode(input, out);  // (B, S, C)
      memory_valid = input.encoder_padding_mask;
      if (cache) {
        cache->memory_mask =
            memory_valid.defined()
                ? memory_valid.to(at::kBool)                                                                // (B, S)
                : at::ones({memory.size(0), memory.size(1)}, input.encoder_tokens.options().dtype(at::kBool));  // (B, S)
        cache->self.resize(decoder_.size());
        cache->cross.resize(decoder_.size());
      }
    } else {
      memory_valid = cache->memory_mask;  // the encoder ran at the first step; its keys and values are cached
      if (cache->self.empty()) cache->self.resize(decoder_.size());  // the decoder's past was cleared (a refill)
    }

    const at::Tensor& tokens = input.tokens;  // (B, T)
    lmlab::nn::check_tokens("encoder_decoder", "tokens (the decoder input)", tokens, input.padding_mask);
    const std::int64_t B = tokens.size(0), T = tokens.size(1), past = cache ? cache->length() : 0;
    const std::int64_t encoder_batch = memory_valid.defined() ? memory_valid.size(0) : memory.size(0);
    if (encoder_batch != B) {
      throw std::invalid_argument(fmt::format(
          "encoder_decoder: encoder and decoder inputs have different batch sizes ({} and {})", encoder_batch, B));
    }
    check_length("decoder", past + T);
    const lmlab::nn::SelfAttentionLayout layout =
        lmlab::nn::lay_out_pass(lmlab::nn::MaskKind::causal, input.padding_mask, {}, B, T, tokens.device(), cache);
    const lmlab::nn::AttentionInputs self_inputs =
        lmlab::nn::stack_attention_inputs(o_, layout, decoder_relative_bias_);
    const lmlab::nn::AttentionInputs cross_inputs =
        lmlab::nn::cross_attention_inputs(input.padding_mask, memory_valid);
    at::Tensor x = decoder_embeddings_(tokens, layout.query_positions);  // (B, T, C)
    for (std::size_t i = 0; i < decoder_.size(); ++i) {
      x = decoder_[i](x, self_inputs, cache ? &cache->self[i] : nullptr, memory, cross_inputs,
                      cache ? &cache->cross[i] : nullptr);  // (B, T, C)
      if (input.return_layers) out.layers.push_back(x);
    }
    if (decoder_norm_) x = decoder_norm_(x);  // (B, T, C)
    if (input.return_hidden) out.hidden = x;
    // T5 ties its head only with the output scaled down, as its embeddings are not.
    if (!head_ && o_.rescale_tied_head) x = x * std::pow(static_cast<double>(o_.d_model), -0.5);  // (B, T, C)
    out.logits = head_ ? lmlab::nn::linear(x, *head_) : lmlab::nn::linear(x, decoder_embeddings_->tokens->weight);  // (B, T, V)
    guard.release();
    return out;
  }

  std::int64_t context_length() const override { return context_length_; }
  lmlab::Capabilities capabilities() const override { return kCapabilities; }

  lmlab::Accounting accounting() const override {
    lmlab::Accounting a;
    a.parameters = lmlab::nn::count_parameters(*this);
    const std::int64_t V = vocab_size_, C = o_.d_model, n = context_length_;
    a.embedding_parameters = V * C * (o_.share_embeddings ? 1 : 2) +
                             (encoder_embeddings_->learned_positions ? 2 * n * C : 0) + (head_ ? V * C : 0);
    // Per token of an example of n input and n target tokens: half the tokens pass the encoder,
    // half the decoder (with cross-attention over n keys) and the output head.
    const double encoder = static_cast<double>(encoder_.size()) * lmlab::nn::block_flops_per_token(o_, n);
    const double decoder = static_cast<double>(decoder_.size()) * lmlab::nn::block_flops_per_token(o_, n, n) +
                           2.0 * static_cast<double>(V * C);
    a.flops_per_token = (encoder + decoder) / 2;
    return a;
  }

  static constexpr lmlab::Capabilities kCapabilities{.generates = true, .bidirectional = true, .has_encoder = true};

 private:
  at::Tensor encode(const lmlab::ModelInput& input, lmlab::ModelOutput& out) {
    const at::Tensor& tokens = input.encoder_tokens;  // (B, S)
    lmlab::nn::check_tokens("encoder_decoder", "encoder_tokens", tokens, input.encoder_padding_mask);
    const std::int64_t B = tokens.size(0), S = tokens.size(1);
    check_length("encoder", S);
    const lmlab::nn::SelfAttentionLayout layout = lmlab::nn::lay_out_pass(
        lmlab::nn::MaskKind::bidirectional, input.encoder_padding_mask, {}, B, S, tokens.device(), nullptr);
    const lmlab::nn::AttentionInputs inputs = lmlab::nn::stack_attention_inputs(o_, layout, encoder_relative_bias_);
    at::Tensor m = encoder_embeddings_(tokens, layout.query_positions);  // (B, S, C)
    for (auto& block : encoder_) {
      m = block(m, inputs, nullptr);  // (B, S, C)
      if (input.return_layers) out.layers.push_back(m);
    }
    return encoder_norm_ ? encoder_norm_(m) : m;  // (B, S, C)
  }

  void check_length(const char* stack, std::int64_t length) const {
    if (length > context_length_) {
      throw std::invalid_argument(fmt::format("encoder_decoder: {} tokens for the {} exceed the context length {} "
                                              "(set context_length, or feed shorter inputs)",
                                              length, stack, context_length_));
    }
  }

  EncoderDecoderOptions o_;
  std::int64_t vocab_size_, context_length_;
  lmlab::nn::Embeddings encoder_embeddings_{nullptr}, decoder_embeddings_{nullptr};
  lmlab::nn::RelativePositionBias encoder_relative_bias_{nullptr}, decoder_relative_bias_{nullptr};
  torch::nn::ModuleList encoder_list_{nullptr}, decoder_list_{nullptr};
  std::vector<lmlab::nn::TransformerBlock> encoder_, decoder_;
  lmlab::nn::Norm encoder_norm_{nullptr}, decoder_norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Architecture>(
      "encoder_decoder",
      "encoder-decoder transformer (T5, BART, the 2017 Transformer): a bidirectional encoder reads the input, a "
      "causal decoder with cross-attention predicts the target",
      options(),
      [](const EncoderDecoderOptions& o, const lmlab::ArchitectureContext& context) {
        return std::make_shared<EncoderDecoder>(o, context);
      },
      {.provides = EncoderDecoder::kCapabilities});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
