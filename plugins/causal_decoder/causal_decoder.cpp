// The decoder-only transformer of GPT and LLaMA: every position sees itself and the positions
// before it, so one forward pass trains every next-token prediction of a sequence. The model is
// the framework's SingleStackModel under a causal mask; this plugin declares its options,
// presets and capabilities.
#include <memory>

#include "lmlab/nn/single_stack.hpp"
#include "lmlab/plugin.hpp"

namespace {

using lmlab::nn::TransformerOptions;

struct CausalDecoderOptions : TransformerOptions {
  std::int64_t predicted_vocab = 0;  // 0: every id the tokenizer has
};

lmlab::OptionSet<CausalDecoderOptions> options() {
  lmlab::OptionSet<CausalDecoderOptions> set;
  set.add("predicted_vocab", &CausalDecoderOptions::predicted_vocab,
          "0: every id is predicted. Otherwise a published model's own vocabulary size: the ids a tokenizer "
          "appends after it (pad, mask, sentinels) keep their embedding rows but get logit -inf, as the published "
          "model never predicts them (set by lmlab import)",
          {.min = 0});
  // Left out of the resolved config at 0, so that the configs (and hashes) of every model made
  // before the option existed stay as they were.
  set.omitted_at_default();
  lmlab::nn::add_transformer_options(
      set, {{"gpt2", "GPT-2 (Radford et al. 2019): pre-LayerNorm, GELU, learned positions, tied head, 0.1 dropout",
             toml::table{{"norm", "layernorm"}, {"norm_position", "pre"}, {"activation", "gelu"},
                         {"positions", "learned"}, {"bias", true}, {"tie_embeddings", true}, {"init", "scaled"},
                         {"init_std", 0.02}, {"norm_eps", 1e-5}, {"embedding_dropout", 0.1},
                         {"attention_dropout", 0.1}, {"residual_dropout", 0.1}}},
            {"llama", "LLaMA (Touvron et al. 2023): pre-RMSNorm, SwiGLU, RoPE, no biases, untied head, no dropout",
             toml::table{{"norm", "rmsnorm"}, {"norm_position", "pre"}, {"activation", "swiglu"},
                         {"positions", "rope"}, {"rope_base", 10000.0}, {"bias", false}, {"tie_embeddings", false},
                         {"init", "normal"}, {"init_std", 0.02}, {"norm_eps", 1e-6}, {"embedding_dropout", 0.0},
                         {"attention_dropout", 0.0}, {"residual_dropout", 0.0}}}});
  return set;
}

void register_plugins(lmlab::Registrar& r) {
  const lmlab::Capabilities capabilities{.generates = true};
  r.add<lmlab::Architecture>(
      "causal_decoder", "decoder-only transformer (GPT, LLaMA): each position sees itself and earlier ones",
      options(),
      [capabilities](const CausalDecoderOptions& o, const lmlab::ArchitectureContext& context) {
        return std::make_shared<lmlab::nn::SingleStackModel>(
            o, context, lmlab::nn::SingleStackFamily{"causal_decoder", lmlab::nn::MaskKind::causal, capabilities,
                                                      /*pooler=*/false, o.predicted_vocab});
      },
      {.provides = capabilities});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
