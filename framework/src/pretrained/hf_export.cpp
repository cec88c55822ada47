#include "pretrained/hf_export.hpp"

#include <fstream>
#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "experiment/experiment_schema.hpp"
#include "experiment/toml_limits.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "plugin_host/run_tokenizer.hpp"
#include "pretrained/safetensors.hpp"
#include "pretrained/t5_spiece.hpp"
#include "training/checkpoint.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

using ExportTensors = std::vector<std::pair<std::string, at::Tensor>>;

// The model's resolved options, read with the refusal every exporter gives.
struct ExportModel {
  const toml::table& options;
  std::map<std::string, at::Tensor> params;  // lmlab name -> tensor (CPU, float32)
  std::int64_t vocab_rows = 0;               // rows exported: predicted_vocab, or every id

  std::string text(const char* key) const { return options[key].value_or(std::string()); }
  std::int64_t integer(const char* key) const { return options[key].value_or(std::int64_t{0}); }
  double number(const char* key) const { return options[key].value_or(0.0); }
  bool flag(const char* key) const { return options[key].value_or(false); }
  const at::Tensor& param(const std::string& name) const {
    const auto found = params.find(name);
    if (found == params.end()) throw Error(fmt::format("export: the model has no parameter '{}'", name));
    return found->second;
  }
  at::Tensor rows(const std::string& name) const { return param(name).narrow(0, 0, vocab_rows).contiguous(); }
};

[[noreturn]] void refuse_export(const std::string& what) {
  throw ConfigError(fmt::format("export --format hf: {}", what));
}

void require_option(const ExportModel& m, const char* key, const std::string& value, const std::string& family) {
  if (m.text(key) != value) {
    refuse_export(fmt::format("model.{} = \"{}\" has no counterpart in Hugging Face's {} (it needs \"{}\")", key,
                              m.text(key), family, value));
  }
}

std::string hf_gpt2_activation(const std::string& activation) {
  if (activation == "gelu_tanh") return "gelu_new";
  const bool same = activation == "gelu" || activation == "relu" || activation == "tanh" || activation == "sigmoid";
  if (same) return activation;
  refuse_export(fmt::format("model.activation = \"{}\" has no counterpart in Hugging Face's GPT-2", activation));
}

nlohmann::json gpt2_export(const ExportModel& m, ExportTensors& out) {
  const std::int64_t C = m.integer("d_model"), L = m.integer("n_layers");
  if (m.integer("n_kv_heads") != 0 && m.integer("n_kv_heads") != m.integer("n_heads")) {
    refuse_export("GPT-2 has no grouped-query attention (model.n_kv_heads must be 0 or n_heads)");
  }
  const std::string t = "transformer.";
  out.emplace_back(t + "wte.weight", m.rows("embeddings.tokens.weight"));
  out.emplace_back(t + "wpe.weight", m.param("embeddings.learned_positions.weight"));
  for (std::int64_t i = 0; i < L; ++i) {
    const std::string l = fmt::format("{}h.{}.", t, i), b = fmt::format("blocks.{}.", i);
    out.emplace_back(l + "ln_1.weight", m.param(b + "attention_norm.weight"));
    out.emplace_back(l + "ln_1.bias", m.param(b + "attention_norm.bias"));
    // Conv1D keeps (in, out): the transposed Linear weights, q, k and v side by side.
    out.emplace_back(l + "attn.c_attn.weight",
                     at::cat({m.param(b + "attention.query.weight").t(), m.param(b + "attention.key.weight").t(),
                              m.param(b + "attention.value.weight").t()}, 1));  // (C, 3C)
    out.emplace_back(l + "attn.c_attn.bias",
                     at::cat({m.param(b + "attention.query.bias"), m.param(b + "attention.key.bias"),
                              m.param(b + "attention.value.bias")}));  // (3C)
    out.emplace_back(l + "attn.c_proj.weight", m.param(b + "attention.out.weight").t());
    out.emplace_back(l + "attn.c_proj.bias", m.param(b + "attention.out.bias"));
    out.emplace_back(l + "ln_2.weight", m.param(b + "ffn_norm.weight"));
    out.emplace_back(l + "ln_2.bias", m.param(b + "ffn_norm.bias"));
    out.emplace_back(l + "mlp.c_fc.weight", m.param(b + "ffn.fc.weight").t());
    out.emplace_back(l + "mlp.c_fc.bias", m.param(b + "ffn.fc.bias"));
    out.emplace_back(l + "mlp.c_proj.weight", m.param(b + "ffn.proj.weight").t());
    out.emplace_back(l + "mlp.c_proj.bias", m.param(b + "ffn.proj.bias"));
  }
  out.emplace_back(t + "ln_f.weight", m.param("final_norm.weight"));
  out.emplace_back(t + "ln_f.bias", m.param("final_norm.bias"));
  if (!m.flag("tie_embeddings")) out.emplace_back("lm_head.weight", m.rows("head.weight"));
  return {{"model_type", "gpt2"}, {"architectures", {"GPT2LMHeadModel"}}, {"n_embd", C}, {"n_layer", L},
          {"n_head", m.integer("n_heads")}, {"n_inner", m.param("blocks.0.ffn.fc.weight").size(0)},
          {"n_positions", m.param("embeddings.learned_positions.weight").size(0)},
          {"activation_function", hf_gpt2_activation(m.text("activation"))},
          {"layer_norm_epsilon", m.number("norm_eps")},
          {"embd_pdrop", m.number("embedding_dropout")}, {"attn_pdrop", m.number("attention_dropout")},
          {"resid_pdrop", m.number("residual_dropout")}, {"tie_word_embeddings", m.flag("tie_embeddings")},
          {"scale_attn_weights", true}};
}

nlohmann::json llama_export(const ExportModel& m, ExportTensors& out, std::int64_t context) {
  if (m.text("activation") != "swiglu") {
    refuse_export(fmt::format("model.activation = \"{}\": Hugging Face's LLaMA is SwiGLU", m.text("activation")));
  }
  const std::int64_t L = m.integer("n_layers"), F = m.param("blocks.0.ffn.proj.weight").size(1);
  out.emplace_back("model.embed_tokens.weight", m.rows("embeddings.tokens.weight"));
  const std::vector<std::pair<std::string, std::string>> same = {
      {"input_layernorm", "attention_norm"},   {"self_attn.q_proj", "attention.query"},
      {"self_attn.k_proj", "attention.key"},   {"self_attn.v_proj", "attention.value"},
      {"self_attn.o_proj", "attention.out"},
      {"post_attention_layernorm", "ffn_norm"}, {"mlp.down_proj", "ffn.proj"}};
  for (std::int64_t i = 0; i < L; ++i) {
    const std::string l = fmt::format("model.layers.{}.", i), b = fmt::format("blocks.{}.", i);
    for (const auto& [hf, lm] : same) out.emplace_back(l + hf + ".weight", m.param(b + lm + ".weight"));
    const at::Tensor& fc = m.param(b + "ffn.fc.weight");  // (2F, C): gate rows, then up rows
    out.emplace_back(l + "mlp.gate_proj.weight", fc.narrow(0, 0, F));
    out.emplace_back(l + "mlp.up_proj.weight", fc.narrow(0, F, F));
  }
  out.emplace_back("model.norm.weight", m.param("final_norm.weight"));
  if (!m.flag("tie_embeddings")) out.emplace_back("lm_head.weight", m.rows("head.weight"));
  const std::int64_t H = m.integer("n_heads"), H_kv = m.integer("n_kv_heads");
  return {{"model_type", "llama"}, {"architectures", {"LlamaForCausalLM"}}, {"hidden_size", m.integer("d_model")},
          {"num_hidden_layers", L}, {"num_attention_heads", H}, {"num_key_value_heads", H_kv > 0 ? H_kv : H},
          {"intermediate_size", F}, {"max_position_embeddings", context}, {"hidden_act", "silu"},
          {"rms_norm_eps", m.number("norm_eps")}, {"rope_theta", m.number("rope_base")},
          {"tie_word_embeddings", m.flag("tie_embeddings")}, {"attention_bias", false}, {"mlp_bias", false}};
}

std::string hf_t5_feed_forward(const std::string& activation) {
  if (activation == "relu" || activation == "gelu") return activation;
  if (activation == "gelu_tanh") return "gelu_new";
  if (activation == "geglu_tanh") return "gated-gelu";  // T5Config makes "gated-gelu" the tanh GELU
  if (activation == "swiglu") return "gated-silu";
  refuse_export(fmt::format("model.activation = \"{}\" has no counterpart in Hugging Face's T5 (relu, gelu, "
                            "gelu_tanh, geglu_tanh, swiglu)",
                            activation));
}

// The options of lmlab's encoder_decoder that Hugging Face's T5 has one setting of.
void require_t5_layout(const ExportModel& m) {
  require_option(m, "positions", "relative", "T5");
  require_option(m, "norm", "rmsnorm", "T5");
  require_option(m, "norm_position", "pre", "T5");
  const std::vector<std::pair<const char*, bool>> flags = {
      {"bias", false}, {"share_embeddings", true}, {"share_layers", false}, {"scale_embeddings", false}};
  for (const auto& [key, value] : flags) {
    if (m.flag(key) != value) {
      refuse_export(fmt::format("model.{} = {} has no counterpart in Hugging Face's T5", key, m.flag(key)));
    }
  }
  // Left out of the resolved config at its default, true.
  if (m.options["scale_attention"].value_or(true)) {
    refuse_export("model.scale_attention = true: Hugging Face's T5 does not divide attention scores by sqrt(d_kv)");
  }
  if (m.integer("n_kv_heads") != 0 && m.integer("n_kv_heads") != m.integer("n_heads")) {
    refuse_export("T5 has no grouped-query attention (model.n_kv_heads must be 0 or n_heads)");
  }
  if (m.flag("tie_embeddings") && !m.flag("rescale_tied_head")) {
    refuse_export("model.rescale_tied_head = false with tie_embeddings: Hugging Face's T5 scales a tied head's input "
                  "by d_model^-0.5");
  }
}

// One stack's blocks, norms and relative bias table in T5's names (t5.cpp reads them back).
void t5_export_stack(const ExportModel& m, ExportTensors& out, const std::string& stack, std::int64_t layers,
                     bool gated) {
  const bool decoder = stack == "decoder";
  const auto attention = [&](const std::string& hf, const std::string& lm) {
    for (const auto& [h, l] : {std::pair{"q", "query"}, {"k", "key"}, {"v", "value"}, {"o", "out"}}) {
      out.emplace_back(fmt::format("{}.{}.weight", hf, h), m.param(fmt::format("{}.{}.weight", lm, l)));
    }
  };
  for (std::int64_t i = 0; i < layers; ++i) {
    const std::string b = fmt::format("{}.block.{}.layer.", stack, i), l = fmt::format("{}.{}.", stack, i);
    attention(b + "0.SelfAttention", l + "attention");
    if (i == 0) {
      out.emplace_back(b + "0.SelfAttention.relative_attention_bias.weight",
                       m.param(stack + "_relative_bias.table.weight"));
    }
    out.emplace_back(b + "0.layer_norm.weight", m.param(l + "attention_norm.weight"));
    if (decoder) {
      attention(b + "1.EncDecAttention", l + "cross_attention");
      out.emplace_back(b + "1.layer_norm.weight", m.param(l + "cross_norm.weight"));
    }
    const std::string ff = b + (decoder ? "2." : "1.");
    const at::Tensor& fc = m.param(l + "ffn.fc.weight");  // (F, C), or (2F, C) when gated: gate rows first
    if (gated) {
      const std::int64_t F = fc.size(0) / 2;
      out.emplace_back(ff + "DenseReluDense.wi_0.weight", fc.narrow(0, 0, F).contiguous());
      out.emplace_back(ff + "DenseReluDense.wi_1.weight", fc.narrow(0, F, F).contiguous());
    } else {
      out.emplace_back(ff + "DenseReluDense.wi.weight", fc);
    }
    out.emplace_back(ff + "DenseReluDense.wo.weight", m.param(l + "ffn.proj.weight"));
    out.emplace_back(ff + "layer_norm.weight", m.param(l + "ffn_norm.weight"));
  }
  out.emplace_back(stack + ".final_layer_norm.weight", m.param(stack + "_norm.weight"));
}

// The lmlab ids' rows in Hugging Face's order: row hf_rows[k] is lmlab id k's (t5_spiece.hpp).
at::Tensor t5_published_order(const at::Tensor& rows, const at::Tensor& hf_rows) {
  return at::zeros_like(rows).index_copy_(0, hf_rows, rows);  // (V, C)
}

nlohmann::json t5_export(const ExportModel& m, ExportTensors& out, std::int64_t context, const at::Tensor& hf_rows) {
  const std::string feed_forward = hf_t5_feed_forward(m.text("activation"));
  const std::int64_t C = m.integer("d_model"), H = m.integer("n_heads"), L = m.integer("n_layers");
  const std::int64_t L_enc = m.integer("n_encoder_layers") > 0 ? m.integer("n_encoder_layers") : L;
  const std::int64_t L_dec = m.integer("n_decoder_layers") > 0 ? m.integer("n_decoder_layers") : L;
  const bool gated = feed_forward.starts_with("gated-");
  out.emplace_back("shared.weight", t5_published_order(m.rows("encoder_embeddings.tokens.weight"), hf_rows));
  t5_export_stack(m, out, "encoder", L_enc, gated);
  t5_export_stack(m, out, "decoder", L_dec, gated);
  if (!m.flag("tie_embeddings")) out.emplace_back("lm_head.weight", t5_published_order(m.rows("head.weight"), hf_rows));
  return {{"model_type", "t5"}, {"architectures", {"T5ForConditionalGeneration"}}, {"d_model", C},
          {"d_kv", m.integer("head_width") > 0 ? m.integer("head_width") : C / H},
          {"d_ff", m.param("encoder.0.ffn.proj.weight").size(1)}, {"num_layers", L_enc},
          {"num_decoder_layers", L_dec}, {"num_heads", H},
          {"relative_attention_num_buckets", m.integer("relative_buckets")},
          {"relative_attention_max_distance", m.integer("relative_max_distance")},
          {"layer_norm_epsilon", m.number("norm_eps")}, {"feed_forward_proj", feed_forward},
          {"tie_word_embeddings", m.flag("tie_embeddings")}, {"dropout_rate", m.number("residual_dropout")},
          {"is_encoder_decoder", true}, {"n_positions", context}};
}

// The family whose layout the model's options match; the first option that matches neither is named.
std::string export_family(const ExportModel& m, const std::string& arch) {
  if (arch == "encoder_decoder") return "t5";
  if (arch != "causal_decoder") {
    refuse_export(fmt::format("model.arch = \"{}\" has no Hugging Face counterpart lmlab writes (it exports "
                              "causal_decoder as GPT-2 or LLaMA, encoder_decoder as T5)",
                              arch));
  }
  if (m.flag("scale_embeddings")) refuse_export("model.scale_embeddings = true has no counterpart in GPT-2 or LLaMA");
  require_option(m, "norm_position", "pre", "GPT-2 and LLaMA");
  if (m.text("positions") == "learned") {
    require_option(m, "norm", "layernorm", "GPT-2");
    if (!m.flag("bias")) refuse_export("model.bias = false: Hugging Face's GPT-2 has biases everywhere");
    return "gpt2";
  }
  if (m.text("positions") == "rope") {
    require_option(m, "norm", "rmsnorm", "LLaMA");
    if (m.flag("bias")) refuse_export("model.bias = true: Hugging Face's LLaMA layout here has no biases");
    return "llama";
  }
  refuse_export(fmt::format("model.positions = \"{}\" has no counterpart (GPT-2 learns positions, LLaMA rotates)",
                            m.text("positions")));
}

// The tokenizer's files copied beside the weights; returns the sentinels to record.
std::int64_t export_tokenizer(const PluginChoice& tokenizer, const std::string& family, const fs::path& out) {
  const toml::table& o = tokenizer.options;
  const auto path = [&](const char* key) { return fs::path(o[key].value_or(std::string())); };
  if (tokenizer.name == "bpe" && family == "gpt2") {
    if (path("encoder").empty() || o["pattern"].value_or(std::string()) != "gpt2" ||
        o["eos"].value_or(std::string()) != "<|endoftext|>") {
      refuse_export("the bpe tokenizer is not in GPT-2's form (encoder and merges, pattern \"gpt2\", eos "
                    "\"<|endoftext|>\"), which is what Hugging Face's GPT-2 tokenizer reads");
    }
    fs::copy_file(path("encoder"), out / "vocab.json", fs::copy_options::overwrite_existing);
    fs::copy_file(path("merges"), out / "merges.txt", fs::copy_options::overwrite_existing);
  } else if (tokenizer.name == "sentencepiece" && family == "llama") {
    fs::copy_file(path("model"), out / "tokenizer.model", fs::copy_options::overwrite_existing);
  } else if (tokenizer.name == "sentencepiece" && family == "t5") {
    // T5's decoder starts from a piece of the model (its <pad>), and its import counts the ids
    // after the pieces as <mask> and sentinels only: no appended <bos>.
    if (o["bos_piece"].value_or(std::string()).empty()) {
      refuse_export("tokenizer.bos_piece is not set: Hugging Face's T5 starts its decoder from a piece of "
                    "spiece.model (decoder_start_token_id), which an appended <bos> is not");
    }
    fs::copy_file(path("model"), out / "spiece.model", fs::copy_options::overwrite_existing);
    return 0;  // the sentinels follow from vocab_size
  } else {
    refuse_export(fmt::format("data.tokenizer = \"{}\" has no Hugging Face file for {} (GPT-2 reads bpe's "
                              "vocab.json and merges.txt, LLaMA sentencepiece's tokenizer.model, T5 sentencepiece's "
                              "spiece.model)",
                              tokenizer.name, family));
  }
  return o["sentinels"].value_or(std::int64_t{0});
}

// Where T5's rows go (t5_spiece.hpp), after checking that lmlab's <mask> and sentinels follow
// spiece.model's pieces as the T5 import lays them out; tokenizer_config.json records the extra
// ids for Hugging Face's tokenizer.
at::Tensor t5_export_rows(const PluginChoice& choice, const Tokenizer& tokenizer, std::int64_t V, const fs::path& out) {
  const SpieceFacts facts = read_spiece_facts(choice.options["model"].value_or(std::string()));
  const auto P = static_cast<std::int64_t>(facts.pieces.size());
  const SpecialIds& ids = tokenizer.special();
  if (ids.mask != P || (ids.n_sentinels > 0 && ids.first_sentinel != P + 1) || V != tokenizer.vocab_size()) {
    refuse_export("the tokenizer's <mask> and sentinels are not the ids right after spiece.model's pieces, where "
                  "Hugging Face's T5 keeps its extra ids");
  }
  const std::int64_t extra = t5_extra_ids(P, V);
  std::ofstream config(out / "tokenizer_config.json");
  config << nlohmann::json{{"extra_ids", extra}, {"tokenizer_class", "T5Tokenizer"}}.dump(2) << "\n";
  if (!config) throw DataError(fmt::format("cannot write {}", (out / "tokenizer_config.json").string()));
  return t5_hf_rows(P, extra, V);
}

}  // namespace

void export_hf(const fs::path& from, const fs::path& out, const Registry& registry, std::ostream& log) {
  const fs::path checkpoint = find_checkpoint(from);
  const toml::table config = parse_toml(read_checkpoint_config(checkpoint), checkpoint.string() + ":config");
  const Experiment e = resolve_experiment(config, registry, checkpoint.string() + ":config");
  const auto tokenizer = build_tokenizer(registry, e.tokenizer);
  const auto model = make_plugin<Architecture>(registry, e.model.name, e.model.options,
                                               ArchitectureContext{tokenizer->vocab_size(), e.data.block_size});
  load_model_weights(checkpoint, *model, c10::Device(c10::kCPU));
  ExportModel m{e.model.options, {}, 0};
  for (const auto& p : model->named_parameters()) m.params[p.key()] = p.value().detach().to(at::kFloat);
  const std::int64_t predicted = m.integer("predicted_vocab");
  m.vocab_rows = predicted > 0 ? predicted : tokenizer->vocab_size();
  const std::string family = export_family(m, e.model.name);
  if (family == "t5") require_t5_layout(m);  // the model's options are named before its tokenizer's

  fs::create_directories(out);
  ExportTensors tensors;
  const std::int64_t sentinels = export_tokenizer(e.tokenizer, family, out);
  nlohmann::json hf =
      family == "gpt2"    ? gpt2_export(m, tensors)
      : family == "llama" ? llama_export(m, tensors, model->context_length())
                          : t5_export(m, tensors, model->context_length(),
                                      t5_export_rows(e.tokenizer, *tokenizer, m.vocab_rows, out));
  hf["vocab_size"] = m.vocab_rows;
  hf["torch_dtype"] = "float32";
  if (tokenizer->special().eos >= 0) hf["eos_token_id"] = tokenizer->special().eos;
  if (family == "t5") {
    hf["pad_token_id"] = tokenizer->special().pad;
    hf["decoder_start_token_id"] = tokenizer->special().bos;  // the piece bos_piece names
  } else if (tokenizer->special().bos >= 0) {
    hf["bos_token_id"] = tokenizer->special().bos;
  }
  // Rows of lmlab's own appended ids (trained, not imported): recorded so that import rebuilds the
  // tokenizer with as many ids as the model has rows. Hugging Face keeps unknown fields as they are.
  if (predicted == 0 && sentinels > 0) hf["lmlab_sentinels"] = sentinels;
  write_safetensors(out / "model.safetensors", tensors, {{"format", "pt"}});
  std::ofstream config_file(out / "config.json");
  config_file << hf.dump(2) << "\n";
  if (!config_file) throw DataError(fmt::format("cannot write {}", (out / "config.json").string()));
  log << fmt::format("exported {} as Hugging Face {} ({} tensors, vocab_size {}) to {}\n", checkpoint.string(), family,
                     tensors.size(), m.vocab_rows, out.string());
}

}  // namespace lmlab::pretrained
