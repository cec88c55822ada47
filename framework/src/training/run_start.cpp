#include "training/run_start.hpp"

#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "build_info.hpp"
#include "lmlab/capabilities.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"
#include "results/run_reader.hpp"
#include "training/checkpoint.hpp"
#include "training/bf16_products.hpp"
#include "training/float32_products.hpp"
#include "training/blas_kernels.hpp"
#include "training/provenance.hpp"
#include "util/suggest.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

// Which plugins built the run: each as "name (library)", decoding steps numbered in chain order.
void write_plugins(RunFile& file, const Plugins& p) {
  auto describe = [](const PluginInfo& i) { return fmt::format("{} ({})", i.name, i.library); };
  file.set_attribute("plugin.model", describe(p.model.info));
  file.set_attribute("plugin.objective", describe(p.objective.info));
  for (std::size_t i = 0; i < p.regularisers.size(); ++i) {
    file.set_attribute(fmt::format("plugin.regulariser.{}", i), describe(p.regularisers[i].info));
  }
  for (const RunMetric& m : p.metrics) {
    file.set_attribute(fmt::format("plugin.metric.{}", m.info.name), describe(m.info));
  }
  for (const auto& d : p.decodings) {
    for (std::size_t i = 0; i < d.info.size(); ++i) {
      file.set_attribute(d.name == "default" ? fmt::format("plugin.decoding.{}", i)
                                             : fmt::format("plugin.decoding.{}.{}", d.name, i),
                         describe(d.info[i]));
    }
  }
}

// Where a fresh run came from: its config, sweep point, versions, device, plugins and model size.
void write_provenance(RunFile& file, const Experiment& e, const RunSetup& run) {
  const GitState git = source_git_state();
  file.set_attribute("config", config_text(e));
  file.set_attribute("config_hash", e.config_hash);
  if (!e.run_id.empty()) {
    file.set_attribute("run_id", e.run_id);
    file.set_attribute("plugin_hashes", join(e.plugin_hashes, "\n"));
  }
  file.set_attribute("source", e.source);
  file.set_attribute("seed", e.experiment.seed);
  // The sweep point, so an experiment's index and report group runs without parsing names.
  file.set_attribute("sweep_point", e.sweep_label);
  for (const auto& [axis, value] : e.sweep_point) file.set_attribute("sweep." + axis, value);
  file.set_attribute("lmlab_version", build_info::version);
  file.set_attribute("git_commit", git.commit);
  file.set_attribute("git_dirty", git.dirty ? "true" : "false");
  file.set_attribute("torch_version", torch_version());
  file.set_attribute("device", run.device.str());
  file.set_attribute("threads", static_cast<std::int64_t>(run.threads));
  file.set_attribute("blas", tune_blas_kernels().describe());
  if (run.device.is_cpu()) file.set_attribute("cpu_float32_products", run_attribute(nn::cpu_float32_products()));
  if (run.bf16 && run.device.is_cpu()) {
    file.set_attribute("cpu_bf16_products", run_attribute(nn::cpu_bf16_products()));
    file.set_attribute("cpu_bf16_decoding_products", run_attribute(nn::cpu_bf16_decoding_products()));
  }
  write_plugins(file, run.plugins);
  // Which tokenizer made the ids every curve and sample of this file counts in.
  const Tokenizer& tokenizer = *run.plugins.tokenizer;
  file.set_attribute("tokenizer", e.tokenizer.name);
  file.set_attribute("tokenizer.identity", tokenizer.identity());
  file.set_attribute("tokenizer.vocab_size", tokenizer.vocab_size());
  const RunModel& model = run.plugins.model;
  const Accounting size = plugin_call(model.info, "accounting", [&] { return model.plugin->accounting(); });
  file.set_attribute("model.parameters", size.parameters);
  file.set_attribute("model.embedding_parameters", size.embedding_parameters);
  file.set_attribute("model.flops_per_token", size.flops_per_token);
  file.set_attribute("model.capabilities", describe(model.plugin->capabilities()));
}

// The file keeps where the run started; each resume adds a row saying where it went on.
RunFile reopen(const RunSetup& run, const RunSummary& summary, std::int64_t step, std::ostream& out) {
  const std::string threads_before = run_file::read_attribute(summary.run_file, "threads");
  const std::string blas_before =
      run_file::has_attribute(summary.run_file, "blas") ? run_file::read_attribute(summary.run_file, "blas") : "";
  RunFile file = RunFile::resume(summary.run_file, step);
  const GitState git = source_git_state();
  file.append("resumes", {{"step", step}, {"time", utc_now()}, {"git_commit", git.commit},
                          {"threads", static_cast<std::int64_t>(run.threads)}, {"device", run.device.str()}});
  if (threads_before != std::to_string(run.threads)) {
    out << fmt::format("warning: the run started with {} threads and resumes with {}; CPU sums depend on the "
                       "thread count, so it will not match an uninterrupted run bit for bit\n",
                       threads_before, run.threads);
  }
  if (run.device.is_cpu() && blas_before != tune_blas_kernels().describe()) {
    const std::string before = blas_before.empty() ? "unrecorded kernels" : "BLAS \"" + blas_before + "\"";
    out << fmt::format("warning: the run started on {} and resumes on BLAS \"{}\"; its float32 sums will not "
                       "match an uninterrupted run bit for bit\n",
                       before, tune_blas_kernels().describe());
  }
  return file;
}

// The summary of a run whose checkpoint is at its last step, read from its file; a file not yet
// marked complete (killed between its last checkpoint and the mark) is marked so.
RunSummary read_finished(RunSummary summary, std::int64_t step) {
  if (run_file::read_attribute(summary.run_file, "status") != to_string(RunStatus::complete)) {
    RunFile file = RunFile::resume(summary.run_file, step);
    set_run_status(file, RunStatus::complete,
                   fmt::format("completed by --resume: its checkpoint was at the last step {}", step));
    file.set_attribute("end_time", utc_now());
  }
  const auto steps = run_file::read_ints(summary.run_file, "train/step");
  const auto tokens = run_file::read_ints(summary.run_file, "train/tokens");
  const auto loss = run_file::read_floats(summary.run_file, "eval/val_loss");
  const auto ppl = run_file::read_floats(summary.run_file, "eval/val_ppl");
  const auto acc = run_file::read_floats(summary.run_file, "eval/val_acc");
  // Complete now, whether it was or was only marked so above.
  summary.status = RunStatus::complete;
  summary.steps = steps.empty() ? 0 : steps.back();
  summary.tokens = tokens.empty() ? 0 : tokens.back();
  if (!loss.empty()) {
    summary.val_loss = loss.back();
    summary.val_ppl = ppl.back();
    summary.val_acc = acc.back();
  }
  summary.unigram_ppl = std::stod(run_file::read_attribute(summary.run_file, "unigram_val_ppl"));
  return summary;
}

}  // namespace

std::string config_text(const Experiment& e) {
  std::ostringstream config;
  config << e.resolved;
  return config.str();
}

void set_run_status(RunFile& file, RunStatus status, const std::string& reason) {
  file.set_attribute("status", std::string(to_string(status)));
  file.set_attribute("status_reason", reason);
}

RunFile open_run_file(const Experiment& e, const RunSetup& run, const RunSummary& summary,
                      std::optional<std::int64_t> resumed_at, std::ostream& out) {
  if (!resumed_at) remove_checkpoint(summary.checkpoint);
  RunFile file = resumed_at ? reopen(run, summary, *resumed_at, out) : RunFile::create(summary.run_file);
  if (!resumed_at) {
    write_provenance(file, e, run);
    if (!run.init_hash.empty()) file.set_attribute("init_from.config_hash", run.init_hash);
    file.set_attribute("unigram_val_ppl", run.unigram_ppl);
    file.set_attribute("start_time", utc_now());
  }
  set_run_status(file, RunStatus::running, resumed_at ? fmt::format("resumed at step {}", *resumed_at) : "");
  file.flush();
  if (resumed_at) out << fmt::format("resumed {} at step {}\n", summary.checkpoint.string(), *resumed_at);
  return file;
}

RunSummary finished_summary(RunSummary summary, std::int64_t step, std::ostream& out) {
  // The file is read before anything is said of it: when it is damaged, that is the news.
  try {
    summary = read_finished(summary, step);
  } catch (const DataError& e) {
    throw DataError(fmt::format(
        "cannot resume {}: its checkpoint {} is at the last step ({}), so the run trained to its end, but its run "
        "file is damaged: {}. The checkpoint still serves `lmlab generate` and init_from; to train the run again, "
        "delete {} and {}",
        summary.run_name, summary.checkpoint.string(), step, e.what(), summary.run_file.string(),
        summary.checkpoint.string()));
  }
  out << fmt::format("{} is already complete ({}); nothing to resume\n", summary.run_name, summary.run_file.string());
  return summary;
}

}  // namespace lmlab
