// experiments/pretrained_decoding.toml (Holtzman et al.'s decoding comparison on a published
// checkpoint) run as it stands on a small random GPT-2 folder in the Hugging Face layout, named
// on the command line as model.from, with fewer prompts and tokens: nothing is trained, no
// checkpoint is written, every decoding is evaluated at step 0 and every claim's metric is
// reported. Then model.from's refusals (pretrained/model_from.hpp), each naming the key.
#include "support/catch.hpp"

#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "experiment/toml_limits.hpp"
#include "generated/test_paths.hpp"
#include "lmlab/error.hpp"
#include "pretrained/model_from.hpp"
#include "results/run_reader.hpp"
#include "support/test_support.hpp"

namespace pretrained_decoding_tests {
namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using lmlab::test::run_command;
using lmlab::test::TempDir;

// A random GPT-2 folder (2 layers, width 32, a 265-id byte-level BPE) from tests/pretrained_reference.py.
fs::path random_gpt2(const fs::path& folder) {
  const auto r = run_command(fmt::format("/usr/bin/python3 {}/tests/pretrained_reference.py gpt2 {}",
                                         lmlab::test_paths::source_dir, folder.string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return folder;
}

toml::table experiment(const std::string& text) { return lmlab::parse_toml(text, "exp.toml"); }

// What apply_model_from says of `text`: its error message, or "no error".
std::string model_from_error(const std::string& text) {
  toml::table config = experiment(text);
  try {
    lmlab::pretrained::apply_model_from(config);
  } catch (const lmlab::Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("pretrained_decoding: the experiment file decodes a random GPT-2 folder named by model.from, training nothing") {
  TempDir dir;
  const fs::path folder = random_gpt2(dir / "gpt2-random");
  lmlab::test::write_generated_corpus(dir / "corpus", 20000);
  const fs::path file = fs::path(lmlab::test_paths::source_dir) / "experiments" / "pretrained_decoding.toml";
  const std::string sets = fmt::format(
      "--set model.from={} --set experiment.results_dir={} --set data.corpus={} --set eval.batches=1 "
      "--set eval.prompts=2 --set eval.prompt_tokens=8 --set eval.max_new_tokens=6",
      folder.string(), (dir / "results").string(), (dir / "corpus").string());
  const auto sweep = run_command(fmt::format("{} sweep {} {} --jobs 2", lmlab::test::lmlab_binary(), file.string(), sets));
  INFO(sweep.output);
  REQUIRE(sweep.exit_code == 0);
  CHECK_THAT(sweep.output, Contains("2 complete"));

  const fs::path results = dir / "results" / "pretrained_decoding";
  int runs = 0;
  for (const auto& entry : fs::directory_iterator(results)) {
    if (entry.path().extension() == ".ckpt") FAIL("a run that trains nothing wrote a checkpoint: " << entry.path());
    if (entry.path().extension() == ".log") {
      CHECK_THAT(lmlab::test::read_file(entry.path()), Contains("model weights from hf:" + folder.string()));
    }
    if (entry.path().extension() != ".h5" || entry.path().filename() == "index.h5") continue;
    ++runs;
    const lmlab::RunReader run(entry.path());
    CHECK(run.ints("eval/step") == std::vector<std::int64_t>{0});
    CHECK_FALSE(run.exists("train/loss"));
    for (const char* decoding : {"default", "beam16", "pure", "temp_0_9", "top_k40", "top_k640", "top_k40_t07", "nucleus"}) {
      INFO(decoding);
      CHECK(run.exists(fmt::format("generation/{}/metrics", decoding)));
    }
  }
  CHECK(runs == 2);
  // Every claim's runs and metrics are there; their values on a random model are not judged.
  const auto check = run_command(
      fmt::format("{} check {} --file {} --metrics-only", lmlab::test::lmlab_binary(), results.string(), file.string()));
  INFO(check.output);
  CHECK(check.exit_code == 0);
  CHECK_THAT(check.output, Contains("10 of 10 expectation(s) hold"));
}

TEST_CASE("pretrained_decoding: model.from takes model, tokenizer and weights from the folder, and refuses what would clash") {
  TempDir dir;
  const fs::path folder = random_gpt2(dir / "gpt2-random");
  toml::table config = experiment(fmt::format("[model]\nfrom = \"hf:{}\"\n[data]\nblock_size = 32\n", folder.string()));
  lmlab::pretrained::apply_model_from(config);
  CHECK(config["model"]["arch"].value<std::string>() == "causal_decoder");
  CHECK(config["model"]["d_model"].value<std::int64_t>() == 32);
  CHECK_FALSE(config["model"]["from"]);
  CHECK(config["data"]["tokenizer"].value<std::string>() == "bpe");
  CHECK(config["data"]["block_size"].value<std::int64_t>() == 32);  // the file's own, below the model's 64
  CHECK(config["tokenizer"]["encoder"].value<std::string>() == (folder / "vocab.json").string());
  CHECK(config["train"]["init_from"].value<std::string>() == "hf:" + folder.string());
  // Another checkpoint of the same model (a run fine-tuned from the folder) is kept.
  toml::table other = experiment(fmt::format("[model]\nfrom = \"{}\"\n[train]\ninit_from = \"ft.ckpt\"\n", folder.string()));
  lmlab::pretrained::apply_model_from(other);
  CHECK(other["train"]["init_from"].value<std::string>() == "ft.ckpt");
  CHECK(other["data"]["block_size"].value<std::int64_t>() == 64);  // the model's context

  CHECK_THAT(model_from_error("[model]\nfrom = \"\"\n"),
             Contains("exp.toml:2:8: model.from: no checkpoint folder given") && Contains("--set model.from="));
  CHECK_THAT(model_from_error("[model]\nfrom = 3\n"), Contains("model.from: must be a string"));
  CHECK_THAT(model_from_error(fmt::format("[model]\nfrom = \"{}\"\n", (dir / "missing").string())),
             Contains("exp.toml:2:8: model.from = '" + (dir / "missing").string()) && Contains("not a folder"));
  fs::create_directories(dir / "empty");
  CHECK_THAT(model_from_error(fmt::format("[model]\nfrom = \"{}\"\n", (dir / "empty").string())),
             Contains("model.from = ") && Contains("no model.safetensors"));
  CHECK_THAT(model_from_error(fmt::format("[model]\nfrom = \"{}\"\nd_model = 64\n", folder.string())),
             Contains("exp.toml:3:11: model.d_model: cannot be set beside model.from (at exp.toml:2:8)"));
  CHECK_THAT(model_from_error(fmt::format("[model]\nfrom = \"{}\"\n[data]\ntokenizer = \"byte\"\n", folder.string())),
             Contains("data.tokenizer: cannot be set beside model.from") && Contains("tokenizer files are used"));
  CHECK_THAT(model_from_error(fmt::format("[model]\nfrom = \"{}\"\n[tokenizer]\nvocab = \"v.json\"\n", folder.string())),
             Contains("tokenizer: cannot be set beside model.from"));
  CHECK_THAT(model_from_error(fmt::format("[model]\nfrom = \"{}\"\n[data]\nblock_size = 128\n", folder.string())),
             Contains("exp.toml:4:14: data.block_size: 128 tokens do not fit the context of the model in") &&
                 Contains("(64 tokens, from its config.json); accepted: at most 64"));
  CHECK(model_from_error("[model]\narch = \"causal_decoder\"\n") == "no error");
}

}  // namespace pretrained_decoding_tests
