// The lmlab checkpoints the pretrained tests import from Hugging Face folders (support/hf_folders.hpp):
// loaded as `lmlab generate` rebuilds them, checked against the reference's logits and against each
// other, and the commands that import, fine-tune from and export a folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "experiment/experiment_schema.hpp"
#include "experiment/toml_limits.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/plugin_call.hpp"
#include "plugin_host/run_tokenizer.hpp"
#include "pretrained/hf_export.hpp"
#include "pretrained/hf_import.hpp"
#include "pretrained/safetensors.hpp"
#include "support/catch.hpp"
#include "support/test_support.hpp"
#include "training/checkpoint.hpp"

namespace lmlab::test {

/// The model (in eval mode), tokenizer and config text of an lmlab checkpoint.
struct LoadedCheckpoint {
  std::shared_ptr<Architecture> model;
  std::shared_ptr<const Tokenizer> tokenizer;
  std::string config;
};

inline LoadedCheckpoint load_checkpoint_model(const std::filesystem::path& checkpoint) {
  const auto& registry = builtin_plugins();
  LoadedCheckpoint out;
  out.config = read_checkpoint_config(checkpoint);
  const Experiment e = resolve_experiment(parse_toml(out.config, checkpoint.string()), registry, checkpoint.string());
  out.tokenizer = build_tokenizer(registry, e.tokenizer);
  out.model = make_plugin<Architecture>(registry, e.model.name, e.model.options,
                                        ArchitectureContext{out.tokenizer->vocab_size(), e.data.block_size});
  load_model_weights(checkpoint, *out.model, c10::Device(c10::kCPU));
  out.model->eval();
  return out;
}

/// Every parameter of two lmlab checkpoints' models, compared bit for bit.
inline void check_same_parameters(const std::filesystem::path& a, const std::filesystem::path& b) {
  const LoadedCheckpoint first = load_checkpoint_model(a), second = load_checkpoint_model(b);
  const auto theirs = second.model->named_parameters();
  std::size_t compared = 0;
  for (const auto& p : first.model->named_parameters()) {
    INFO(p.key());
    REQUIRE(theirs.contains(p.key()));
    CHECK(p.value().equal(theirs[p.key()]));
    ++compared;
  }
  CHECK(compared == theirs.size());
}

/// reference.json's logits as a float64 (T, vocab_size) tensor, in the Hugging Face ids.
inline at::Tensor reference_logits(const nlohmann::json& ref) {
  const auto V = ref["vocab_size"].get<std::int64_t>();
  const auto rows = ref["logits"].get<std::vector<std::vector<double>>>();
  at::Tensor expected = at::empty({static_cast<std::int64_t>(rows.size()), V}, at::kDouble);  // (T, V)
  for (std::size_t t = 0; t < rows.size(); ++t) {
    expected[static_cast<std::int64_t>(t)].copy_(at::tensor(rows[t], at::kDouble));
  }
  return expected;
}

/// `model`'s logits of the reference's prompt (a decoder's or an encoder's alone, whose ids are the
/// folder's) within 1e-5 of the reference's; the ids the tokenizer appends after the published
/// vocabulary (pad, mask, ...) are never predicted.
inline void check_logits_against_reference(const std::string& label, Architecture& model, const nlohmann::json& ref) {
  const auto prompt = ref["prompt"].get<std::vector<std::int64_t>>();
  const auto V = ref["vocab_size"].get<std::int64_t>();
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    ModelInput input;
    input.tokens = at::tensor(prompt, at::kLong).unsqueeze(0);  // (1, T)
    logits = model.forward(input).logits.squeeze(0);             // (T, V_tokenizer)
  }
  const at::Tensor expected = reference_logits(ref);  // (T, V)
  const double worst = (logits.narrow(1, 0, V).to(at::kDouble) - expected).abs().max().item<double>();
  INFO(label << ": largest logit difference " << worst << " (logits span " << expected.abs().max().item<double>()
             << ")");
  CHECK(worst < 1e-5);
  CHECK(logits.size(1) > V);
  CHECK(logits.narrow(1, V, logits.size(1) - V).isinf().all().item<bool>());
}

/// `lmlab import FOLDER --out CHECKPOINT --toml TOML`.
inline CommandResult import_with_toml(const std::filesystem::path& folder, const std::filesystem::path& checkpoint,
                                      const std::filesystem::path& toml) {
  return run_command(fmt::format("{} import {} --out {} --toml {}", lmlab_binary(), folder.string(),
                                 checkpoint.string(), toml.string()));
}

/// import_with_toml, which must succeed and say so.
inline void require_import_with_toml(const std::filesystem::path& folder, const std::filesystem::path& checkpoint,
                                     const std::filesystem::path& toml) {
  const auto r = import_with_toml(folder, checkpoint, toml);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("imported"));
}

/// `lmlab run` of dir/ft.toml: `steps` steps from hf:FOLDER on a generated corpus, on top of the
/// config `base` (which import --toml wrote in `dir`), one evaluation at the end with `eval_lines`
/// added to [eval]; the run is dir/results/ft.
inline CommandResult run_fine_tune(const TempDir& dir, const std::string& base, const std::filesystem::path& folder,
                                   std::int64_t steps, const std::string& eval_lines) {
  write_generated_corpus(dir / "corpus", 20000);
  write_file(dir / "ft.toml", fmt::format(R"(base = "{}"
[experiment]
name = "ft"
results_dir = "{}"
threads = 1
[data]
corpus = "{}"
block_size = 32
[train]
steps = {}
batch_size = 2
init_from = "hf:{}"
eval_every = {}
[eval]
batches = 1
{})",
                                          base, (dir / "results").string(), (dir / "corpus").string(), steps,
                                          folder.string(), steps, eval_lines));
  return run_command(fmt::format("{} run {}", lmlab_binary(), (dir / "ft.toml").string()));
}

/// `original` imported (dir/a.ckpt) and exported again (dir/hf): every published tensor comes back
/// bit for bit, under its name, and no other.
inline void check_export_gives_published_tensors(const std::filesystem::path& original, const TempDir& dir) {
  const auto& registry = builtin_plugins();
  std::ostringstream log;
  pretrained::import_hf_checkpoint(original, dir / "a.ckpt", registry, log);
  pretrained::export_hf(dir / "a.ckpt", dir / "hf", registry, log);
  const pretrained::SafetensorsFile published(original / "model.safetensors"),
      exported(dir / "hf" / "model.safetensors");
  CHECK(exported.entries().size() == published.entries().size());
  for (const auto& [name, _] : published.entries()) {
    INFO(name);
    REQUIRE(exported.contains(name));
    CHECK(exported.tensor(name).equal(published.tensor(name)));
  }
}

}  // namespace lmlab::test
