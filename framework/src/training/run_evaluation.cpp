#include "training/run_evaluation.hpp"

#include <cmath>
#include <limits>
#include <span>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "generation/run_samples.hpp"
#include "generation/text_units.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "plugin_host/run_plugins.hpp"

namespace lmlab {

namespace {

std::int64_t predicted_characters(const Tokenizer& tokenizer, const at::Tensor& windows) {
  const at::Tensor ids = windows.to(at::kCPU, at::kLong).contiguous();  // (N, T+1)
  const std::int64_t n = ids.size(0), w = ids.size(1);
  const std::int64_t* data = ids.data_ptr<std::int64_t>();
  std::int64_t characters = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    characters += count_characters(tokenizer.decode(std::span<const std::int64_t>(data + i * w + 1, data + (i + 1) * w)));
  }
  return characters;
}

// Nats per token, made comparable across tokenizers: bits per character of the predicted text.
// Only where every position of every window was predicted (next-token objectives); NaN otherwise,
// since a masked or span objective's loss does not cover the text.
double bits_per_character(const EvalResult& result, RunSetup& run) {
  const std::int64_t positions = run.eval_windows.size(0) * (run.eval_windows.size(1) - 1);
  if (result.tokens != positions) return std::numeric_limits<double>::quiet_NaN();
  if (run.eval_characters < 0) run.eval_characters = predicted_characters(*run.plugins.tokenizer, run.eval_windows);
  if (run.eval_characters == 0) return std::numeric_limits<double>::quiet_NaN();
  return result.loss * static_cast<double>(result.tokens) / (static_cast<double>(run.eval_characters) * std::log(2.0));
}

}  // namespace

EvalResult evaluate_and_sample(const Experiment& e, RunSetup& run, RunFile& file, Progress& progress,
                               std::int64_t step, std::vector<SampleText>& samples) {
  const Plugins& plugins = run.plugins;
  const EvalResult result = plugin_call(plugins.objective.info, "evaluation", [&] {
    return evaluate(run.model(), *plugins.objective.plugin, run.eval_windows, run.eval_batch, run.device, run.bf16,
                    metric_pointers(plugins));
  });
  const double bpc = bits_per_character(result, run);
  RunFile::Row row{{"step", step}, {"val_loss", result.loss}, {"val_ppl", result.perplexity},
                   {"val_acc", result.accuracy}, {"val_bpc", bpc}};
  for (const auto& v : result.metrics) row.emplace_back(v.name, v.value);
  file.append("eval", row);
  progress.message(fmt::format("[{}] step {}: val_loss {:.4f}  val_ppl {:.3f}  val_acc {:.3f}", e.run_name, step,
                               result.loss, result.perplexity, result.accuracy));
  samples.clear();
  if (!plugins.decodings.empty() && !run.prompts.empty() && e.eval.max_new_tokens > 0) {
    GenerateOptions g;
    g.max_new_tokens = e.eval.max_new_tokens;
    g.seed = static_cast<std::uint64_t>(e.experiment.seed);
    g.pad_id = plugins.tokenizer->special().pad;
    g.decoder_start_id = plugins.tokenizer->special().bos;
    samples = write_samples(file, plugins, run.prompts, g, step, run.device, run.bf16);
  }
  file.flush();
  return result;
}

}  // namespace lmlab
