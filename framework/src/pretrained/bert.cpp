// BERT (Hugging Face's BertForMaskedLM layout, and BertForPreTraining's with a pooler) as lmlab's
// encoder_only: post-LayerNorm blocks, learned positions, biases everywhere, and the parts the
// encoder_only options add for it: a segment table (lmlab feeds one segment, so row 0 is added
// everywhere, as Hugging Face does without token_type_ids), the norm over the summed embeddings,
// and the MLM head's transform (dense, activation, LayerNorm) and output bias before the tied
// decoder. lmlab has no WordPiece tokenizer, so a folder with only BERT's vocab.txt is refused.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "pretrained/hf_config.hpp"
#include "pretrained/hf_tokenizer_json.hpp"
#include "pretrained/hf_translation.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

// Hugging Face's activation names for BERT's hidden_act and lmlab's for the same function.
std::string bert_activation(HfConfig& config) {
  const std::string name = config.text("hidden_act", "gelu");
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return "gelu_tanh";
  if (name == "gelu" || name == "relu" || name == "tanh" || name == "sigmoid") return name;
  config.refuse("hidden_act", "lmlab has gelu (exact), gelu_new, gelu_pytorch_tanh, gelu_fast (all the tanh GELU), "
                              "relu, tanh and sigmoid");
}

void bert_requirements(HfConfig& config) {
  config.require("position_embedding_type", "absolute",
                 "lmlab's encoder_only has absolute learned positions (no relative_key or relative_key_query)");
  config.require("is_decoder", false, "an encoder_only model sees both sides; a BERT decoder is not imported");
  config.require("add_cross_attention", false, "an encoder_only model has no cross-attention");
  // chunk_size_feed_forward computes the MLP in slices of positions: the same sums.
  // classifier_dropout belongs to sequence-classification heads; pad_token_id only freezes that
  // row's gradient.
  config.ignore({"architectures", "model_type", "torch_dtype", "transformers_version", "_name_or_path",
                 "bos_token_id", "eos_token_id", "pad_token_id", "use_cache", "classifier_dropout",
                 "chunk_size_feed_forward", "gradient_checkpointing", "id2label", "label2id", "return_dict",
                 "output_hidden_states", "output_attentions", "directionality", "pooler_fc_size",
                 "pooler_num_attention_heads", "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type"});
}

// A byte-level BPE (vocab.json + merges.txt, or tokenizer.json in a form lmlab reads) or a
// SentencePiece tokenizer.model; BERT's own WordPiece vocab.txt is refused. Returns data.tokenizer's name.
std::string bert_tokenizer(HfConfig& config, const fs::path& folder, std::int64_t sentinels, toml::table& options) {
  const fs::path vocab = folder / "vocab.json", merges = folder / "merges.txt", model = folder / "tokenizer.model",
                 json = folder / "tokenizer.json", wordpiece = folder / "vocab.txt";
  if (fs::exists(vocab) && fs::exists(merges)) {
    options = toml::table{{"encoder", fs::absolute(vocab).lexically_normal().string()},
                          {"merges", fs::absolute(merges).lexically_normal().string()},
                          {"sentinels", sentinels}};
    return "bpe";
  }
  if (fs::exists(model)) {
    options = toml::table{{"model", fs::absolute(model).lexically_normal().string()}, {"sentinels", sentinels}};
    return "sentencepiece";
  }
  if (fs::exists(wordpiece)) {
    throw ConfigError(fmt::format("{}: BERT's WordPiece vocabulary, which lmlab cannot tokenize with (it has no "
                                  "WordPiece tokenizer); lmlab reads byte-level BPE (vocab.json + merges.txt, or a "
                                  "tokenizer.json in GPT-2's or LLaMA 3's form) and SentencePiece (tokenizer.model)",
                                  wordpiece.string()));
  }
  if (!fs::exists(json)) {
    throw DataError(fmt::format("{}: has no tokenizer lmlab reads (vocab.json + merges.txt, tokenizer.model, or "
                                "tokenizer.json)",
                                folder.string()));
  }
  options = convert_tokenizer_json(json, config.optional_integer("eos_token_id").value_or(-1));
  options.insert_or_assign("sentinels", sentinels);
  return "bpe";
}

// A LayerNorm's scale or shift: `weight`/`bias`, or `gamma`/`beta` in older saves.
std::string bert_norm_name(const SafetensorsSet& weights, const std::string& base, bool scale) {
  const std::string legacy = base + (scale ? "gamma" : "beta");
  return weights.contains(legacy) ? legacy : base + (scale ? "weight" : "bias");
}

// lmlab's Linear or norm `to` from the Hugging Face module `from`, with the shapes it implies.
void bert_module(HfTranslation& tr, const SafetensorsSet& weights, const std::string& from, const std::string& to,
                 std::vector<std::int64_t> weight_shape) {
  const bool norm = from.ends_with("LayerNorm");
  const std::string w = norm ? bert_norm_name(weights, from + ".", true) : from + ".weight";
  const std::string b = norm ? bert_norm_name(weights, from + ".", false) : from + ".bias";
  tr.weights[to + ".weight"] = {{w}, as_is};
  tr.weights[to + ".bias"] = {{b}, as_is};
  tr.shapes[b] = {weight_shape.front()};
  tr.shapes[w] = std::move(weight_shape);
}

void bert_layer(HfTranslation& tr, const SafetensorsSet& weights, const std::string& hf, std::int64_t i,
                std::int64_t C, std::int64_t F) {
  const std::string l = fmt::format("{}encoder.layer.{}.", hf, i), m = fmt::format("blocks.{}.", i);
  for (const char* part : {"query", "key", "value"}) {
    bert_module(tr, weights, l + "attention.self." + part, m + "attention." + part, {C, C});
  }
  bert_module(tr, weights, l + "attention.output.dense", m + "attention.out", {C, C});
  // Post-norm: each LayerNorm follows its residual add, as lmlab's norm_position = "post" does.
  bert_module(tr, weights, l + "attention.output.LayerNorm", m + "attention_norm", {C});
  bert_module(tr, weights, l + "intermediate.dense", m + "ffn.fc", {F, C});
  bert_module(tr, weights, l + "output.dense", m + "ffn.proj", {C, F});
  bert_module(tr, weights, l + "output.LayerNorm", m + "ffn_norm", {C});
}

// The MLM head: transform, output bias (stored as cls.predictions.bias, and in some saves also as
// the decoder's bias it is tied to), and the decoder, tied to the word embeddings or not.
void bert_head(HfTranslation& tr, const SafetensorsSet& weights, const std::string& hf, std::int64_t V,
               std::int64_t C, bool tied) {
  bert_module(tr, weights, "cls.predictions.transform.dense", "head_transform", {C, C});
  bert_module(tr, weights, "cls.predictions.transform.LayerNorm", "head_norm", {C});
  const std::string bias = "cls.predictions.bias", decoder_bias = "cls.predictions.decoder.bias";
  const bool only_decoder_bias = !weights.contains(bias) && weights.contains(decoder_bias);
  tr.weights["head_bias"] = {{only_decoder_bias ? decoder_bias : bias}, as_is, /*vocab_rows=*/true};
  tr.shapes[bias] = tr.shapes[decoder_bias] = {V};
  tr.checks.push_back({{decoder_bias, bias}, [decoder_bias, bias](const std::vector<at::Tensor>& t) {
                         if (!t[0].equal(t[1])) {
                           throw DataError(fmt::format("{} differs from {}, which BERT ties it to", decoder_bias,
                                                       bias));
                         }
                         return at::Tensor();
                       }});
  tr.shapes["cls.predictions.decoder.weight"] = {V, C};
  if (tied) {
    tr.checks.push_back(tied_head_check("cls.predictions.decoder.weight", hf + "embeddings.word_embeddings.weight"));
  } else {
    tr.weights["head.weight"] = {{"cls.predictions.decoder.weight"}, as_is, /*vocab_rows=*/true};
  }
}

toml::table bert_model(HfConfig& config, std::int64_t C, std::int64_t L, std::int64_t H, std::int64_t F,
                       std::int64_t P, std::int64_t V, bool tied, bool pooler) {
  const std::int64_t types = config.optional_integer("type_vocab_size").value_or(2);
  if (types <= 0 || types > 1024) config.refuse("type_vocab_size", "must be between 1 and 1024 (lmlab's token_types)");
  const double hidden_dropout = config.number("hidden_dropout_prob", 0.1);
  return toml::table{{"arch", "encoder_only"}, {"d_model", C}, {"n_layers", L}, {"n_heads", H},
                     {"n_kv_heads", 0}, {"d_ff", F}, {"norm", "layernorm"}, {"norm_position", "post"},
                     {"norm_eps", config.number("layer_norm_eps", 1e-12)}, {"activation", bert_activation(config)},
                     {"positions", "learned"}, {"bias", true}, {"tie_embeddings", tied}, {"scale_embeddings", false},
                     {"context_length", P}, {"embedding_dropout", hidden_dropout},
                     {"attention_dropout", config.number("attention_probs_dropout_prob", 0.1)},
                     {"residual_dropout", hidden_dropout}, {"init", "normal"},
                     {"init_std", config.number("initializer_range", 0.02)}, {"token_types", types},
                     {"embedding_norm", true}, {"head_transform", true}, {"head_bias", true}, {"pooler", pooler},
                     {"predicted_vocab", V}};
}

}  // namespace

HfTranslation translate_bert(HfConfig& config, const fs::path& folder, const SafetensorsSet& weights) {
  HfTranslation tr;
  tr.family = "bert";
  tr.objective = "masked_lm";
  const std::int64_t V = config.positive("vocab_size"), C = config.positive("hidden_size"),
                     L = config.positive("num_hidden_layers"), H = config.positive("num_attention_heads"),
                     F = config.positive("intermediate_size"), P = config.positive("max_position_embeddings");
  if (C % H != 0) config.refuse("num_attention_heads", fmt::format("must divide hidden_size = {}", C));
  if (L > static_cast<std::int64_t>(weights.names().size())) {
    config.refuse("num_hidden_layers", fmt::format("more layers than the {} tensors stored", weights.names().size()));
  }
  const bool tied = config.flag("tie_word_embeddings", true);
  // Saved from BertForMaskedLM the encoder's names carry "bert."; the head's ("cls.") never do.
  const std::string hf = weights.contains("bert.embeddings.word_embeddings.weight") ? "bert." : "";
  const bool pooler = weights.contains(hf + "pooler.dense.weight");
  tr.model = bert_model(config, C, L, H, F, P, V, tied, pooler);
  bert_requirements(config);
  const std::int64_t sentinels = lmlab_sentinels(config);
  config.finish("bert");
  tr.vocab_size = V;
  tr.context_length = P;
  tr.tokenizer = bert_tokenizer(config, folder, sentinels, tr.tokenizer_options);

  const std::string e = hf + "embeddings.";
  tr.weights["embeddings.tokens.weight"] = {{e + "word_embeddings.weight"}, as_is, /*vocab_rows=*/true};
  tr.weights["embeddings.learned_positions.weight"] = {{e + "position_embeddings.weight"}, as_is};
  tr.weights["embeddings.token_types.weight"] = {{e + "token_type_embeddings.weight"}, as_is};
  tr.shapes[e + "word_embeddings.weight"] = {V, C};
  tr.shapes[e + "position_embeddings.weight"] = {P, C};
  tr.shapes[e + "token_type_embeddings.weight"] = {tr.model["token_types"].value_or<std::int64_t>(0), C};
  bert_module(tr, weights, e + "LayerNorm", "embeddings.norm", {C});
  for (std::int64_t i = 0; i < L; ++i) bert_layer(tr, weights, hf, i, C, F);
  if (pooler) bert_module(tr, weights, hf + "pooler.dense", "pooler", {C, C});
  bert_head(tr, weights, hf, V, C, tied);
  // Index buffers some versions saved, and BertForPreTraining's next-sentence classifier, which
  // no lmlab objective uses (docs/pretrained.md).
  tr.ignorable = [e](const std::string& name) {
    return name == e + "position_ids" || name == e + "token_type_ids" || name.starts_with("cls.seq_relationship.");
  };
  return tr;
}

}  // namespace lmlab::pretrained
