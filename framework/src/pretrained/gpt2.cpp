// GPT-2 (Hugging Face's GPT2LMHeadModel layout) as lmlab's causal_decoder: pre-LayerNorm blocks,
// learned positions, biases everywhere, tied head. Its Conv1D layers store weights as (in, out),
// the transpose of a Linear's, and its attention keeps query, key and value in one c_attn matrix.
#include <regex>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "pretrained/hf_config.hpp"
#include "pretrained/hf_tokenizer_json.hpp"
#include "pretrained/hf_translation.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

// Hugging Face's activation names for GPT-2 and lmlab's for the same function.
std::string gpt2_activation(HfConfig& config) {
  const std::string name = config.text("activation_function", "gelu_new");
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return "gelu_tanh";
  if (name == "gelu" || name == "relu" || name == "tanh" || name == "sigmoid") return name;
  config.refuse("activation_function", "lmlab has gelu_new, gelu_pytorch_tanh, gelu_fast (all the tanh GELU), gelu, "
                                       "relu, tanh and sigmoid");
}

// Settings GPT-2's code has that lmlab's blocks do not, each allowed only at the value lmlab computes.
void gpt2_requirements(HfConfig& config) {
  config.require("scale_attn_weights", true, "lmlab always divides attention scores by sqrt(head width)");
  config.require("scale_attn_by_inverse_layer_idx", false, "lmlab does not scale scores by 1 / (layer + 1)");
  config.require("add_cross_attention", false, "a causal decoder has no cross-attention");
  config.require("rotary", nullptr, "GPT-2 has learned positions");
  // fp16 overflow protection only; lmlab's attention scores are float32 anyway.
  config.ignore({"reorder_and_upcast_attn"});
  config.ignore({"architectures", "model_type", "torch_dtype", "transformers_version", "_name_or_path", "n_ctx",
                 "bos_token_id", "eos_token_id", "pad_token_id", "use_cache", "initializer_range",
                 "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels",
                 "summary_first_dropout", "task_specific_params", "output_past", "gradient_checkpointing",
                 "id2label", "label2id", "return_dict", "output_hidden_states", "output_attentions"});
}

// vocab.json + merges.txt, or, where only tokenizer.json is there, its BPE model written out as
// those two files (hf_tokenizer_json.hpp).
toml::table gpt2_tokenizer(HfConfig& config, const fs::path& folder, std::int64_t sentinels) {
  const fs::path vocab = folder / "vocab.json", merges = folder / "merges.txt", json = folder / "tokenizer.json";
  if (fs::exists(vocab) && fs::exists(merges)) {
    return toml::table{{"encoder", fs::absolute(vocab).lexically_normal().string()},
                       {"merges", fs::absolute(merges).lexically_normal().string()},
                       {"sentinels", sentinels}};
  }
  if (!fs::exists(json)) {
    throw DataError(fmt::format("{}: GPT-2's tokenizer is vocab.json and merges.txt, or tokenizer.json, and the folder "
                                "has neither",
                                folder.string()));
  }
  toml::table options = convert_tokenizer_json(json, config.optional_integer("eos_token_id").value_or(-1));
  options.insert_or_assign("sentinels", sentinels);
  return options;
}

// Query, key or value (part 0, 1, 2) of c_attn's (C, 3C) weight, as a Linear's (C, C).
WeightSource gpt2_attention_part(const std::string& layer, std::int64_t part, std::int64_t C, bool bias) {
  if (bias) {
    return {{layer + "attn.c_attn.bias"}, [part, C](const std::vector<at::Tensor>& t) {
              return t[0].narrow(0, part * C, C);  // (C)
            }};
  }
  return {{layer + "attn.c_attn.weight"}, [part, C](const std::vector<at::Tensor>& t) {
            return t[0].narrow(1, part * C, C).t();  // (C, C): (out, in)
          }};
}

void gpt2_layer(HfTranslation& tr, const std::string& hf, std::int64_t i, std::int64_t C, std::int64_t F) {
  const std::string l = fmt::format("{}h.{}.", hf, i), m = fmt::format("blocks.{}.", i);
  const std::vector<std::pair<std::string, std::string>> norms = {{"ln_1", "attention_norm"}, {"ln_2", "ffn_norm"}};
  for (const auto& [from, to] : norms) {
    tr.weights[m + to + ".weight"] = {{l + from + ".weight"}, as_is};
    tr.weights[m + to + ".bias"] = {{l + from + ".bias"}, as_is};
    tr.shapes[l + from + ".weight"] = tr.shapes[l + from + ".bias"] = {C};
  }
  const char* parts[] = {"query", "key", "value"};
  for (std::int64_t p = 0; p < 3; ++p) {
    tr.weights[m + "attention." + parts[p] + ".weight"] = gpt2_attention_part(l, p, C, false);
    tr.weights[m + "attention." + parts[p] + ".bias"] = gpt2_attention_part(l, p, C, true);
  }
  tr.shapes[l + "attn.c_attn.weight"] = {C, 3 * C};
  tr.shapes[l + "attn.c_attn.bias"] = {3 * C};
  // Conv1D: (in, out) weights, transposed to a Linear's (out, in).
  const std::vector<std::tuple<std::string, std::string, std::int64_t, std::int64_t>> linears = {
      {"attn.c_proj", "attention.out", C, C}, {"mlp.c_fc", "ffn.fc", C, F}, {"mlp.c_proj", "ffn.proj", F, C}};
  for (const auto& [from, to, in, out] : linears) {
    tr.weights[m + to + ".weight"] = {{l + from + ".weight"}, transposed};
    tr.weights[m + to + ".bias"] = {{l + from + ".bias"}, as_is};
    tr.shapes[l + from + ".weight"] = {in, out};
    tr.shapes[l + from + ".bias"] = {out};
  }
}

}  // namespace

HfTranslation translate_gpt2(HfConfig& config, const fs::path& folder, const SafetensorsSet& weights) {
  HfTranslation tr;
  tr.family = "gpt2";
  const std::int64_t V = config.positive("vocab_size"), C = config.positive("n_embd"),
                     L = config.positive("n_layer"), H = config.positive("n_head"),
                     P = config.positive("n_positions");
  if (C % H != 0) config.refuse("n_head", fmt::format("must divide n_embd = {}", C));
  if (L > static_cast<std::int64_t>(weights.names().size())) {
    config.refuse("n_layer", fmt::format("more layers than the {} tensors stored", weights.names().size()));
  }
  const std::int64_t F = config.optional_integer("n_inner").value_or(4 * C);
  if (F <= 0) config.refuse("n_inner", "must be positive (or null: 4 * n_embd)");
  const std::string activation = gpt2_activation(config);
  const double eps = config.number("layer_norm_epsilon", 1e-5);
  const bool tied = config.flag("tie_word_embeddings", true);
  tr.model = toml::table{{"arch", "causal_decoder"}, {"d_model", C}, {"n_layers", L}, {"n_heads", H},
                         {"n_kv_heads", 0}, {"d_ff", F}, {"norm", "layernorm"}, {"norm_position", "pre"},
                         {"norm_eps", eps}, {"activation", activation}, {"positions", "learned"}, {"bias", true},
                         {"tie_embeddings", tied}, {"scale_embeddings", false}, {"context_length", P},
                         {"embedding_dropout", config.number("embd_pdrop", 0.1)},
                         {"attention_dropout", config.number("attn_pdrop", 0.1)},
                         {"residual_dropout", config.number("resid_pdrop", 0.1)},
                         {"init", "scaled"}, {"init_std", 0.02}, {"predicted_vocab", V}};
  gpt2_requirements(config);
  const std::int64_t sentinels = lmlab_sentinels(config);
  config.finish("gpt2");
  tr.vocab_size = V;
  tr.context_length = P;
  tr.tokenizer = "bpe";
  tr.tokenizer_options = gpt2_tokenizer(config, folder, sentinels);

  // Saved from GPT2LMHeadModel the names carry "transformer."; from GPT2Model (the published
  // files) they do not.
  const std::string hf = weights.contains("transformer.wte.weight") ? "transformer." : "";
  tr.weights["embeddings.tokens.weight"] = {{hf + "wte.weight"}, as_is, /*vocab_rows=*/true};
  tr.weights["embeddings.learned_positions.weight"] = {{hf + "wpe.weight"}, as_is};
  tr.shapes[hf + "wte.weight"] = {V, C};
  tr.shapes[hf + "wpe.weight"] = {P, C};
  for (std::int64_t i = 0; i < L; ++i) gpt2_layer(tr, hf, i, C, F);
  tr.weights["final_norm.weight"] = {{hf + "ln_f.weight"}, as_is};
  tr.weights["final_norm.bias"] = {{hf + "ln_f.bias"}, as_is};
  tr.shapes[hf + "ln_f.weight"] = tr.shapes[hf + "ln_f.bias"] = {C};
  tr.shapes["lm_head.weight"] = {V, C};
  if (tied) {
    // A tied head is usually stored once; where lm_head.weight is stored too, it must be wte.
    tr.checks.push_back(tied_head_check("lm_head.weight", hf + "wte.weight"));
  } else {
    tr.weights["head.weight"] = {{"lm_head.weight"}, as_is, /*vocab_rows=*/true};
  }
  // Causal-mask buffers that older versions saved with the weights.
  static const std::regex mask_buffer(R"((transformer\.)?h\.\d+\.attn\.(masked_)?bias)");
  tr.ignorable = [](const std::string& name) { return std::regex_match(name, mask_buffer); };
  return tr;
}

}  // namespace lmlab::pretrained
