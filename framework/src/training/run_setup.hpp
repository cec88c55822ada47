/// What one run trains with, built from its experiment: the threads and device, the plugins, the
/// optimizer and the corpus's windows. Built in a fixed order, because the generators are seeded
/// just before the plugins: model initialisation then draws the same numbers on every run.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/optim/adamw.h>

#include "data/batches.hpp"
#include "experiment/experiment.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/registry.hpp"
#include "plugin_host/run_plugins.hpp"
#include "training/checkpoint.hpp"
#include "training/trainer.hpp"

namespace lmlab::distributed {
class DataParallel;
struct World;
}  // namespace lmlab::distributed

namespace lmlab {

struct RunSetup {
  int threads = 0;  // intra-op threads in force
  c10::Device device;
  bool bf16 = false;         // experiment.precision = "bf16": forward passes under bf16 autocast
  double unigram_ppl = 0.0;  // the validation text's perplexity under the training unigram distribution
  Plugins plugins;
  std::vector<std::string> columns;  // the train/loss.<name> columns (component_columns)
  std::string init_hash;             // the config hash of train.init_from's checkpoint; empty without one
  std::unique_ptr<torch::optim::AdamW> optimizer;
  WindowSampler sampler;                           // random training windows (B, T+1)
  std::int64_t eval_batch = 0;                     // eval.batch_size, or train.batch_size when 0
  at::Tensor eval_windows;                         // (N, T+1) the fixed validation windows
  std::vector<std::vector<std::int64_t>> prompts;  // generation prompts from the validation text
  /// Characters of the text the validation windows predict (each window less its first token),
  /// for bits per character; counted at the first evaluation, -1 until then.
  std::int64_t eval_characters = -1;
  /// The process group, reducer and this rank's share of each batch when more than one process
  /// trains the run (distributed/data_parallel.hpp); null in a run of one process.
  std::shared_ptr<distributed::DataParallel> parallel;

  Architecture& model() const { return *plugins.model.plugin; }
  /// What a checkpoint saves and restores of this run besides its counters.
  CheckpointParts checkpoint_parts() { return {model(), *optimizer, sampler.generator(), device}; }
};

/// Sets the threads and finds the device, loads the corpus, seeds the generators, builds the
/// plugins, loads train.init_from's weights (unless `resuming`: the checkpoint brings its own),
/// and makes the optimizer and the data windows. Prints the placement, the corpus and the
/// init_from checkpoint to `*options.out`. In a `world` of several processes it joins their group
/// first, takes its share of the CPUs (unless experiment.threads or options.threads set them) and
/// starts from rank 0's model.
RunSetup set_up_run(const Experiment& e, const Registry& registry, const RunOptions& options, bool resuming,
                    const distributed::World& world);

}  // namespace lmlab
