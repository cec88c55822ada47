#include "training/run_setup.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include <ATen/Context.h>
#include <fmt/format.h>

#include "data/prepared_corpus.hpp"
#include "distributed/data_parallel.hpp"
#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"
#include "plugin_host/run_tokenizer.hpp"
#include "results/run_file.hpp"
#include "training/bf16_products.hpp"
#include "training/float32_products.hpp"
#include "nn/cpu_onednn.hpp"
#include "training/blas_kernels.hpp"
#include "training/optimizer.hpp"
#include "training/runtime.hpp"
#include "training/trainer.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

void seed_everything(std::uint64_t seed, const c10::Device& device) {
  at::Generator cpu = at::globalContext().defaultGenerator(c10::Device(c10::kCPU));
  cpu.set_current_seed(seed);
  if (device.is_cuda()) {
    at::Generator accelerator = at::globalContext().defaultGenerator(device);
    accelerator.set_current_seed(seed);
  }
}

// The intra-op threads a rank of a world of several processes on one node takes when nothing
// else sets them: its share of the node's CPUs; 0 (all of them) for a process alone on its node.
// Slurm binds each task to its own cpus_per_task, which available_cpus() already counts.
int rank_threads(const distributed::World& world) {
  if (world.source == "slurm") return 0;
  return world.local_world_size > 1 ? std::max(1, available_cpus() / world.local_world_size) : 0;
}

// Says where the run computes, and why with that many threads.
void print_placement(const Experiment& e, const RunOptions& options, const c10::Device& device, int threads,
                     const distributed::World& world) {
  const std::string why = e.experiment.threads > 0 ? std::string("experiment.threads")
                          : options.threads > 0    ? std::string("--threads: the sweep's share of the CPUs")
                          : rank_threads(world) > 0
                              ? fmt::format("this rank's share of the {} CPUs available among {} local ranks",
                                            available_cpus(), world.local_world_size)
                              : fmt::format("CPUs available to the process: {}", available_cpus());
  const std::string rank = world.distributed() ? fmt::format(" rank {} of {},", world.rank, world.world_size) : "";
  *options.out << fmt::format("run {}:{} device {}, {} intra-op threads ({}), precision {}\n", e.run_name, rank,
                              device.str(), threads, why, e.experiment.precision);
  if (device.is_cpu()) *options.out << fmt::format("BLAS: {}\n", tune_blas_kernels().explain());
}

// [distributed] shard_optimizer: what this rank's share of the AdamW state is.
void print_shard(const distributed::DataParallel& parallel, const torch::optim::AdamW& optimizer, std::ostream& out) {
  const std::vector<int>& owners = parallel.shards()->owners();
  const std::vector<std::int64_t> bytes = parallel.optimizer_state_bytes(optimizer);
  std::int64_t all = 0;
  for (std::int64_t b : bytes) all += b;
  out << fmt::format("rank {} keeps the AdamW state of {} of the {} parameter tensors: {:.2f} of {:.2f} MiB "
                     "([distributed] shard_optimizer)\n",
                     parallel.rank(), std::count(owners.begin(), owners.end(), parallel.rank()), owners.size(),
                     static_cast<double>(bytes[static_cast<std::size_t>(parallel.rank())]) / (1 << 20),
                     static_cast<double>(all) / (1 << 20));
}

// Copies train.init_from's weights into `model`; returns the config hash they were trained for.
std::string load_init_from(const Experiment& e, Architecture& model, const c10::Device& device, std::ostream& out) {
  try {
    const fs::path from = find_checkpoint(e.train.init_from);
    std::string hash = load_model_weights(from, model, device);
    out << fmt::format("model weights from {} (config {})\n", from.string(), hash);
    return hash;
  } catch (const DataError& error) {
    throw DataError(fmt::format("train.init_from: {}", error.what()));
  }
}

// How this run's products multiply on a CPU (which GEMM library for float32, which kernels for
// bf16), decided and printed. A resumed run multiplies as it started: its file says how.
void choose_products(const Experiment& e, const c10::Device& device, bool resuming, std::ostream& out) {
  const bool bf16 = e.experiment.precision == "bf16";
  const auto recorded = [&](const char* attribute) -> std::optional<std::string> {
    if (!resuming || !device.is_cpu() || !fs::exists(run_file_path(e))) return std::nullopt;
    try {
      if (!run_file::has_attribute(run_file_path(e), attribute)) return std::nullopt;
      return run_file::read_attribute(run_file_path(e), attribute);
    } catch (const std::exception&) {
      return std::nullopt;  // a damaged file: the resume's own reading of it says so, naming the damage
    }
  };
  // A file written before the choice existed multiplied on LibTorch's BLAS.
  std::optional<std::string> float32_recorded = recorded("cpu_float32_products");
  if (!float32_recorded && recorded("blas")) float32_recorded = run_attribute(nn::CpuFloat32Products::libtorch);
  const Float32ProductsChoice float32 = choose_float32_products(device, float32_recorded);
  if (device.is_cpu() && (nn::onednn_built() || !float32.reason.empty())) {
    out << fmt::format("float32 products: {}\n", float32.describe());
  }
  const Bf16ProductsChoice products = choose_bf16_products(device, bf16, bf16 ? recorded("cpu_bf16_products") : std::nullopt);
  if (device.is_cpu() && bf16) out << fmt::format("bf16 products: {}\n", products.describe());
}

}  // namespace

RunSetup set_up_run(const Experiment& e, const Registry& registry, const RunOptions& options, bool resuming,
                    const distributed::World& world) {
  std::ostream& out = *options.out;
  if (e.world_size != world.world_size) {
    throw Error(fmt::format("run {} was resolved for {} process(es) but this process is one of {} ({})", e.run_name,
                            e.world_size, world.world_size, world.source));
  }
  // The config's count wins; a sweep's share of the CPUs comes next; then a rank's share of its
  // node's CPUs; then every CPU available.
  tune_blas_kernels();  // idempotent: programs other than lmlab's main() get the same kernels
  const int threads = configure_threads(e.experiment.threads > 0 ? e.experiment.threads
                                        : options.threads > 0    ? options.threads
                                                                 : rank_threads(world));
  const c10::Device device = distributed::rank_device(resolve_device(e.experiment.device), world);
  print_placement(e, options, device, threads, world);
  // Joined first, so that an unreachable master or a missing rank is said before any work.
  std::shared_ptr<distributed::DataParallel> parallel;
  if (world.distributed()) parallel = std::make_shared<distributed::DataParallel>(world, e.distributed, device);
  choose_products(e, device, resuming, out);

  std::shared_ptr<const Tokenizer> tokenizer = build_tokenizer(registry, e.tokenizer);
  check_tokenizer_identity(*tokenizer, e.tokenizer_identity, "this run's configuration", e.tokenizer);
  PrepareOptions prepare_options;  // prepared on first use, then memory-mapped from the cache
  prepare_options.log = &out;
  prepare_options.progress = &std::cerr;
  const PreparedCorpus corpus = open_or_prepare(e.data, *tokenizer, prepare_options);
  const double unigram_ppl = std::exp(unigram_cross_entropy(corpus.train, corpus.valid, tokenizer->vocab_size()));
  out << fmt::format("corpus {}: {} train / {} valid tokens ({}); unigram baseline perplexity {:.2f}\n",
                     corpus.source.string(), corpus.train.size(), corpus.valid.size(), corpus.folder.string(),
                     unigram_ppl);
  const std::vector<std::int64_t> newline_ids = tokenizer->newline_ids(), space_ids = prompt_space_ids(*tokenizer);

  seed_everything(static_cast<std::uint64_t>(e.experiment.seed), device);
  Plugins plugins = build_plugins(e, registry, device, std::move(tokenizer));
  std::vector<std::string> columns = component_columns(plugins);
  std::string init_hash;
  if (!e.train.init_from.empty() && !resuming) init_hash = load_init_from(e, *plugins.model.plugin, device, out);
  if (parallel) {
    parallel->attach(*plugins.model.plugin, e.distributed.bucket_mb);
    parallel->seed_rank_generators(e.experiment.seed, 0, device);
  }
  auto optimizer = make_optimizer(*plugins.model.plugin, e.train);
  if (parallel && e.distributed.shard_optimizer) {
    parallel->shard_optimizer(*optimizer, e.distributed.bucket_mb);
    print_shard(*parallel, *optimizer, out);
  }

  const std::int64_t window = e.data.block_size + 1;
  // eval.batch_size 0 follows the global batch, as the run's identity says (resolve_experiment).
  const std::int64_t eval_batch = e.eval.batch_size > 0 ? e.eval.batch_size : e.train.batch_size * e.world_size;
  return RunSetup{threads,
                  device,
                  e.experiment.precision == "bf16",
                  unigram_ppl,
                  std::move(plugins),
                  std::move(columns),
                  std::move(init_hash),
                  std::move(optimizer),
                  WindowSampler(corpus.train, window, static_cast<std::uint64_t>(e.experiment.seed) + 1),
                  eval_batch,
                  fixed_windows(corpus.valid, window, e.eval.batches * eval_batch),
                  prompt_windows(corpus.valid, e.eval.prompts, e.eval.prompt_tokens, newline_ids, space_ids),
                  -1,
                  std::move(parallel)};
}

}  // namespace lmlab
