/// A training run's data parallelism: its place in the process group, rank 0's model on every
/// rank, the gradient reducer around backward, its share of each global batch, the step's
/// logged values summed over the ranks, and the time spent waiting on the others.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "distributed/gradient_reducer.hpp"
#include "distributed/process_group.hpp"
#include "distributed/sharded_optimizer.hpp"
#include "distributed/world.hpp"
#include "experiment/experiment.hpp"

namespace lmlab::distributed {

class DataParallel {
 public:
  /// Joins the group of `world` with [distributed]'s backend and timeout on `device`.
  DataParallel(const World& world, const DistributedSection& section, const c10::Device& device);

  int rank() const { return group_->rank(); }
  int size() const { return group_->size(); }
  const ProcessGroup& group() const { return *group_; }

  /// Copies rank 0's parameters and buffers to every rank and hooks the reducer onto `model`'s
  /// parameters: once, after the model is built, before the first step.
  void attach(torch::nn::Module& model, double bucket_mb);

  /// [distributed] shard_optimizer: from now on `optimizer` keeps the AdamW state of this rank's
  /// share of the parameters only (OptimizerShards). Once, after attach(), on every rank.
  void shard_optimizer(torch::optim::AdamW& optimizer, double bucket_mb);
  /// The shards of the optimizer; null when it is not sharded.
  OptimizerShards* shards() const { return shards_.get(); }
  /// The optimizer step: with shards, this rank's share then the parameters' broadcast.
  void step(torch::optim::Optimizer& optimizer);
  /// The AdamW state bytes each rank holds once every parameter has had a gradient, rank 0 first.
  std::vector<std::int64_t> optimizer_state_bytes(const torch::optim::AdamW& optimizer) const;

  /// This rank's rows of a global micro-batch (size() x B, ...): rows [rank x B, (rank + 1) x B).
  at::Tensor share(const at::Tensor& global) const;

  /// Before a micro-step's backward: only the step's last micro-step communicates.
  void before_backward(bool last_micro_step);
  /// After the last micro-step's backward: every parameter's .grad the average over the ranks.
  void average_gradients();
  /// Sums `values` (a small float64 tensor) over the ranks, in place.
  void sum(at::Tensor& values, const std::string& what);

  /// Ranks other than 0 reseed the default generators (dropout, objectives' noise) from the run's
  /// seed, their rank and `step`, so they do not repeat rank 0's draws on their other rows; the
  /// data windows come from the sampler's generator, the same on every rank.
  void seed_rank_generators(std::int64_t seed, std::int64_t step, const c10::Device& device) const;

  /// Seconds this rank has waited on collectives since the last call.
  double take_comm_seconds();

  /// Each rank's "host device threads", rank 0 first (a rendezvous through the store; every rank
  /// calls it, rank 0 gets all).
  std::vector<std::string> rank_places(const std::string& device, int threads) const;

 private:
  std::shared_ptr<ProcessGroup> group_;
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<OptimizerShards> shards_;
  double comm_seconds_ = 0.0;
};

/// The GPU a rank binds to: cuda:LOCAL_RANK for a CUDA device when the world is larger than one.
c10::Device rank_device(const c10::Device& device, const World& world);

}  // namespace lmlab::distributed
