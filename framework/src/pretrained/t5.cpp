// T5 (Hugging Face's T5ForConditionalGeneration layout: T5 v1.0, v1.1 and FLAN-T5) as lmlab's
// encoder_decoder: pre-RMSNorm without mean or bias, no biases anywhere, relative position
// buckets learned once per stack (stored in block 0 only, bidirectional in the encoder, causal in
// the decoder; cross-attention has none), attention scores not divided by sqrt(d_kv), heads of
// width d_kv whose total may differ from d_model, ReLU or gated-GELU MLPs, and with tied
// embeddings the decoder's output scaled by d_model^-0.5 before the head. The tokenizer is the
// folder's spiece.model; T5's decoder starts from its <pad> piece, which lmlab's tokenizer is
// told to use as bos (the decoder's first input). The rows after the pieces are placed so that
// each lmlab id reads the row of its name (t5_spiece.hpp).
#include <fstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiment/quote_bounded.hpp"

#include "lmlab/error.hpp"
#include "pretrained/hf_config.hpp"
#include "pretrained/hf_translation.hpp"
#include "pretrained/t5_spiece.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

struct T5Shape {
  std::int64_t V, C, D, F, H, L_enc, L_dec, buckets;
  bool gated;
};

// feed_forward_proj, "ACT" or "gated-ACT" as Hugging Face's T5Config parses it, to lmlab's
// activation; "gated-gelu" is the tanh GELU ("gelu_new"), as T5Config makes it.
std::string t5_activation(HfConfig& config, bool& gated) {
  const std::string proj = config.text("feed_forward_proj", "relu");
  gated = proj.starts_with("gated-");
  const std::string act = gated ? proj.substr(6) : proj;
  const bool tanh_gelu =
      act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast" || (gated && act == "gelu");
  std::string lmlab_act;
  if (gated) lmlab_act = tanh_gelu ? "geglu_tanh" : act == "silu" || act == "swish" ? "swiglu" : "";
  else lmlab_act = tanh_gelu ? "gelu_tanh" : act == "relu" || act == "gelu" ? act : "";
  if (lmlab_act.empty()) {
    config.refuse("feed_forward_proj", "lmlab has relu, gelu, gelu_new (and gelu_pytorch_tanh, gelu_fast), "
                                       "gated-gelu (T5 v1.1, FLAN-T5) and gated-silu");
  }
  // Newer saves also write what T5Config derived from feed_forward_proj; it must agree.
  config.require("is_gated_act", gated, "must agree with feed_forward_proj");
  const std::string dense_act = gated && act == "gelu" ? "gelu_new" : act;
  config.require("dense_act_fn", dense_act, "must agree with feed_forward_proj");
  return lmlab_act;
}

void t5_requirements(HfConfig& config) {
  config.require("is_encoder_decoder", true, "T5ForConditionalGeneration is an encoder-decoder");
  config.require("is_decoder", false, "a T5 stack saved alone is not imported");
  // initializer_factor only scales a fresh model's init; classifier_dropout belongs to
  // classification heads; the rest are names, generation defaults and runtime switches.
  config.ignore({"architectures", "model_type", "torch_dtype", "transformers_version", "_name_or_path", "use_cache",
                 "output_past", "initializer_factor", "classifier_dropout", "task_specific_params",
                 "gradient_checkpointing", "id2label", "label2id", "return_dict", "output_hidden_states",
                 "output_attentions", "bos_token_id", "max_length", "min_length", "num_beams", "early_stopping",
                 "length_penalty", "no_repeat_ngram_size", "prefix"});
}

// tokenizer_config.json's extra_ids, where the folder has one, must be the count lmlab maps.
void t5_check_extra_ids(const fs::path& folder, std::int64_t extra) {
  const fs::path file = folder / "tokenizer_config.json";
  if (!fs::exists(file)) return;
  std::ifstream in(file, std::ios::binary);
  const nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) throw DataError(fmt::format("{}: is not a JSON object", file.string()));
  const auto found = doc.find("extra_ids");
  if (found == doc.end() || found->is_null()) return;
  if (!found->is_number_integer() || found->get<std::int64_t>() != extra) {
    throw DataError(fmt::format("{}: extra_ids = {}: lmlab maps {} extra ids after spiece.model's pieces (100, or "
                                "as many as leave one of config.json's vocab_size rows for its <mask>)",
                                file.string(), quote_bounded(found->dump(), 40, '\''), extra));
  }
}

// spiece.model as the sentencepiece plugin's options: the piece T5's decoder starts with plays
// bos, and the sentinel block fills the ids up to vocab_size (T5's extra ids and padding rows).
// `pieces` is set to spiece's piece count.
toml::table t5_tokenizer(HfConfig& config, const fs::path& folder, std::int64_t V, std::int64_t& pieces) {
  const fs::path spiece = folder / "spiece.model";
  if (!fs::exists(spiece)) {
    throw DataError(fmt::format("{}: has no spiece.model (T5's SentencePiece model); lmlab does not read T5's "
                                "tokenizer.json (a Unigram model)",
                                folder.string()));
  }
  const SpieceFacts facts = read_spiece_facts(spiece);
  const auto P = static_cast<std::int64_t>(facts.pieces.size());
  pieces = P;
  const std::int64_t pad = config.optional_integer("pad_token_id").value_or(0);
  const std::int64_t eos = config.optional_integer("eos_token_id").value_or(1);
  const std::int64_t start = config.optional_integer("decoder_start_token_id").value_or(pad);
  if (pad != facts.pad_id) config.refuse("pad_token_id", fmt::format("spiece.model's pad is {}", facts.pad_id));
  if (eos != facts.eos_id) config.refuse("eos_token_id", fmt::format("spiece.model's eos is {}", facts.eos_id));
  if (start < 0 || start >= P) {
    config.refuse("decoder_start_token_id", fmt::format("must be a piece of spiece.model (0 to {})", P - 1));
  }
  for (const auto& piece : facts.pieces) {
    if (piece == "<extra_id_0>" || piece == "<mask>") {
      throw DataError(fmt::format("{}: has its own '{}' piece; T5's extra ids come after the model's pieces, and "
                                  "lmlab's import counts on that",
                                  spiece.string(), piece));
    }
  }
  // lmlab's tokenizer appends <mask> after the pieces, then the sentinels: as many as make V ids.
  const std::int64_t sentinels = V - P - 1;
  if (sentinels < 0) {
    config.refuse("vocab_size", fmt::format("must be at least spiece.model's {} pieces and the <mask> lmlab appends",
                                            P));
  }
  return toml::table{{"model", fs::absolute(spiece).lexically_normal().string()}, {"sentinels", sentinels},
                     {"bos_piece", facts.pieces[static_cast<std::size_t>(start)]}};
}

toml::table t5_model(HfConfig& config, const T5Shape& s, const std::string& activation, bool tied, std::int64_t P) {
  const std::int64_t max_distance = config.optional_integer("relative_attention_max_distance").value_or(128);
  if (max_distance <= s.buckets / 2) {
    config.refuse("relative_attention_max_distance",
                  fmt::format("must exceed half of relative_attention_num_buckets = {}", s.buckets));
  }
  const double dropout = config.number("dropout_rate", 0.1);
  if (dropout < 0 || dropout >= 1) config.refuse("dropout_rate", "must be in [0, 1)");
  return toml::table{{"arch", "encoder_decoder"}, {"d_model", s.C}, {"n_layers", s.L_enc},
                     {"n_decoder_layers", s.L_dec}, {"n_heads", s.H}, {"n_kv_heads", 0}, {"head_width", s.D},
                     {"d_ff", s.F}, {"norm", "rmsnorm"}, {"norm_position", "pre"},
                     {"norm_eps", config.number("layer_norm_epsilon", 1e-6)}, {"activation", activation},
                     {"positions", "relative"}, {"relative_buckets", s.buckets},
                     {"relative_max_distance", max_distance}, {"bias", false}, {"tie_embeddings", tied},
                     {"share_embeddings", true}, {"scale_embeddings", false}, {"scale_attention", false},
                     {"rescale_tied_head", tied}, {"context_length", P}, {"embedding_dropout", dropout},
                     {"attention_dropout", dropout}, {"residual_dropout", dropout}, {"init", "normal"},
                     {"init_std", 0.02}};
}

void t5_linear(HfTranslation& tr, const std::string& from, const std::string& to, std::vector<std::int64_t> shape) {
  tr.weights[to + ".weight"] = {{from + ".weight"}, as_is};
  tr.shapes[from + ".weight"] = std::move(shape);
}

void t5_attention(HfTranslation& tr, const std::string& from, const std::string& to, const T5Shape& s) {
  const std::int64_t inner = s.H * s.D;
  t5_linear(tr, from + ".q", to + ".query", {inner, s.C});
  t5_linear(tr, from + ".k", to + ".key", {inner, s.C});
  t5_linear(tr, from + ".v", to + ".value", {inner, s.C});
  t5_linear(tr, from + ".o", to + ".out", {s.C, inner});
}

void t5_mlp(HfTranslation& tr, const std::string& from, const std::string& to, const T5Shape& s) {
  if (s.gated) {
    // wi_0 is activated and gates wi_1: lmlab's gated fc holds the gate's rows first.
    tr.weights[to + ".fc.weight"] = {{from + ".wi_0.weight", from + ".wi_1.weight"},
                                     [](const std::vector<at::Tensor>& t) { return at::cat({t[0], t[1]}, 0); }};
    tr.shapes[from + ".wi_0.weight"] = tr.shapes[from + ".wi_1.weight"] = {s.F, s.C};
  } else {
    t5_linear(tr, from + ".wi", to + ".fc", {s.F, s.C});
  }
  t5_linear(tr, from + ".wo", to + ".proj", {s.C, s.F});
}

// One stack: "encoder" (self-attention, MLP) or "decoder" (self-attention, cross-attention, MLP).
void t5_stack(HfTranslation& tr, const std::string& stack, std::int64_t layers, const T5Shape& s) {
  const bool decoder = stack == "decoder";
  for (std::int64_t i = 0; i < layers; ++i) {
    const std::string b = fmt::format("{}.block.{}.layer.", stack, i), m = fmt::format("{}.{}.", stack, i);
    t5_attention(tr, b + "0.SelfAttention", m + "attention", s);
    t5_linear(tr, b + "0.layer_norm", m + "attention_norm", {s.C});
    if (decoder) {
      t5_attention(tr, b + "1.EncDecAttention", m + "cross_attention", s);
      t5_linear(tr, b + "1.layer_norm", m + "cross_norm", {s.C});
    }
    const std::string ff = b + (decoder ? "2." : "1.");
    t5_mlp(tr, ff + "DenseReluDense", m + "ffn", s);
    t5_linear(tr, ff + "layer_norm", m + "ffn_norm", {s.C});
  }
  // The bias table lives in block 0 and serves every block of the stack.
  t5_linear(tr, stack + ".block.0.layer.0.SelfAttention.relative_attention_bias", stack + "_relative_bias.table",
            {s.buckets, s.H});
  t5_linear(tr, stack + ".final_layer_norm", stack + "_norm", {s.C});
}

WeightSource t5_same_as_shared(const std::string& name) {
  return {{name, "shared.weight"}, [name](const std::vector<at::Tensor>& t) {
            if (!t[0].equal(t[1])) {
              throw DataError(fmt::format("{} differs from shared.weight, which T5 ties it to", name));
            }
            return at::Tensor();
          }};
}

}  // namespace

HfTranslation translate_t5(HfConfig& config, const fs::path& folder, const SafetensorsSet& weights) {
  HfTranslation tr;
  tr.family = "t5";
  tr.objective = "span_corruption";
  T5Shape s{};
  s.V = config.positive("vocab_size");
  s.C = config.positive("d_model");
  s.D = config.positive("d_kv");
  s.F = config.positive("d_ff");
  s.H = config.positive("num_heads");
  s.L_enc = config.positive("num_layers");
  s.L_dec = config.optional_integer("num_decoder_layers").value_or(s.L_enc);
  s.buckets = config.optional_integer("relative_attention_num_buckets").value_or(32);
  const auto stored = static_cast<std::int64_t>(weights.names().size());
  if (s.L_enc > stored) config.refuse("num_layers", fmt::format("more layers than the {} tensors stored", stored));
  if (s.L_dec <= 0 || s.L_dec > stored) {
    config.refuse("num_decoder_layers", fmt::format("must be between 1 and the {} tensors stored", stored));
  }
  if (s.buckets < 4 || s.buckets > 4096) config.refuse("relative_attention_num_buckets", "must be between 4 and 4096");
  const std::int64_t P = config.optional_integer("n_positions").value_or(512);
  if (P <= 0) config.refuse("n_positions", "must be positive (lmlab's context_length)");
  const bool tied = config.flag("tie_word_embeddings", true);
  const std::string activation = t5_activation(config, s.gated);
  tr.model = t5_model(config, s, activation, tied, P);
  t5_requirements(config);
  tr.vocab_size = s.V;
  tr.context_length = P;
  tr.tokenizer = "sentencepiece";
  std::int64_t pieces = 0;
  tr.tokenizer_options = t5_tokenizer(config, folder, s.V, pieces);
  const std::int64_t extra = t5_extra_ids(pieces, s.V);
  t5_check_extra_ids(folder, extra);
  config.finish("t5");

  // One table for both stacks (share_embeddings), listed under each stack's name.
  // Each lmlab id reads the row of its name: <extra_id_i> is T5's, counting up where T5 counts down.
  const at::Tensor hf_rows = t5_hf_rows(pieces, extra, s.V);  // (V)
  const auto by_name = [hf_rows](const std::vector<at::Tensor>& t) { return t[0].index_select(0, hf_rows); };
  tr.weights["encoder_embeddings.tokens.weight"] = {{"shared.weight"}, by_name, /*vocab_rows=*/true};
  tr.weights["decoder_embeddings.tokens.weight"] = tr.weights["encoder_embeddings.tokens.weight"];
  tr.shapes["shared.weight"] = tr.shapes["encoder.embed_tokens.weight"] = tr.shapes["decoder.embed_tokens.weight"] =
      tr.shapes["lm_head.weight"] = {s.V, s.C};
  // Some saves store each stack's embedding again (the same tensor as shared in Hugging Face).
  tr.checks.push_back(t5_same_as_shared("encoder.embed_tokens.weight"));
  tr.checks.push_back(t5_same_as_shared("decoder.embed_tokens.weight"));
  t5_stack(tr, "encoder", s.L_enc, s);
  t5_stack(tr, "decoder", s.L_dec, s);
  if (tied) tr.checks.push_back(tied_head_check("lm_head.weight", "shared.weight"));
  else tr.weights["head.weight"] = {{"lm_head.weight"}, by_name, /*vocab_rows=*/true};
  tr.vocab_exact = true;
  return tr;
}

}  // namespace lmlab::pretrained
