// Hugging Face checkpoints in lmlab (framework/src/pretrained/): small random GPT-2 and LLaMA
// (grouped-query) folders in the published layout, written by tests/pretrained_reference.py with
// reference logits from its own forward passes, are imported with `lmlab import`; lmlab's logits
// must agree to 1e-5 and its greedy continuations be identical. Then each refusal: an unknown
// family, a field lmlab cannot honour, a shape that disagrees with config.json, a truncated file,
// a tensor too many or too few.
#include "support/catch.hpp"

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lmlab/error.hpp"
#include "lmlab/generate.hpp"
#include "pretrained/hf_export.hpp"
#include "pretrained/hf_import.hpp"
#include "pretrained/safetensors.hpp"
#include "support/hf_checkpoints.hpp"
#include "support/hf_folders.hpp"
#include "support/test_support.hpp"
#include "training/checkpoint.hpp"

namespace pretrained_tests {
namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using lmlab::test::TempDir;

// The folder tests/pretrained_reference.py writes for `family`, made once per test process.
const fs::path& reference_folder(const std::string& family) { return lmlab::test::reference_folder(family, family); }

nlohmann::json reference_of(const fs::path& folder) {
  return nlohmann::json::parse(lmlab::test::read_file(folder / "reference.json"));
}

// A copy of the reference folder, for a test to damage.
fs::path copy_of(const std::string& family, const TempDir& dir) {
  return lmlab::test::copy_into(reference_folder(family), dir);
}

// The family's reference folder with tokenizer.json in place of its tokenizer files.
void write_tokenizer_json_folder(const std::string& family, const fs::path& folder) {
  const auto r = lmlab::test::write_reference_folder(family, folder, "--tokenizer-json");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

using Loaded = lmlab::test::LoadedCheckpoint;
using lmlab::test::check_same_parameters;
using lmlab::test::load_checkpoint_model;

// Imports the family's reference folder with the lmlab program and checks logits and greedy
// continuations (with and without the key/value cache) against the reference.
void check_against_reference(const std::string& family, const fs::path& folder) {
  const nlohmann::json ref = reference_of(folder);
  TempDir dir;
  const fs::path checkpoint = dir / "model.ckpt";
  const auto r = lmlab::test::run_command(
      fmt::format("{} import {} --out {}", lmlab::test::lmlab_binary(), folder.string(), checkpoint.string()));
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("imported"));
  const Loaded loaded = load_checkpoint_model(checkpoint);
  lmlab::test::check_logits_against_reference(family, *loaded.model, ref);

  const auto prompt = ref["prompt"].get<std::vector<std::int64_t>>();

  const auto greedy = lmlab::test::decoding_step("greedy");
  for (const bool cache : {true, false}) {
    lmlab::GenerateOptions options;
    options.max_new_tokens = static_cast<std::int64_t>(ref["greedy"].size());
    options.eos_id = loaded.tokenizer->special().eos;
    options.use_cache = cache;
    const auto lists = lmlab::decode(*loaded.model, *greedy, {prompt}, options, c10::Device(c10::kCPU));
    INFO(family << (cache ? " with" : " without") << " the cache");
    CHECK(lists.at(0).at(0).tokens == ref["greedy"].get<std::vector<std::int64_t>>());
  }
}

using lmlab::test::edit_config;
using lmlab::test::edit_weights;
using lmlab::test::import_error;

// LMLAB_CACHE_DIR pointed at a temporary folder for a scope (tokenizer.json conversions land
// there, not in the user's cache), restored after; lmlab processes started meanwhile inherit it.
class CacheDirScope {
 public:
  explicit CacheDirScope(const fs::path& dir) : had_(std::getenv("LMLAB_CACHE_DIR") != nullptr) {
    if (had_) before_ = std::getenv("LMLAB_CACHE_DIR");
    ::setenv("LMLAB_CACHE_DIR", dir.c_str(), 1);
  }
  ~CacheDirScope() {
    if (had_) ::setenv("LMLAB_CACHE_DIR", before_.c_str(), 1);
    else ::unsetenv("LMLAB_CACHE_DIR");
  }
  CacheDirScope(const CacheDirScope&) = delete;
  CacheDirScope& operator=(const CacheDirScope&) = delete;

 private:
  bool had_;
  std::string before_;
};

std::string run_lmlab(const std::string& arguments) {
  const auto r = lmlab::test::run_command(lmlab::test::lmlab_binary() + " " + arguments);
  INFO(arguments << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

// A two-step run of a small causal decoder with `model` options and `tokenizer` tables, in `dir`;
// returns its results folder (one checkpoint).
fs::path small_run(const TempDir& dir, const std::string& model, const std::string& tokenizer) {
  lmlab::test::write_generated_corpus(dir / "corpus", 20000);
  lmlab::test::write_file(dir / "run.toml", fmt::format(R"([experiment]
name = "small"
results_dir = "{}"
threads = 1
[data]
corpus = "{}"
block_size = 16
{}
[model]
arch = "causal_decoder"
d_model = 16
n_layers = 1
n_heads = 2
{}
[objective]
name = "causal_lm"
[train]
steps = 2
batch_size = 2
eval_every = 2
[eval]
batches = 1
prompts = 1
prompt_tokens = 4
max_new_tokens = 2
)",
                                                        (dir / "results").string(), (dir / "corpus").string(), tokenizer,
                                                        model));
  run_lmlab("run " + (dir / "run.toml").string());
  return dir / "results" / "small";
}

}  // namespace

TEST_CASE("pretrained: a GPT-2 folder imports to the reference logits and greedy continuation") {
  check_against_reference("gpt2", reference_folder("gpt2"));
}

TEST_CASE("pretrained: a LLaMA folder with grouped-query attention imports to the reference logits") {
  check_against_reference("llama", reference_folder("llama"));
}

// By hand, for docs/pretrained.md: a folder of GPT-2 small's size from
// `tests/pretrained_reference.py gpt2 DIR --gpt2-124m data/tokenizers/gpt2`, named by LMLAB_GPT2_124M.
TEST_CASE("pretrained: a random GPT-2 of 124M parameters imports to its reference logits", "[.pretrained_124m]") {
  const char* folder = std::getenv("LMLAB_GPT2_124M");
  if (!folder) FAIL("set LMLAB_GPT2_124M to a folder written by pretrained_reference.py gpt2 DIR --gpt2-124m ...");
  check_against_reference("gpt2 (124M)", folder);
}

TEST_CASE("pretrained: generate reads a folder directly as hf:PATH, and a run fine-tunes from one") {
  TempDir dir;
  const fs::path folder = reference_folder("gpt2");
  const std::string lmlab = lmlab::test::lmlab_binary();
  const auto imported = lmlab::test::import_with_toml(folder, dir / "gpt2.ckpt", dir / "gpt2.toml");
  REQUIRE(imported.exit_code == 0);
  const auto generate = [&](const std::string& checkpoint) {
    return lmlab::test::run_command(
        fmt::format("{} generate --checkpoint {} --prompt 'the and' --max-new-tokens 6", lmlab, checkpoint));
  };
  const auto direct = generate("hf:" + folder.string());
  const auto converted = generate((dir / "gpt2.ckpt").string());
  REQUIRE(direct.exit_code == 0);
  CHECK_THAT(direct.output, Contains("decoding 'default': greedy"));
  CHECK_THAT(direct.output, Contains("-- 1: 6 tokens"));
  const auto continuation = [](const std::string& output) { return output.substr(output.find("== prompt")); };
  CHECK(continuation(direct.output).substr(0, 120) == continuation(converted.output).substr(0, 120));

  const auto run =
      lmlab::test::run_fine_tune(dir, "gpt2.toml", folder, 4, "prompts = 1\nprompt_tokens = 8\nmax_new_tokens = 4\n");
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.output, Contains("model weights from hf:" + folder.string()));
}

TEST_CASE("pretrained: unprefixed names with a stored tied head, two shards and bf16 weights import alike") {
  TempDir dir, out;
  const fs::path gpt2 = copy_of("gpt2", dir);
  const fs::path reference_ckpt = out / "reference.ckpt";
  std::ostringstream log;
  lmlab::pretrained::import_hf_checkpoint(reference_folder("gpt2"), reference_ckpt, lmlab::test::builtin_plugins(), log);
  const auto imports_as_reference = [&](const fs::path& folder) {
    lmlab::pretrained::import_hf_checkpoint(folder, out / "x.ckpt", lmlab::test::builtin_plugins(), log);
    check_same_parameters(reference_ckpt, out / "x.ckpt");
  };
  // As GPT2Model saves them (the published files), with the tied head stored as well.
  edit_weights(gpt2, [](auto& t) {
    for (auto& [name, tensor] : t) {
      if (name.rfind("transformer.", 0) == 0) name = name.substr(12);
    }
    const auto wte = std::find_if(t.begin(), t.end(), [](const auto& p) { return p.first == "wte.weight"; });
    t.emplace_back("lm_head.weight", wte->second.clone());
  });
  imports_as_reference(gpt2);
  edit_weights(gpt2, [](auto& t) {
    for (auto& [name, tensor] : t) {
      if (name == "lm_head.weight") tensor = tensor + 1;
    }
  });
  CHECK_THAT(import_error(gpt2), Contains("lm_head.weight differs from wte.weight, but the config ties them"));

  // Two shards and their index.
  const fs::path sharded = dir / "sharded";
  fs::create_directory(sharded);
  for (const char* file : {"config.json", "vocab.json", "merges.txt"}) fs::copy(reference_folder("gpt2") / file, sharded / file);
  std::vector<std::pair<std::string, at::Tensor>> first, second;
  nlohmann::json map;
  {
    const lmlab::pretrained::SafetensorsFile whole(reference_folder("gpt2") / "model.safetensors");
    for (const auto& [name, _] : whole.entries()) {
      const bool early = name.find(".h.1.") == std::string::npos;
      (early ? first : second).emplace_back(name, whole.tensor(name).clone());
      map[name] = early ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
  }
  lmlab::pretrained::write_safetensors(sharded / "model-00001-of-00002.safetensors", first);
  lmlab::pretrained::write_safetensors(sharded / "model-00002-of-00002.safetensors", second);
  lmlab::test::write_file(sharded / "model.safetensors.index.json", nlohmann::json{{"weight_map", map}}.dump());
  imports_as_reference(sharded);

  // BF16 weights become float32 parameters holding the same values.
  const fs::path bf16 = copy_of("llama", dir);
  edit_weights(bf16, [](auto& t) {
    for (auto& [name, tensor] : t) tensor = tensor.to(at::kBFloat16);
  });
  lmlab::pretrained::import_hf_checkpoint(bf16, out / "bf16.ckpt", lmlab::test::builtin_plugins(), log);
  const Loaded loaded = load_checkpoint_model(out / "bf16.ckpt");
  const lmlab::pretrained::SafetensorsFile stored(bf16 / "model.safetensors");
  const at::Tensor q = loaded.model->named_parameters()["blocks.1.attention.query.weight"];
  CHECK(q.scalar_type() == at::kFloat);
  CHECK(q.equal(stored.tensor("model.layers.1.self_attn.q_proj.weight").to(at::kFloat)));
}

TEST_CASE("pretrained: a GPT-2 folder with only tokenizer.json imports with the same token ids") {
  TempDir dir, cache;
  const fs::path folder = dir / "gpt2";
  write_tokenizer_json_folder("gpt2", folder);
  const CacheDirScope scope(cache.path());
  std::ostringstream log;
  const auto& registry = lmlab::test::builtin_plugins();
  lmlab::pretrained::import_hf_checkpoint(folder, dir / "json.ckpt", registry, log);
  lmlab::pretrained::import_hf_checkpoint(reference_folder("gpt2"), dir / "files.ckpt", registry, log);
  const Loaded json = load_checkpoint_model(dir / "json.ckpt"), files = load_checkpoint_model(dir / "files.ckpt");
  const std::string text = "the and then, the other thing and the cat";
  CHECK(json.tokenizer->encode(text) == files.tokenizer->encode(text));
  CHECK(json.tokenizer->special().eos == files.tokenizer->special().eos);
  CHECK(json.tokenizer->vocab_size() == files.tokenizer->vocab_size());
  CHECK(fs::exists(cache / "hf-tokenizers"));

  nlohmann::json doc = nlohmann::json::parse(lmlab::test::read_file(folder / "tokenizer.json"));
  doc["pre_tokenizer"] = {{"type", "Metaspace"}};
  lmlab::test::write_file(folder / "tokenizer.json", doc.dump());
  CHECK_THAT(import_error(folder), Contains("pre_tokenizer = '{\"type\":\"Metaspace\"}'"));
}

TEST_CASE("pretrained: a LLaMA 3 folder with only tokenizer.json imports to its reference, by tiktoken's rule") {
  TempDir dir, cache;
  const fs::path folder = dir / "llama3";
  write_tokenizer_json_folder("llama", folder);
  const CacheDirScope scope(cache.path());
  check_against_reference("llama3", folder);
  std::ostringstream log;
  lmlab::pretrained::import_hf_checkpoint(folder, dir / "l3.ckpt", lmlab::test::builtin_plugins(), log);
  const Loaded llama3 = load_checkpoint_model(dir / "l3.ckpt");
  const Loaded gpt2 = load_checkpoint_model([&] {
    lmlab::pretrained::import_hf_checkpoint(reference_folder("gpt2"), dir / "g.ckpt", lmlab::test::builtin_plugins(), log);
    return dir / "g.ckpt";
  }());
  // The same byte-level vocabulary and merges: on plain words both regexes cut alike.
  const std::string text = "the and then the other thing and the cat";
  CHECK(llama3.tokenizer->encode(text) == gpt2.tokenizer->encode(text));
  CHECK(llama3.tokenizer->special().eos == 264);  // <|end_of_text|>, an added token
  CHECK_THAT(lmlab::read_checkpoint_config(dir / "l3.ckpt"), Contains("pattern = 'llama3'"));
  CHECK(llama3.tokenizer->decode(std::vector<std::int64_t>{259, 264}) == " the<|end_of_text|>");
}

TEST_CASE("pretrained: an unknown family or a config field lmlab cannot honour is refused, naming it") {
  TempDir dir;
  const fs::path gpt2 = copy_of("gpt2", dir);
  edit_config(gpt2, "model_type", "bert_like");
  CHECK_THAT(import_error(gpt2), Contains("model_type = '\"bert_like\"': lmlab imports gpt2 and llama"));
  edit_config(gpt2, "model_type", "gpt2");
  edit_config(gpt2, "activation_function", "swish");
  CHECK_THAT(import_error(gpt2), Contains("activation_function = '\"swish\"'"));
  edit_config(gpt2, "activation_function", "gelu_new");
  edit_config(gpt2, "scale_attn_by_inverse_layer_idx", true);
  CHECK_THAT(import_error(gpt2), Contains("scale_attn_by_inverse_layer_idx = 'true'"));
  edit_config(gpt2, "scale_attn_by_inverse_layer_idx", nullptr);
  edit_config(gpt2, "new_attention_trick", 3);
  CHECK_THAT(import_error(gpt2), Contains("new_attention_trick = '3': lmlab's gpt2 import does not know"));
  edit_config(gpt2, "new_attention_trick", nullptr);
  edit_config(gpt2, "n_head", 5);
  CHECK_THAT(import_error(gpt2), Contains("n_head = '5': must divide n_embd = 32"));
  edit_config(gpt2, "n_head", 4);
  // A config asking for a model far larger than its weights stops before anything is allocated.
  edit_config(gpt2, "n_layer", 1000000000);
  CHECK_THAT(import_error(gpt2), Contains("n_layer = '1000000000': more layers than the"));
  edit_config(gpt2, "n_layer", 2);
  edit_config(gpt2, "n_embd", 1 << 20);
  CHECK_THAT(import_error(gpt2), Contains("c_attn.bias' has shape [96], but config.json implies [3145728]"));

  const fs::path llama = copy_of("llama", dir);
  edit_config(llama, "rope_scaling", {{"type", "linear"}, {"factor", 2.0}});
  CHECK_THAT(import_error(llama), Contains("rope_scaling = "));
  CHECK_THAT(import_error(llama), Contains("no scaling"));
  edit_config(llama, "rope_scaling", nullptr);
  edit_config(llama, "hidden_act", "gelu");
  CHECK_THAT(import_error(llama), Contains("hidden_act = '\"gelu\"'"));
}

TEST_CASE("pretrained: weights that disagree with config.json, or a damaged file, are refused") {
  TempDir dir;
  const fs::path gpt2 = copy_of("gpt2", dir);
  edit_config(gpt2, "n_positions", 32);
  CHECK_THAT(import_error(gpt2),
             Contains("tensor 'transformer.wpe.weight' has shape [64, 32], but config.json implies [32, 32]"));
  edit_config(gpt2, "n_positions", 64);

  edit_weights(gpt2, [](auto& t) { t.emplace_back("transformer.h.0.attn.extra_gate", at::ones({2})); });
  CHECK_THAT(import_error(gpt2), Contains("tensor 'transformer.h.0.attn.extra_gate' is not part of a gpt2"));
  edit_weights(gpt2, [](auto& t) {
    std::erase_if(t, [](const auto& p) {
      return p.first == "transformer.h.0.attn.extra_gate" || p.first == "transformer.ln_f.bias";
    });
    t.emplace_back("transformer.h.0.attn.bias", at::ones({1, 1, 4, 4}));  // an old mask buffer: skipped
  });
  CHECK_THAT(import_error(gpt2), Contains("has no tensor 'transformer.ln_f.bias'"));
  edit_weights(gpt2, [](auto& t) {
    const lmlab::pretrained::SafetensorsFile reference(reference_folder("gpt2") / "model.safetensors");
    t.emplace_back("transformer.ln_f.bias", reference.tensor("transformer.ln_f.bias").clone());
  });
  CHECK(import_error(gpt2) == "no error");  // with the mask buffer still there

  const fs::path whole = reference_folder("gpt2") / "model.safetensors";
  const std::string bytes = lmlab::test::read_file(whole);
  lmlab::test::write_file(gpt2 / "model.safetensors", bytes.substr(0, bytes.size() / 2));
  const std::string truncated = import_error(gpt2);
  CHECK_THAT(truncated, Contains("model.safetensors: tensor"));
  CHECK_THAT(truncated, Contains("reach past"));
  fs::remove(gpt2 / "model.safetensors");
  CHECK_THAT(import_error(gpt2), Contains("no model.safetensors or model.safetensors.index.json"));

  const fs::path llama = copy_of("llama", dir);
  edit_weights(llama, [](auto& t) {
    for (auto& [name, tensor] : t) {
      if (name == "model.layers.1.self_attn.k_proj.weight") tensor = at::zeros({32, 32});  // full heads, not GQA's
    }
  });
  CHECK_THAT(import_error(llama),
             Contains("'model.layers.1.self_attn.k_proj.weight' has shape [32, 32], but config.json implies [16, 32]"));
}

}  // namespace pretrained_tests

namespace pretrained_tests {

TEST_CASE("pretrained: export then import gives the same weights bit for bit, and the published tensors back") {
  for (const std::string family : {"gpt2", "llama"}) {
    INFO(family);
    TempDir dir;
    // Through the library: the commands are exercised by the tests above and below.
    lmlab::test::check_export_gives_published_tensors(reference_folder(family), dir);
    std::ostringstream log;
    lmlab::pretrained::import_hf_checkpoint(dir / "hf", dir / "b.ckpt", lmlab::test::builtin_plugins(), log);
    check_same_parameters(dir / "a.ckpt", dir / "b.ckpt");
  }
}

TEST_CASE("pretrained: a model trained in lmlab exports with its tokenizer's sentinels and imports back") {
  TempDir dir;
  const fs::path gpt2 = reference_folder("gpt2");
  const fs::path results = small_run(dir,
                                     "activation = \"gelu_tanh\"\ncontext_length = 32\n",
                                     fmt::format("tokenizer = \"bpe\"\n[tokenizer]\nencoder = \"{}\"\nmerges = \"{}\"\n"
                                                 "sentinels = 3\n",
                                                 (gpt2 / "vocab.json").string(), (gpt2 / "merges.txt").string()));
  std::ostringstream log;
  lmlab::pretrained::export_hf(results, dir / "hf", lmlab::test::builtin_plugins(), log);
  const auto config = nlohmann::json::parse(lmlab::test::read_file(dir / "hf" / "config.json"));
  CHECK(config["lmlab_sentinels"] == 3);
  CHECK(config["vocab_size"] == 264 + 2 + 3);  // vocab.json, then lmlab's pad, mask and 3 sentinels
  lmlab::pretrained::import_hf_checkpoint(dir / "hf", dir / "b.ckpt", lmlab::test::builtin_plugins(), log);
  check_same_parameters(lmlab::find_checkpoint(results), dir / "b.ckpt");
}

TEST_CASE("pretrained: export refuses what Hugging Face has no counterpart for, naming it") {
  TempDir dir;
  const fs::path results = small_run(dir, "positions = \"alibi\"\n", "tokenizer = \"byte\"\n");
  const auto r = lmlab::test::run_command(
      fmt::format("{} export {} --out {}", lmlab::test::lmlab_binary(), results.string(), (dir / "hf").string()));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("model.positions = \"alibi\" has no counterpart"));
  TempDir other;
  const fs::path byte = small_run(other, "activation = \"gelu_tanh\"\n", "tokenizer = \"byte\"\n");
  CHECK_THAT(lmlab::test::run_command(fmt::format("{} export {} --out {}", lmlab::test::lmlab_binary(), byte.string(),
                                                  (other / "hf").string()))
                 .output,
             Contains("data.tokenizer = \"byte\" has no Hugging Face file"));
}

}  // namespace pretrained_tests
