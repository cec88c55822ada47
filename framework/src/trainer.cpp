#include "lmlab/trainer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "lmlab/batches.hpp"
#include "lmlab/build_info.hpp"
#include "lmlab/checkpoint.hpp"
#include "lmlab/corpus.hpp"
#include "lmlab/error.hpp"
#include "lmlab/evaluation.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/grad_flow.hpp"
#include "lmlab/optimizer.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/progress.hpp"
#include "lmlab/provenance.hpp"
#include "lmlab/run_file.hpp"
#include "lmlab/run_reader.hpp"
#include "lmlab/runtime.hpp"
#include "lmlab/suggest.hpp"
#include "lmlab/tokenizer.hpp"
#include "run_plugins.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

std::atomic<bool> g_stop{false};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string config_text(const Experiment& e) {
  std::ostringstream config;
  config << e.resolved;
  return config.str();
}

void write_provenance(RunFile& file, const Experiment& e, const Plugins& p, const c10::Device& device, int threads) {
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
  file.set_attribute("device", device.str());
  file.set_attribute("threads", static_cast<std::int64_t>(threads));
  auto describe = [](const PluginInfo& i) { return fmt::format("{} ({})", i.name, i.library); };
  file.set_attribute("plugin.model", describe(p.model_info));
  file.set_attribute("plugin.objective", describe(p.objective_info));
  for (std::size_t i = 0; i < p.regulariser_info.size(); ++i) {
    file.set_attribute(fmt::format("plugin.regulariser.{}", i), describe(p.regulariser_info[i]));
  }
  for (const auto& m : p.metric_info) {
    file.set_attribute(fmt::format("plugin.metric.{}", m.name), describe(m));
  }
  for (const auto& d : p.decodings) {
    for (std::size_t i = 0; i < d.info.size(); ++i) {
      file.set_attribute(d.name == "default" ? fmt::format("plugin.decoding.{}", i)
                                             : fmt::format("plugin.decoding.{}.{}", d.name, i),
                         describe(d.info[i]));
    }
  }
  const Accounting size = plugin_call(p.model_info, "accounting", [&] { return p.model->accounting(); });
  file.set_attribute("model.parameters", size.parameters);
  file.set_attribute("model.embedding_parameters", size.embedding_parameters);
  file.set_attribute("model.flops_per_token", size.flops_per_token);
  file.set_attribute("model.capabilities", lmlab::describe(p.model->capabilities()));
}

// Global L2 norm of the gradients, before any regulariser touches them: one reduction and one
// device sync, and only on the steps that log it.
double gradient_norm(torch::nn::Module& model) {
  std::vector<at::Tensor> norms;
  for (const auto& p : model.parameters()) {
    if (p.grad().defined()) norms.push_back(p.grad().detach().to(at::kFloat).norm());
  }
  return norms.empty() ? 0.0 : at::stack(norms).norm().item<double>();
}

void seed_everything(std::uint64_t seed, const c10::Device& device) {
  at::Generator cpu = at::globalContext().defaultGenerator(c10::Device(c10::kCPU));
  cpu.set_current_seed(seed);
  if (device.is_cuda()) {
    at::Generator accelerator = at::globalContext().defaultGenerator(device);
    accelerator.set_current_seed(seed);
  }
}

// The summary of a run whose checkpoint is already at its last step, read back from its file. A
// process killed between that checkpoint and marking the file complete left it `running`: the
// file is completed then, and otherwise left untouched.
RunSummary finished_summary(RunSummary summary, std::int64_t step, std::ostream& out) {
  out << fmt::format("{} is already complete ({}); nothing to resume\n", summary.run_name, summary.run_file.string());
  if (run_file::read_attribute(summary.run_file, "status") != "complete") {
    RunFile file = RunFile::resume(summary.run_file, step);
    file.set_attribute("status", "complete");
    file.set_attribute("status_reason", fmt::format("completed by --resume: its checkpoint was at the last step {}", step));
    file.set_attribute("end_time", utc_now());
  }
  const auto steps = run_file::read_ints(summary.run_file, "train/step");
  const auto tokens = run_file::read_ints(summary.run_file, "train/tokens");
  const auto loss = run_file::read_floats(summary.run_file, "eval/val_loss");
  const auto ppl = run_file::read_floats(summary.run_file, "eval/val_ppl");
  const auto acc = run_file::read_floats(summary.run_file, "eval/val_acc");
  summary.status = run_file::read_attribute(summary.run_file, "status");
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

void request_stop() { g_stop.store(true); }
bool stop_requested() { return g_stop.load(); }

fs::path run_file_path(const Experiment& e) {
  return fs::path(e.experiment.results_dir) / e.experiment.name / (e.run_name + ".h5");
}

fs::path checkpoint_path(const Experiment& e) {
  return fs::path(e.experiment.results_dir) / e.experiment.name / (e.run_name + ".ckpt");
}

RunSummary run_experiment(const Experiment& e, const Registry& registry, const RunOptions& options) {
  std::ostream& out = *options.out;
  const auto& train = e.train;
  RunSummary summary;
  summary.run_name = e.run_name;
  summary.run_file = run_file_path(e);
  summary.checkpoint = checkpoint_path(e);

  // The config's count wins; a sweep's share of the CPUs comes next; then every CPU available.
  const std::int64_t threads = e.experiment.threads > 0 ? e.experiment.threads : options.threads;
  summary.threads = configure_threads(threads);
  const c10::Device device = resolve_device(e.experiment.device);
  summary.device = device.str();
  const bool bf16 = e.experiment.precision == "bf16";
  out << fmt::format("run {}: device {}, {} intra-op threads ({}), precision {}\n", e.run_name, device.str(),
                     summary.threads,
                     e.experiment.threads > 0 ? std::string("experiment.threads")
                     : options.threads > 0    ? std::string("--threads: the sweep's share of the CPUs")
                                              : fmt::format("CPUs available to the process: {}", available_cpus()),
                     e.experiment.precision);

  const ByteTokenizer tokenizer;
  const Corpus corpus = load_corpus(e.data, tokenizer);
  summary.unigram_ppl = std::exp(unigram_cross_entropy(corpus.train, corpus.valid, ByteTokenizer::vocab_size));
  out << fmt::format("corpus {}: {} train / {} valid tokens; unigram baseline perplexity {:.2f}\n",
                     corpus.folder.string(), corpus.train.numel(), corpus.valid.numel(), summary.unigram_ppl);

  seed_everything(static_cast<std::uint64_t>(e.experiment.seed), device);
  Plugins plugins = build_plugins(e, registry, device);
  Architecture& model = *plugins.model;
  const std::vector<std::string> columns = component_columns(plugins);
  std::string init_hash;
  if (!e.train.init_from.empty() && !(options.resume && fs::exists(summary.checkpoint))) {
    try {
      const fs::path from = find_checkpoint(e.train.init_from);
      init_hash = load_model_weights(from, model, device);
      out << fmt::format("model weights from {} (config {})\n", from.string(), init_hash);
    } catch (const DataError& error) {
      throw DataError(fmt::format("train.init_from: {}", error.what()));
    }
  }
  auto optimizer = make_optimizer(model, train);
  WindowSampler sampler(corpus.train, e.data.block_size + 1, static_cast<std::uint64_t>(e.experiment.seed) + 1);
  const std::int64_t eval_batch = e.eval.batch_size > 0 ? e.eval.batch_size : train.batch_size;
  const at::Tensor eval_windows = fixed_windows(corpus.valid, e.data.block_size + 1, e.eval.batches * eval_batch);
  const auto prompts = prompt_windows(corpus.valid, e.eval.prompts, e.eval.prompt_tokens);

  const CheckpointParts parts{model, *optimizer, sampler.generator(), device};
  TrainingState state;
  const bool resume = options.resume && fs::exists(summary.checkpoint);
  if (options.resume && !resume) {
    out << fmt::format("no checkpoint {}: starting {} from step 0\n", summary.checkpoint.string(), e.run_name);
  }
  if (resume) state = load_checkpoint(summary.checkpoint, parts, e.config_hash);
  if (resume && state.step >= train.steps) return finished_summary(std::move(summary), state.step, out);
  // A fresh start must not leave an older run's checkpoint for a later --resume to pick up.
  if (!resume) fs::remove(summary.checkpoint);
  const std::string threads_before = resume ? run_file::read_attribute(summary.run_file, "threads") : "";
  RunFile file = resume ? RunFile::resume(summary.run_file, state.step) : RunFile::create(summary.run_file);
  if (resume) {
    // The file keeps where the run started; each resume adds a row saying where it went on.
    const GitState git = source_git_state();
    file.append("resumes", {{"step", state.step}, {"time", utc_now()}, {"git_commit", git.commit},
                            {"threads", static_cast<std::int64_t>(summary.threads)}, {"device", device.str()}});
    if (threads_before != std::to_string(summary.threads)) {
      out << fmt::format("warning: the run started with {} threads and resumes with {}; CPU sums depend on the "
                         "thread count, so it will not match an uninterrupted run bit for bit\n",
                         threads_before, summary.threads);
    }
  } else {
    write_provenance(file, e, plugins, device, summary.threads);
    if (!init_hash.empty()) file.set_attribute("init_from.config_hash", init_hash);
    file.set_attribute("unigram_val_ppl", summary.unigram_ppl);
    file.set_attribute("start_time", utc_now());
  }
  file.set_attribute("status", "running");
  file.set_attribute("status_reason", resume ? fmt::format("resumed at step {}", state.step) : "");
  file.flush();
  if (resume) out << fmt::format("resumed {} at step {}\n", summary.checkpoint.string(), state.step);

  Progress progress(out, e.run_name, train.steps, options.live.value_or(Progress::stderr_is_terminal()));
  const auto started = Clock::now();
  auto window_start = Clock::now();
  std::int64_t window_tokens = 0;
  const std::int64_t tokens_before = state.tokens;  // a resumed run's speed counts its own steps only
  EvalResult last_eval;

  const std::string config = config_text(e);
  auto checkpoint = [&] {
    file.flush();  // rows up to this step must be on disk before a resume may drop later ones
    save_checkpoint(summary.checkpoint, parts, state, e.config_hash, config);
  };
  std::vector<Metric*> metrics;
  for (const auto& m : plugins.metrics) metrics.push_back(m.get());
  auto evaluate_and_sample = [&](std::int64_t step) {
    last_eval = plugin_call(plugins.objective_info, "evaluation", [&] {
      return evaluate(model, *plugins.objective, eval_windows, eval_batch, device, bf16, metrics);
    });
    RunFile::Row row{{"step", step}, {"val_loss", last_eval.loss}, {"val_ppl", last_eval.perplexity},
                     {"val_acc", last_eval.accuracy}};
    for (const auto& v : last_eval.metrics) row.emplace_back(v.name, v.value);
    file.append("eval", row);
    progress.message(fmt::format("[{}] step {}: val_loss {:.4f}  val_ppl {:.3f}  val_acc {:.3f}", e.run_name, step,
                                 last_eval.loss, last_eval.perplexity, last_eval.accuracy));
    summary.samples.clear();
    if (!plugins.decodings.empty() && !prompts.empty() && e.eval.max_new_tokens > 0) {
      GenerateOptions g;
      g.max_new_tokens = e.eval.max_new_tokens;
      g.seed = static_cast<std::uint64_t>(e.experiment.seed);
      g.pad_id = ByteTokenizer::pad_id;
      g.decoder_start_id = ByteTokenizer::bos_id;
      summary.samples =
          write_samples(file, model, plugins.model_info, plugins.decodings, metrics, prompts, g, step, device, bf16);
    }
    state.last_eval_step = step;
    file.flush();
  };

  try {
    model.train();
    while (state.step < train.steps) {
      const std::int64_t step = state.step + 1;
      const double lr = learning_rate(train, step);
      set_learning_rate(*optimizer, lr);
      optimizer->zero_grad();
      // Summed on the device: one host sync per step, not one per micro-batch. Slot 0 holds the
      // loss, slot 1 + c the component columns[c]; a NaN-free count says which were reported.
      const auto n = static_cast<std::int64_t>(columns.size()) + 1;
      at::Tensor sums = at::zeros({n}, at::TensorOptions().dtype(at::kDouble).device(device));
      std::vector<std::int64_t> reported(columns.size(), 0);
      auto add_to = [&](std::size_t slot, const at::Tensor& value) {
        sums[static_cast<std::int64_t>(slot)] += value.detach().to(at::kDouble) / static_cast<double>(train.grad_accum);
      };
      at::Tensor block;
      for (std::int64_t micro = 0; micro < train.grad_accum; ++micro) {
        block = sampler.next(train.batch_size).to(device);  // (B, T+1)
        at::Tensor loss;
        LossOutput result;
        plugin_call(plugins.objective_info, "a training step", [&] {
          AutocastScope autocast(device, bf16);
          result = plugins.objective->compute(model, block);
          loss = result.loss;
          state.tokens += result.tokens;
          window_tokens += result.tokens;
          for (const auto& c : result.components) {
            const auto at = std::find(columns.begin(), columns.end(), c.name);
            if (at == columns.end()) {
              throw Error(fmt::format("reported a loss component '{}' it does not declare (declared: {})", c.name,
                                      fmt::join(columns, ", ")));
            }
            add_to(1 + static_cast<std::size_t>(at - columns.begin()), c.value);
            reported[static_cast<std::size_t>(at - columns.begin())] += 1;
          }
        });
        for (std::size_t r = 0; r < plugins.regularisers.size(); ++r) {
          if (!plugins.regulariser_info[r].traits.hooks.loss) continue;
          const at::Tensor extra = plugin_call(plugins.regulariser_info[r], "extra_loss", [&] {
            AutocastScope autocast(device, bf16);
            return plugins.regularisers[r]->extra_loss(result, model);
          });
          if (!extra.defined()) continue;
          loss = loss + extra;
          const auto at = std::find(columns.begin(), columns.end(), plugins.regulariser_labels[r]);
          add_to(1 + static_cast<std::size_t>(at - columns.begin()), extra);
          reported[static_cast<std::size_t>(at - columns.begin())] += 1;
        }
        (loss / static_cast<double>(train.grad_accum)).backward();
        add_to(0, loss);
      }
      const at::Tensor host = sums.cpu();
      const double step_loss = host[0].item<double>();
      if (!std::isfinite(step_loss)) throw Error(fmt::format("loss became {} at step {}", step_loss, step));
      const bool log_now = step % train.log_every == 0 || step == train.steps;
      const StepInfo info{step, lr, log_now, &block};
      const double grad_norm = log_now ? gradient_norm(model) : 0.0;
      auto call_hooks = [&](bool HookPoints::*point, const char* during, auto&& hook) {
        for (std::size_t r = 0; r < plugins.regularisers.size(); ++r) {
          if (plugins.regulariser_info[r].traits.hooks.*point) {
            plugin_call(plugins.regulariser_info[r], during, [&] { hook(*plugins.regularisers[r], r); });
          }
        }
      };
      call_hooks(&HookPoints::gradients, "before_step", [&](Regulariser& reg, std::size_t) { reg.before_step(model, info); });
      optimizer->step();
      call_hooks(&HookPoints::after_step, "after_step", [&](Regulariser& reg, std::size_t) { reg.after_step(model, info); });
      state.step = step;
      state.loss_sum += step_loss;
      state.loss_count += 1;
      for (std::size_t c = 0; c < columns.size(); ++c) {
        if (reported[c] == 0) continue;
        // Scaled back from the micro-batch mean to the mean over the micro-batches that reported it.
        auto& mean = state.components[columns[c]];
        mean.sum += host[static_cast<std::int64_t>(c + 1)].item<double>() * static_cast<double>(train.grad_accum) /
                    static_cast<double>(reported[c]);
        mean.count += 1;
      }

      const double tokens_per_s = window_tokens / std::max(1e-9, seconds_since(window_start));
      progress.step(step, step_loss, tokens_per_s, log_now);
      if (log_now) {
        RunFile::Row row{{"step", step}, {"tokens", state.tokens}, {"loss", state.loss_sum / state.loss_count},
                         {"lr", lr}, {"grad_norm", grad_norm}, {"tokens_per_s", tokens_per_s}};
        for (const auto& name : columns) {
          const RunningMean mean = state.components[name];
          row.emplace_back("loss." + name, mean.count > 0 ? mean.sum / static_cast<double>(mean.count) : std::nan(""));
        }
        file.append("train", row);
        state.loss_sum = 0.0;
        state.loss_count = 0;
        state.components.clear();
        call_hooks(&HookPoints::logs, "log", [&](Regulariser& reg, std::size_t r) {
          GroupLog group(file, plugins.regulariser_labels[r]);
          reg.log(model, info, group);
        });
        window_start = Clock::now();
        window_tokens = 0;
      }
      const bool eval_now = step % train.eval_every == 0 || step == train.steps;
      if (eval_now) evaluate_and_sample(step);
      const bool checkpoint_now = train.checkpoint_every > 0 ? step % train.checkpoint_every == 0 : eval_now;
      const bool stop_now = (options.stop_after > 0 && step >= options.stop_after) || g_stop.load();
      if (checkpoint_now || stop_now || step == train.steps) checkpoint();
      if (stop_now && step < train.steps) {
        progress.finish();
        file.set_attribute("status", "stopped");
        file.set_attribute("status_reason", fmt::format("stopped after step {}; continue with --resume", step));
        summary.status = "stopped";
        break;
      }
    }
  } catch (const std::exception& error) {
    progress.finish();
    file.set_attribute("status", "failed");
    file.set_attribute("status_reason", error.what());
    file.set_attribute("end_time", utc_now());
    file.flush();
    try {
      write_grad_flow(file, read_grad_flow(RunReader(file.path())));
    } catch (const std::exception& also) {
      out << fmt::format("warning: {}: cannot write /grad_flow: {}\n", file.path().string(), also.what());
    }
    throw;
  }
  progress.finish();
  summary.steps = state.step;
  summary.tokens = state.tokens;
  summary.seconds = seconds_since(started);
  summary.val_loss = last_eval.loss;
  summary.val_ppl = last_eval.perplexity;
  summary.val_acc = last_eval.accuracy;
  if (summary.status.empty()) {
    summary.status = "complete";
    file.set_attribute("status", "complete");
    file.set_attribute("status_reason", "");
  }
  summary.tokens_per_s = static_cast<double>(state.tokens - tokens_before) / std::max(1e-9, summary.seconds);
  file.set_attribute("end_time", utc_now());
  file.flush();
  write_grad_flow(file, read_grad_flow(RunReader(file.path())));
  return summary;
}

}  // namespace lmlab
