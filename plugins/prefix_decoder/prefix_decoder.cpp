// The prefix decoder (non-causal decoder) of ChatGLM and U-PaLM: one stack in which the positions
// of a prefix see each other in both directions and the positions after it see causally. The
// prefix length comes with each example (ModelInput::prefix_lengths; none given: an empty
// prefix, so the model is a causal decoder). The model is the framework's SingleStackModel
// under a prefix mask; this plugin declares its options, presets and capabilities.
#include <memory>

#include "lmlab/nn/single_stack.hpp"
#include "lmlab/plugin.hpp"

namespace {

using lmlab::nn::TransformerOptions;

lmlab::OptionSet<TransformerOptions> options() {
  lmlab::OptionSet<TransformerOptions> set;
  lmlab::nn::add_transformer_options(
      set, {{"chatglm",
             "ChatGLM-6B style (Du et al. 2022): pre-LayerNorm, GELU, rotary positions, biases, untied head; "
             "GLM's 2D positions and DeepNorm scaling are not reproduced",
             toml::table{{"norm", "layernorm"}, {"norm_position", "pre"}, {"activation", "gelu"},
                         {"positions", "rope"}, {"rope_base", 10000.0}, {"bias", true}, {"tie_embeddings", false},
                         {"init", "normal"}, {"init_std", 0.02}, {"norm_eps", 1e-5}, {"embedding_dropout", 0.0},
                         {"attention_dropout", 0.0}, {"residual_dropout", 0.0}}}});
  return set;
}

void register_plugins(lmlab::Registrar& r) {
  const lmlab::Capabilities capabilities{.generates = true, .bidirectional = true, .prefix = true};
  r.add<lmlab::Architecture>(
      "prefix_decoder",
      "prefix decoder (ChatGLM, U-PaLM): bidirectional inside each example's prefix, causal after it", options(),
      [capabilities](const TransformerOptions& o, const lmlab::ArchitectureContext& context) {
        return std::make_shared<lmlab::nn::SingleStackModel>(
            o, context, lmlab::nn::SingleStackFamily{"prefix_decoder", lmlab::nn::MaskKind::prefix, capabilities});
      },
      {.provides = capabilities});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
