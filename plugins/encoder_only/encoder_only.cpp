// The encoder-only transformer of BERT: every position sees every other, so it reconstructs
// masked tokens from both sides but cannot generate left to right. Besides the token logits it
// returns BERT's pooled first token (tanh of a linear map of its final state) for
// sequence-level heads. The model is the framework's SingleStackModel without a mask; this
// plugin declares its options, presets and capabilities. The options that complete Hugging
// Face's BERT (segment table, embedding norm, MLM head transform and bias; lmlab import sets them)
// are left out of the resolved config at their defaults, so configs written before them keep
// their hashes.
#include <memory>

#include "lmlab/nn/single_stack.hpp"
#include "lmlab/plugin.hpp"

namespace {

using lmlab::nn::TransformerOptions;

struct EncoderOnlyOptions : TransformerOptions {
  bool pooler = true;
  std::int64_t predicted_vocab = 0;  // 0: every id the tokenizer has
};

void add_bert_parts(lmlab::OptionSet<EncoderOnlyOptions>& set) {
  using O = EncoderOnlyOptions;
  set.add("token_types", &O::token_types,
          "0: none. Otherwise rows of a segment (token type) table, BERT's type_vocab_size; lmlab feeds one "
          "segment, so the first row is added at every position",
          {.min = 0, .max = 1024})
      .omitted_at_default()
      .add("embedding_norm", &O::embedding_norm,
           "a norm (of `norm`'s kind) over the summed embeddings before their dropout, as BERT has")
      .omitted_at_default()
      .add("head_transform", &O::head_transform,
           "BERT's MLM head transform: a d_model x d_model linear map, the activation and a norm between the last "
           "block and the logits")
      .omitted_at_default()
      .add("head_bias", &O::head_bias, "a learned bias on the logits (BERT's MLM output bias)")
      .omitted_at_default()
      .add("pooler", &O::pooler,
           "BERT's pooler (tanh of a linear map of the first token's final state) for sequence-level heads; "
           "Hugging Face's BertForMaskedLM has none")
      .omitted_at_default()
      .add("predicted_vocab", &O::predicted_vocab,
           "0: every id is predicted. Otherwise a published model's own vocabulary size: the ids a tokenizer "
           "appends after it (pad, mask, sentinels) keep their embedding rows but get logit -inf (set by lmlab import)",
           {.min = 0})
      .omitted_at_default()
      .check("head_transform needs an activation without a gate (not swiglu or geglu)",
             [](const O& o) { return !o.head_transform || !o.gated(); });
}

lmlab::OptionSet<EncoderOnlyOptions> options() {
  lmlab::OptionSet<EncoderOnlyOptions> set;
  add_bert_parts(set);
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
      [capabilities](const EncoderOnlyOptions& o, const lmlab::ArchitectureContext& context) {
        return std::make_shared<lmlab::nn::SingleStackModel>(
            o, context,
            lmlab::nn::SingleStackFamily{"encoder_only", lmlab::nn::MaskKind::bidirectional, capabilities, o.pooler,
                                         o.predicted_vocab});
      },
      {.provides = capabilities});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
