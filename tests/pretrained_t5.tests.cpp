// T5 checkpoints in lmlab (framework/src/pretrained/t5.cpp): small random folders in Hugging
// Face's T5ForConditionalGeneration layout, T5 v1.0's (ReLU, tied head) and v1.1's (gated GELU,
// untied), both with heads whose total width differs from d_model and more decoder than encoder
// blocks, written by tests/pretrained_reference.py with logits and greedy continuations from its
// own float64 forward pass, are imported; lmlab's logits must agree to 1e-5 and its greedy
// continuations be identical. Then each refusal, and the encoder_decoder options T5 needs, which
// stay out of every config that does not set them.
#include "support/catch.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiment/experiment_schema.hpp"
#include "experiment/toml_limits.hpp"
#include "lmlab/error.hpp"
#include "lmlab/generate.hpp"
#include "pretrained/hf_import.hpp"
#include "pretrained/safetensors.hpp"
#include "support/hf_checkpoints.hpp"
#include "support/hf_folders.hpp"
#include "support/test_support.hpp"
#include "training/checkpoint.hpp"

namespace pretrained_t5_tests {
namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using lmlab::test::TempDir;

// The folder pretrained_reference.py writes for `variant` ("" for v1.0, "--gated" for v1.1), made
// once. With seed 3, v1.0's greedy continuation has four different tokens (random models often
// repeat one).
const fs::path& t5_folder(const std::string& variant) {
  const std::string arguments = variant.empty() ? "--seed 3" : variant;
  return lmlab::test::reference_folder(variant.empty() ? "t5" : "t5_gated", "t5", arguments);
}

fs::path t5_copy(const std::string& variant, const TempDir& dir) {
  return lmlab::test::copy_into(t5_folder(variant), dir);
}

using T5Loaded = lmlab::test::LoadedCheckpoint;

// The Hugging Face id of each lmlab id, (V): the pieces keep theirs, each <extra_id_n> has the
// id T5's tokenizer gives that name (the reference's extra_id_rows), and the ids lmlab appends
// without a T5 name (<mask>, sentinels past T5's) take the padding rows in order.
at::Tensor t5_hf_ids(const lmlab::Tokenizer& tokenizer, const nlohmann::json& ref) {
  const auto V = ref["vocab_size"].get<std::int64_t>();
  const std::int64_t pieces = tokenizer.special().mask;  // lmlab appends <mask> first
  std::vector<std::int64_t> hf(static_cast<std::size_t>(V), -1);
  std::vector<bool> taken(static_cast<std::size_t>(V), false);
  for (std::int64_t id = 0; id < V; ++id) {
    const std::string name = tokenizer.piece(id);
    const std::int64_t row = id < pieces ? id : ref["extra_id_rows"].value(name, std::int64_t{-1});
    if (row < 0) continue;
    hf[static_cast<std::size_t>(id)] = row;
    taken[static_cast<std::size_t>(row)] = true;
  }
  std::int64_t next = 0;
  for (auto& row : hf) {
    if (row >= 0) continue;
    while (taken[static_cast<std::size_t>(next)]) ++next;
    row = next++;
  }
  return at::tensor(hf, at::kLong);  // (V)
}

std::vector<std::int64_t> t5_ids_through(const at::Tensor& map, const std::vector<std::int64_t>& ids) {
  std::vector<std::int64_t> out;
  for (const std::int64_t id : ids) out.push_back(map[id].item<std::int64_t>());
  return out;
}

// lmlab's logits of the reference's prompt (encoder) and target (decoder, teacher-forced), and
// its greedy continuations with and without the cache, against the reference's.
void check_t5_reference(const fs::path& folder, const T5Loaded& loaded) {
  const nlohmann::json ref = nlohmann::json::parse(lmlab::test::read_file(folder / "reference.json"));
  const auto V = ref["vocab_size"].get<std::int64_t>();
  // T5's extra ids and padding rows are lmlab's <mask> and sentinels: as many ids as vocab_size.
  REQUIRE(loaded.tokenizer->vocab_size() == V);
  const at::Tensor hf_of = t5_hf_ids(*loaded.tokenizer, ref);  // (V): lmlab id -> Hugging Face id
  const at::Tensor lmlab_of = at::empty_like(hf_of).index_copy_(0, hf_of, at::arange(V, at::kLong));  // (V)
  CHECK(std::get<0>(at::sort(hf_of)).equal(at::arange(V, at::kLong)));  // a permutation
  CHECK(lmlab_of[ref["extra_id_rows"]["<extra_id_0>"].get<std::int64_t>()].item<std::int64_t>() ==
        loaded.tokenizer->special().sentinel(0));
  const auto prompt = t5_ids_through(lmlab_of, ref["prompt"].get<std::vector<std::int64_t>>());
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    lmlab::ModelInput input;
    input.encoder_tokens = at::tensor(prompt, at::kLong).unsqueeze(0);                                  // (1, S)
    input.tokens =
        at::tensor(t5_ids_through(lmlab_of, ref["decoder_input"].get<std::vector<std::int64_t>>()), at::kLong)
            .unsqueeze(0);  // (1, T)
    logits = loaded.model->forward(input).logits.squeeze(0);                                            // (T, V)
  }
  const at::Tensor expected = lmlab::test::reference_logits(ref).index_select(1, hf_of);  // (T, V) in lmlab's ids
  REQUIRE(logits.size(1) == V);
  const double worst = (logits.to(at::kDouble) - expected).abs().max().item<double>();
  INFO(folder.string() << ": largest logit difference " << worst << " (logits span "
                       << expected.abs().max().item<double>() << ")");
  CHECK(worst < 1e-5);

  // T5's decoder starts from its pad piece, which the imported tokenizer gives the bos role.
  CHECK(loaded.tokenizer->special().bos == 0);
  CHECK(loaded.tokenizer->special().eos == 1);
  const auto greedy = lmlab::test::decoding_step("greedy");
  for (const bool cache : {true, false}) {
    lmlab::GenerateOptions options;
    options.max_new_tokens = static_cast<std::int64_t>(ref["greedy"].size());
    options.eos_id = loaded.tokenizer->special().eos;
    options.pad_id = loaded.tokenizer->special().pad;
    options.decoder_start_id = loaded.tokenizer->special().bos;
    options.use_cache = cache;
    const auto lists = lmlab::decode(*loaded.model, *greedy, {prompt}, options, c10::Device(c10::kCPU));
    INFO(folder.string() << (cache ? " with" : " without") << " the cache");
    CHECK(t5_ids_through(hf_of, lists.at(0).at(0).tokens) == ref["greedy"].get<std::vector<std::int64_t>>());
  }
}

using lmlab::test::edit_config;
using lmlab::test::edit_weights;
using lmlab::test::import_error;

// A small encoder_decoder's [model] table with the t5 preset and `extra` lines, and its objective.
std::string small_t5_tables(const std::string& extra) {
  return fmt::format(R"([model]
arch = "encoder_decoder"
preset = "t5"
d_model = 16
n_layers = 1
n_heads = 2
{}
[objective]
name = "span_corruption"
)",
                     extra);
}

// The [model] table of an encoder_decoder experiment with `extra` lines, as resolved.
toml::table resolved_encoder_decoder(const std::string& extra) {
  const toml::table config =
      lmlab::parse_toml("[data]\ntokenizer = \"byte\"\nblock_size = 16\n" + small_t5_tables(extra), "t5.toml");
  const lmlab::Experiment e = lmlab::resolve_experiment(config, lmlab::test::builtin_plugins(), "t5.toml");
  return *e.resolved["model"].as_table();
}

}  // namespace

TEST_CASE("pretrained: T5 v1.0 and v1.1 folders import to the reference logits and greedy continuations") {
  TempDir dir;
  const fs::path folder = t5_folder("");
  lmlab::test::require_import_with_toml(folder, dir / "t5.ckpt", dir / "t5.toml");
  const T5Loaded tied = lmlab::test::load_checkpoint_model(dir / "t5.ckpt");
  check_t5_reference(folder, tied);
  CHECK_THAT(tied.config, Contains("scale_attention = false"));
  CHECK_THAT(tied.config, Contains("rescale_tied_head = true"));
  CHECK_THAT(tied.config, Contains("head_width = 8"));
  CHECK_THAT(tied.config, Contains("bos_piece = '<pad>'"));
  CHECK_THAT(tied.config, Contains("activation = 'relu'"));

  const fs::path gated = t5_folder("--gated");
  std::ostringstream log;
  lmlab::pretrained::import_hf_checkpoint(gated, dir / "gated.ckpt", lmlab::test::builtin_plugins(), log);
  const T5Loaded untied = lmlab::test::load_checkpoint_model(dir / "gated.ckpt");
  check_t5_reference(gated, untied);
  CHECK_THAT(untied.config, Contains("activation = 'geglu_tanh'"));
  CHECK_THAT(untied.config, !Contains("rescale_tied_head"));  // at its default (false): left out

  // Generated from the folder directly, and fine-tuned from it with span corruption.
  const auto generated = lmlab::test::run_command(fmt::format(
      "{} generate --checkpoint hf:{} --prompt 'translate the fox' --max-new-tokens 4", lmlab::test::lmlab_binary(),
      folder.string()));
  INFO(generated.output);
  CHECK(generated.exit_code == 0);
  const auto run = lmlab::test::run_fine_tune(dir, "t5.toml", folder, 2, "max_new_tokens = 0\n");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.output, Contains("complete"));
  // The fine-tuned model goes back to the Hugging Face layout, and imports as itself.
  const auto exported = lmlab::test::run_command(fmt::format("{} export {} --format hf --out {}",
                                                             lmlab::test::lmlab_binary(),
                                                             (dir / "results" / "ft").string(),
                                                             (dir / "ft-hf").string()));
  INFO(exported.output);
  REQUIRE(exported.exit_code == 0);
  CHECK(fs::exists(dir / "ft-hf" / "spiece.model"));
  lmlab::pretrained::import_hf_checkpoint(dir / "ft-hf", dir / "ft-back.ckpt", lmlab::test::builtin_plugins(), log);
  lmlab::test::check_same_parameters(lmlab::find_checkpoint(dir / "results" / "ft"), dir / "ft-back.ckpt");
}

// By hand, for docs/pretrained.md: a folder of t5-small's size from
// `tests/pretrained_reference.py t5 DIR --t5-small data/brown/train.txt`, named by LMLAB_T5_SMALL.
TEST_CASE("pretrained: a random T5 of t5-small's size imports to its reference logits", "[.pretrained_t5_small]") {
  const char* folder = std::getenv("LMLAB_T5_SMALL");
  if (!folder) FAIL("set LMLAB_T5_SMALL to a folder written by pretrained_reference.py t5 DIR --t5-small CORPUS");
  TempDir dir;
  std::ostringstream log;
  lmlab::pretrained::import_hf_checkpoint(folder, dir / "small.ckpt", lmlab::test::builtin_plugins(), log);
  check_t5_reference(folder, lmlab::test::load_checkpoint_model(dir / "small.ckpt"));
}

TEST_CASE("pretrained: T5 export then import gives the same weights bit for bit, and the published tensors back") {
  for (const std::string variant : {"", "--gated"}) {
    INFO("variant " << variant);
    TempDir dir;
    const fs::path original = t5_folder(variant);
    lmlab::test::check_export_gives_published_tensors(original, dir);
    const auto theirs = nlohmann::json::parse(lmlab::test::read_file(original / "config.json"));
    const auto ours = nlohmann::json::parse(lmlab::test::read_file(dir / "hf" / "config.json"));
    for (const char* key : {"d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
                            "relative_attention_num_buckets", "relative_attention_max_distance", "feed_forward_proj",
                            "tie_word_embeddings", "vocab_size", "pad_token_id", "eos_token_id",
                            "decoder_start_token_id", "layer_norm_epsilon", "model_type"}) {
      INFO(key);
      CHECK(ours[key] == theirs[key]);
    }
    CHECK(lmlab::test::read_file(dir / "hf" / "spiece.model") == lmlab::test::read_file(original / "spiece.model"));
    std::ostringstream log;
    lmlab::pretrained::import_hf_checkpoint(dir / "hf", dir / "b.ckpt", lmlab::test::builtin_plugins(), log);
    lmlab::test::check_same_parameters(dir / "a.ckpt", dir / "b.ckpt");
  }
}

TEST_CASE("pretrained: a T5 folder lmlab cannot honour is refused, naming the file, field or tensor") {
  TempDir dir;
  const fs::path t5 = t5_copy("", dir);
  edit_config(t5, "feed_forward_proj", "gated-tanh");
  CHECK_THAT(import_error(t5), Contains("feed_forward_proj = '\"gated-tanh\"'"));
  edit_config(t5, "feed_forward_proj", "relu");
  edit_config(t5, "dense_act_fn", "gelu");
  CHECK_THAT(import_error(t5), Contains("dense_act_fn = '\"gelu\"': must agree with feed_forward_proj"));
  edit_config(t5, "dense_act_fn", nullptr);
  edit_config(t5, "is_encoder_decoder", false);
  CHECK_THAT(import_error(t5), Contains("is_encoder_decoder = 'false'"));
  edit_config(t5, "is_encoder_decoder", true);
  edit_config(t5, "pad_token_id", 3);
  CHECK_THAT(import_error(t5), Contains("pad_token_id = '3': spiece.model's pad is 0"));
  edit_config(t5, "pad_token_id", 0);
  edit_config(t5, "relative_attention_max_distance", 2);
  CHECK_THAT(import_error(t5), Contains("relative_attention_max_distance = '2'"));
  edit_config(t5, "relative_attention_max_distance", 20);
  edit_config(t5, "vocab_size", 50);
  CHECK_THAT(import_error(t5), Contains("vocab_size = '50': must be at least spiece.model's"));
  edit_config(t5, "vocab_size", nullptr);
  CHECK_THAT(import_error(t5), Contains("vocab_size = absent"));
  const auto published = nlohmann::json::parse(lmlab::test::read_file(t5_folder("") / "config.json"));
  edit_config(t5, "vocab_size", published["vocab_size"]);
  edit_config(t5, "relative_attention", "t5");  // not a T5Config field
  CHECK_THAT(import_error(t5), Contains("relative_attention = '\"t5\"': lmlab's t5 import does not know"));
  edit_config(t5, "relative_attention", nullptr);
  CHECK(import_error(t5) == "no error");

  // Shapes that disagree with config.json; a stored embedding or head that is not shared.weight;
  // a tensor lmlab would drop; no spiece.model.
  edit_config(t5, "d_kv", 4);
  CHECK_THAT(import_error(t5), Contains("has shape [48, 32], but config.json implies [24, 32]"));
  edit_config(t5, "d_kv", 8);
  edit_weights(t5, [](auto& t) {
    const auto shared = std::find_if(t.begin(), t.end(), [](const auto& p) { return p.first == "shared.weight"; });
    REQUIRE(shared != t.end());
    t.emplace_back("decoder.embed_tokens.weight", shared->second.clone() + 1);
  });
  CHECK_THAT(import_error(t5), Contains("decoder.embed_tokens.weight differs from shared.weight"));
  edit_weights(t5, [](auto& t) {
    for (auto& [name, _] : t) {
      if (name == "decoder.embed_tokens.weight") name = "lm_head.weight";
    }
  });
  CHECK_THAT(import_error(t5), Contains("lm_head.weight differs from shared.weight"));
  edit_weights(t5, [](auto& t) {
    for (auto& [name, tensor] : t) {
      if (name != "lm_head.weight") continue;
      name = "decoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight";
      tensor = at::ones({8, 6});
    }
  });
  CHECK_THAT(import_error(t5), Contains("'decoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight' is "
                                        "not part of a t5 model"));
  lmlab::test::write_file(t5 / "tokenizer_config.json", R"({"extra_ids": 100})");
  CHECK_THAT(import_error(t5), Contains("extra_ids = '100': lmlab maps 19 extra ids"));
  fs::remove(t5 / "spiece.model");
  CHECK_THAT(import_error(t5), Contains("has no spiece.model"));
}

TEST_CASE("pretrained: T5 export refuses an encoder_decoder Hugging Face's T5 cannot express, naming it") {
  TempDir dir;
  lmlab::test::write_generated_corpus(dir / "corpus", 20000);
  lmlab::test::write_file(dir / "run.toml", fmt::format(R"([experiment]
name = "small"
results_dir = "{}"
threads = 1
[data]
corpus = "{}"
block_size = 16
tokenizer = "byte"
{}[train]
steps = 1
batch_size = 2
eval_every = 1
[eval]
batches = 1
max_new_tokens = 0
)",
                                                        (dir / "results").string(), (dir / "corpus").string(),
                                                        small_t5_tables("")));
  const auto run =
      lmlab::test::run_command(fmt::format("{} run {}", lmlab::test::lmlab_binary(), (dir / "run.toml").string()));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  // The t5 preset divides attention scores by sqrt(head width), as Hugging Face's T5 does not.
  const auto r = lmlab::test::run_command(fmt::format("{} export {} --out {}", lmlab::test::lmlab_binary(),
                                                      (dir / "results" / "small").string(), (dir / "hf").string()));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("model.scale_attention = true: Hugging Face's T5 does not divide"));
}

TEST_CASE("encoder_decoder: T5's parts are options left out of the resolved config at their defaults") {
  const toml::table plain = resolved_encoder_decoder("");
  for (const char* key : {"head_width", "scale_attention", "rescale_tied_head"}) {
    INFO(key);
    CHECK(!plain.contains(key));
  }
  const toml::table full =
      resolved_encoder_decoder("head_width = 4\nscale_attention = false\nrescale_tied_head = true");
  CHECK(full["head_width"].value_or<std::int64_t>(0) == 4);
  CHECK(!full["scale_attention"].value_or(true));
  CHECK(full["rescale_tied_head"].value_or(false));
}

}  // namespace pretrained_t5_tests
