#include "training/run_evaluation.hpp"

#include <fmt/format.h>

#include "generation/run_samples.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "plugin_host/run_plugins.hpp"

namespace lmlab {

EvalResult evaluate_and_sample(const Experiment& e, RunSetup& run, RunFile& file, Progress& progress,
                               std::int64_t step, std::vector<SampleText>& samples) {
  const Plugins& plugins = run.plugins;
  const EvalResult result = plugin_call(plugins.objective.info, "evaluation", [&] {
    return evaluate(run.model(), *plugins.objective.plugin, run.eval_windows, run.eval_batch, run.device, run.bf16,
                    metric_pointers(plugins));
  });
  RunFile::Row row{{"step", step}, {"val_loss", result.loss}, {"val_ppl", result.perplexity},
                   {"val_acc", result.accuracy}};
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
