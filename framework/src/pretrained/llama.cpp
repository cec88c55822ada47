// LLaMA (Hugging Face's LlamaForCausalLM layout) and the descendants that share it (Mistral
// without a sliding window) as lmlab's causal_decoder: pre-RMSNorm, SwiGLU, rotary positions in
// the rotate-half layout (Hugging Face's checkpoints are stored permuted for it, as lmlab's rotary
// expects), grouped-query attention, no biases. The gate and up projections become the two halves
// of lmlab's one gated fc matrix, gate first.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "pretrained/hf_config.hpp"
#include "pretrained/hf_tokenizer_json.hpp"
#include "pretrained/hf_translation.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

void llama_requirements(HfConfig& config, std::int64_t head_dim) {
  config.require("hidden_act", "silu", "lmlab's gated MLP is SwiGLU (silu)");
  config.require("rope_scaling", nullptr, "lmlab's rotary positions have no scaling (linear, dynamic, yarn, llama3)");
  config.require("attention_bias", false, "lmlab's bias setting covers every layer, and LLaMA has none");
  config.require("mlp_bias", false, "lmlab's bias setting covers every layer, and LLaMA has none");
  config.require("head_dim", head_dim, "lmlab's head width is hidden_size / num_attention_heads");
  config.require("sliding_window", nullptr, "lmlab's attention sees the whole context (no sliding window)");
  config.require("attention_dropout", 0.0, "LLaMA trains without attention dropout, and so does this import");
  // pretraining_tp > 1 splits HF's products into slices: the same sums in another order.
  config.ignore({"architectures", "model_type", "torch_dtype", "transformers_version", "_name_or_path",
                 "bos_token_id", "eos_token_id", "pad_token_id", "use_cache", "initializer_range", "pretraining_tp",
                 "max_sequence_length", "id2label", "label2id", "return_dict", "output_hidden_states",
                 "output_attentions"});
}

// LLaMA-1/2's SentencePiece tokenizer.model, or, where only tokenizer.json is there (LLaMA 3), its
// byte-level BPE for the bpe plugin (hf_tokenizer_json.hpp). Returns data.tokenizer's name.
std::string llama_tokenizer(HfConfig& config, const fs::path& folder, std::int64_t sentinels, toml::table& options) {
  const fs::path model = folder / "tokenizer.model", json = folder / "tokenizer.json";
  if (fs::exists(model)) {
    options = toml::table{{"model", fs::absolute(model).lexically_normal().string()}, {"sentinels", sentinels}};
    return "sentencepiece";
  }
  if (!fs::exists(json)) {
    throw DataError(fmt::format("{}: has neither tokenizer.model (LLaMA-1/2's SentencePiece model) nor "
                                "tokenizer.json",
                                folder.string()));
  }
  options = convert_tokenizer_json(json, config.optional_integer("eos_token_id").value_or(-1));
  options.insert_or_assign("sentinels", sentinels);
  return "bpe";
}

void llama_layer(HfTranslation& tr, std::int64_t i, std::int64_t C, std::int64_t C_kv, std::int64_t F) {
  const std::string l = fmt::format("model.layers.{}.", i), m = fmt::format("blocks.{}.", i);
  tr.weights[m + "attention_norm.weight"] = {{l + "input_layernorm.weight"}, as_is};
  tr.weights[m + "ffn_norm.weight"] = {{l + "post_attention_layernorm.weight"}, as_is};
  tr.shapes[l + "input_layernorm.weight"] = tr.shapes[l + "post_attention_layernorm.weight"] = {C};
  const std::vector<std::tuple<std::string, std::string, std::int64_t>> projections = {
      {"q_proj", "query", C}, {"k_proj", "key", C_kv}, {"v_proj", "value", C_kv}, {"o_proj", "out", C}};
  for (const auto& [from, to, out] : projections) {
    tr.weights[m + "attention." + to + ".weight"] = {{l + "self_attn." + from + ".weight"}, as_is};
    tr.shapes[l + "self_attn." + from + ".weight"] = {out, C};
  }
  tr.weights[m + "ffn.fc.weight"] = {{l + "mlp.gate_proj.weight", l + "mlp.up_proj.weight"},
                                     [](const std::vector<at::Tensor>& t) {
                                       return at::cat({t[0], t[1]}, 0);  // (2F, C): gate rows, then up rows
                                     }};
  tr.weights[m + "ffn.proj.weight"] = {{l + "mlp.down_proj.weight"}, as_is};
  tr.shapes[l + "mlp.gate_proj.weight"] = tr.shapes[l + "mlp.up_proj.weight"] = {F, C};
  tr.shapes[l + "mlp.down_proj.weight"] = {C, F};
}

}  // namespace

HfTranslation translate_llama(HfConfig& config, const fs::path& folder, const SafetensorsSet& weights) {
  HfTranslation tr;
  tr.family = config.model_type();
  const std::int64_t V = config.positive("vocab_size"), C = config.positive("hidden_size"),
                     L = config.positive("num_hidden_layers"), H = config.positive("num_attention_heads"),
                     F = config.positive("intermediate_size"), P = config.positive("max_position_embeddings");
  const std::int64_t H_kv = config.optional_integer("num_key_value_heads").value_or(H);
  if (C % H != 0) config.refuse("num_attention_heads", fmt::format("must divide hidden_size = {}", C));
  if (L > static_cast<std::int64_t>(weights.names().size())) {
    config.refuse("num_hidden_layers", fmt::format("more layers than the {} tensors stored", weights.names().size()));
  }
  if (H_kv <= 0 || H % H_kv != 0) {
    config.refuse("num_key_value_heads", fmt::format("must divide num_attention_heads = {}", H));
  }
  if ((C / H) % 2 != 0) config.refuse("num_attention_heads", "rotary positions need an even head width");
  const bool tied = config.flag("tie_word_embeddings", false);
  tr.model = toml::table{{"arch", "causal_decoder"}, {"d_model", C}, {"n_layers", L}, {"n_heads", H},
                         {"n_kv_heads", H_kv}, {"d_ff", F}, {"norm", "rmsnorm"}, {"norm_position", "pre"},
                         {"norm_eps", config.number("rms_norm_eps", 1e-6)}, {"activation", "swiglu"},
                         {"positions", "rope"}, {"rope_base", config.number("rope_theta", 10000.0)},
                         {"bias", false}, {"tie_embeddings", tied}, {"scale_embeddings", false},
                         {"context_length", P}, {"embedding_dropout", 0.0}, {"attention_dropout", 0.0},
                         {"residual_dropout", 0.0}, {"init", "normal"}, {"init_std", 0.02},
                         {"predicted_vocab", V}};
  llama_requirements(config, C / H);
  const std::int64_t sentinels = lmlab_sentinels(config);
  config.finish(tr.family);
  tr.vocab_size = V;
  tr.context_length = P;
  tr.tokenizer = llama_tokenizer(config, folder, sentinels, tr.tokenizer_options);

  tr.weights["embeddings.tokens.weight"] = {{"model.embed_tokens.weight"}, as_is, /*vocab_rows=*/true};
  tr.shapes["model.embed_tokens.weight"] = tr.shapes["lm_head.weight"] = {V, C};
  for (std::int64_t i = 0; i < L; ++i) llama_layer(tr, i, C, H_kv * (C / H), F);
  tr.weights["final_norm.weight"] = {{"model.norm.weight"}, as_is};
  tr.shapes["model.norm.weight"] = {C};
  if (tied) {
    tr.checks.push_back(tied_head_check("lm_head.weight", "model.embed_tokens.weight"));
  } else {
    tr.weights["head.weight"] = {{"lm_head.weight"}, as_is, /*vocab_rows=*/true};
  }
  // Rotary tables some conversions saved with the weights; lmlab computes them from rope_theta.
  tr.ignorable = [](const std::string& name) {
    return name.ends_with(".self_attn.rotary_emb.inv_freq");
  };
  return tr;
}

}  // namespace lmlab::pretrained
