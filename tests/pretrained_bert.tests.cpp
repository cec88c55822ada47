// BERT checkpoints in lmlab (framework/src/pretrained/bert.cpp): small random folders in Hugging
// Face's BertForMaskedLM layout, and an older BertForPreTraining one (pooler, next-sentence head,
// the tied decoder stored again, LayerNorm gamma/beta), written by tests/pretrained_reference.py
// with MLM logits from its own float64 forward pass, are imported; lmlab's logits must agree to
// 1e-5. Then each refusal, and the encoder_only options BERT needs, which stay out of every config
// that does not set them (so existing config hashes are unchanged).
#include "support/catch.hpp"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiment/experiment_schema.hpp"
#include "experiment/toml_limits.hpp"
#include "lmlab/error.hpp"
#include "pretrained/hf_import.hpp"
#include "pretrained/safetensors.hpp"
#include "support/hf_checkpoints.hpp"
#include "support/hf_folders.hpp"
#include "support/test_support.hpp"

namespace pretrained_bert_tests {
namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using lmlab::test::TempDir;

// The folder pretrained_reference.py writes for `variant` ("" or "--pretraining"), made once.
const fs::path& bert_folder(const std::string& variant) {
  return lmlab::test::reference_folder(variant.empty() ? "masked_lm" : "pretraining", "bert", variant);
}

fs::path bert_copy(const std::string& variant, const TempDir& dir) {
  return lmlab::test::copy_into(bert_folder(variant), dir);
}

// lmlab's MLM logits of the reference prompt against the reference's; returns the checkpoint's config.
std::string check_bert_logits(const fs::path& folder, const fs::path& checkpoint) {
  const nlohmann::json ref = nlohmann::json::parse(lmlab::test::read_file(folder / "reference.json"));
  const lmlab::test::LoadedCheckpoint loaded = lmlab::test::load_checkpoint_model(checkpoint);
  lmlab::test::check_logits_against_reference(folder.string(), *loaded.model, ref);
  return loaded.config;
}

using lmlab::test::edit_config;
using lmlab::test::edit_weights;
using lmlab::test::import_error;

// The [model] table of an encoder_only experiment with `extra` lines, as resolved.
toml::table resolved_encoder_only(const std::string& extra) {
  const toml::table config = lmlab::parse_toml(fmt::format(R"([data]
tokenizer = "byte"
block_size = 16
[model]
arch = "encoder_only"
preset = "bert"
d_model = 16
n_layers = 1
n_heads = 2
{}
[objective]
name = "masked_lm"
)",
                                                           extra),
                                               "bert.toml");
  const lmlab::Experiment e = lmlab::resolve_experiment(config, lmlab::test::builtin_plugins(), "bert.toml");
  return *e.resolved["model"].as_table();
}

}  // namespace

TEST_CASE("pretrained: a BERT folder imports to the reference MLM logits, with or without the pre-training parts") {
  TempDir dir;
  const fs::path folder = bert_folder("");
  lmlab::test::require_import_with_toml(folder, dir / "bert.ckpt", dir / "bert.toml");
  const std::string config = check_bert_logits(folder, dir / "bert.ckpt");
  CHECK_THAT(config, Contains("name = 'masked_lm'"));
  CHECK_THAT(config, Contains("pooler = false"));  // BertForMaskedLM stores none

  // The config --toml wrote fine-tunes from the folder with masked_lm.
  const auto run = lmlab::test::run_fine_tune(dir, "bert.toml", folder, 2, "");
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.output, Contains("complete"));

  // Pooler, next-sentence head (skipped), stored tied decoder and bias (checked), gamma/beta names.
  const fs::path old = bert_folder("--pretraining");
  std::ostringstream log;
  lmlab::pretrained::import_hf_checkpoint(old, dir / "old.ckpt", lmlab::test::builtin_plugins(), log);
  const std::string old_config = check_bert_logits(old, dir / "old.ckpt");
  CHECK_THAT(old_config, !Contains("pooler"));  // at its default, true, it is left out
}

TEST_CASE("pretrained: a BERT folder lmlab cannot honour is refused, naming the file, field or tensor") {
  TempDir dir;
  const fs::path bert = bert_copy("", dir);
  edit_config(bert, "position_embedding_type", "relative_key");
  CHECK_THAT(import_error(bert), Contains("position_embedding_type = '\"relative_key\"'"));
  edit_config(bert, "position_embedding_type", "absolute");
  edit_config(bert, "hidden_act", "swish");
  CHECK_THAT(import_error(bert), Contains("hidden_act = '\"swish\"'"));
  edit_config(bert, "hidden_act", "gelu");
  edit_config(bert, "is_decoder", true);
  CHECK_THAT(import_error(bert), Contains("is_decoder = 'true'"));
  edit_config(bert, "is_decoder", nullptr);
  edit_config(bert, "embedding_size", 16);  // ALBERT's: not a BERT field
  CHECK_THAT(import_error(bert), Contains("embedding_size = '16': lmlab's bert import does not know"));
  edit_config(bert, "embedding_size", nullptr);
  edit_config(bert, "type_vocab_size", 0);
  CHECK_THAT(import_error(bert), Contains("type_vocab_size = '0'"));
  edit_config(bert, "type_vocab_size", 2);

  // BERT's own WordPiece vocabulary alone: no tokenizer lmlab has.
  fs::remove(bert / "vocab.json");
  fs::remove(bert / "merges.txt");
  lmlab::test::write_file(bert / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n");
  const std::string wordpiece = import_error(bert);
  CHECK_THAT(wordpiece, Contains("vocab.txt: BERT's WordPiece vocabulary"));
  CHECK_THAT(wordpiece, Contains("no WordPiece tokenizer"));
  CHECK_THAT(wordpiece, Contains("vocab.json + merges.txt"));

  // BertModel's files: no MLM head.
  const fs::path headless = dir / "headless";
  fs::copy(bert_folder(""), headless);
  edit_weights(headless, [](auto& t) {
    std::erase_if(t, [](const auto& p) { return p.first.starts_with("cls."); });
  });
  CHECK_THAT(import_error(headless), Contains("has no tensor 'cls.predictions."));

  // A stored decoder or decoder bias that is not what BERT ties it to; a tensor lmlab would drop.
  const fs::path old = bert_copy("--pretraining", dir);
  edit_weights(old, [](auto& t) {
    for (auto& [name, tensor] : t) {
      if (name == "cls.predictions.decoder.bias") tensor = tensor + 1;
    }
  });
  CHECK_THAT(import_error(old), Contains("cls.predictions.decoder.bias differs from cls.predictions.bias"));
  edit_weights(old, [](auto& t) {
    const lmlab::pretrained::SafetensorsFile original(bert_folder("--pretraining") / "model.safetensors");
    for (auto& [name, tensor] : t) {
      if (name == "cls.predictions.decoder.bias") tensor = original.tensor(name).clone();
      if (name == "cls.predictions.decoder.weight") tensor = tensor * 2;
    }
  });
  CHECK_THAT(import_error(old), Contains("cls.predictions.decoder.weight differs from "
                                              "bert.embeddings.word_embeddings.weight"));
  edit_weights(old, [](auto& t) {
    std::erase_if(t, [](const auto& p) { return p.first == "cls.predictions.decoder.weight"; });
    t.emplace_back("bert.encoder.layer.0.attention.self.distance_embedding.weight", at::ones({4, 8}));
  });
  CHECK_THAT(import_error(old), Contains("'bert.encoder.layer.0.attention.self.distance_embedding.weight' is "
                                              "not part of a bert model"));
}

TEST_CASE("encoder_only: BERT's parts are options left out of the resolved config at their defaults") {
  const toml::table plain = resolved_encoder_only("");
  for (const char* key :
       {"token_types", "embedding_norm", "head_transform", "head_bias", "pooler", "predicted_vocab"}) {
    INFO(key);
    CHECK(!plain.contains(key));
  }
  const toml::table full =
      resolved_encoder_only("token_types = 2\nembedding_norm = true\nhead_transform = true\nhead_bias = true\n"
                            "pooler = false");
  CHECK(full["token_types"].value_or<std::int64_t>(0) == 2);
  CHECK(full["head_transform"].value_or(false));
  CHECK(!full["pooler"].value_or(true));
  CHECK_THROWS_WITH(resolved_encoder_only("head_transform = true\nactivation = \"swiglu\""),
                    Contains("head_transform needs an activation without a gate"));
}

}  // namespace pretrained_bert_tests
