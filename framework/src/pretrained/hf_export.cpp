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

// The family whose layout the model's options match; the first option that matches neither is named.
std::string export_family(const ExportModel& m, const std::string& arch) {
  if (arch != "causal_decoder") {
    refuse_export(fmt::format("model.arch = \"{}\" has no Hugging Face counterpart lmlab writes (it exports "
                              "causal_decoder as GPT-2 or LLaMA)",
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
  } else {
    refuse_export(fmt::format("data.tokenizer = \"{}\" has no Hugging Face file for {} (GPT-2 reads bpe's "
                              "vocab.json and merges.txt, LLaMA sentencepiece's tokenizer.model)",
                              tokenizer.name, family));
  }
  return o["sentinels"].value_or(std::int64_t{0});
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

  fs::create_directories(out);
  ExportTensors tensors;
  nlohmann::json hf = family == "gpt2" ? gpt2_export(m, tensors) : llama_export(m, tensors, model->context_length());
  const std::int64_t sentinels = export_tokenizer(e.tokenizer, family, out);
  hf["vocab_size"] = m.vocab_rows;
  hf["torch_dtype"] = "float32";
  if (tokenizer->special().eos >= 0) hf["eos_token_id"] = tokenizer->special().eos;
  if (tokenizer->special().bos >= 0) hf["bos_token_id"] = tokenizer->special().bos;
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
