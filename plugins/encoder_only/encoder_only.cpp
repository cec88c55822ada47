// The encoder-only transformer of BERT: every position sees every other, so it reconstructs
// masked tokens from both sides but cannot generate left to right. Besides the token logits it
// returns BERT's pooled first token (tanh of a linear map of its final state) for
// sequence-level heads. The model is the framework's SingleStackModel without a mask; this
// plugin declares its options, presets and capabilities.
#include <memory>

#include "lmlab/nn/single_stack.hpp"
#include "lmlab/plugin.hpp"

namespace {

using lmlab::nn::TransformerOptions;

lmlab::OptionSet<TransformerOptions> options() {
  lmlab::OptionSet<TransformerOptions> set;
  lmlab::nn::add_transformer_options(
      set, {{"bert", "BERT (Devlin et al. 2019): post-LayerNorm, GELU, learned positions, tied head, 0.1 dropout",
             toml::table{{"norm", "layernorm"}, {"norm_position", "post"}, {"activation", "gelu"},
                         {"positions", "learned"}, {"bias", true}, {"tie_embeddings", true}, {"init", "normal"},
                         {"init_std", 0.02}, {"norm_eps", 1e-12}, {"embedding_dropout", 0.1},
                         {"attention_dropout", 0.1}, {"residual_dropout", 0.1}}}});
  return set;
}

void register_plugins(lmlab::Registrar& r) {
  const lmlab::Capabilities capabilities{.bidirectional = true};
  r.add<lmlab::Architecture>(
      "encoder_only", "encoder-only transformer (BERT): every position sees every other; token logits and a pooled "
      "first token",
      options(),
      [capabilities](const TransformerOptions& o, const lmlab::ArchitectureContext& context) {
        return std::make_shared<lmlab::nn::SingleStackModel>(
            o, context,
            lmlab::nn::SingleStackFamily{"encoder_only", lmlab::nn::MaskKind::bidirectional, capabilities, true});
      },
      {.provides = capabilities});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
