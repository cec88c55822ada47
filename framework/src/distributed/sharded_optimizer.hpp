/// Optimizer state sharding, ZeRO stage 1 ([distributed] shard_optimizer): each rank keeps the
/// AdamW state (the two moments) of its share of the parameters only, updates only those
/// parameters once the gradients are averaged, and broadcasts them to the other ranks. The
/// update is AdamW's own, element for element, so the numbers are those of an unsharded run.
/// Checkpoints hold the full state, gathered on rank 0, so they load on any number of ranks,
/// sharded or not. See docs/distributed.md.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed/process_group.hpp"

namespace lmlab::distributed {

/// The rank owning each of the tensors whose element counts are `numels`, among `ranks` ranks:
/// whole tensors, the largest first (the earlier on a tie), each to the rank that owns the fewest
/// elements so far (the lowest on a tie). Every rank computes the same partition; two ranks' shares
/// differ by at most the largest tensor, and ranks beyond the number of tensors own none.
std::vector<int> partition_parameters(const std::vector<std::int64_t>& numels, int ranks);

/// Bytes of AdamW state a parameter needs once it has had a gradient: its two moments (three
/// tensors with amsgrad) in its own dtype.
std::int64_t adamw_state_bytes(const at::Tensor& parameter, bool amsgrad);
/// The same for all of `optimizer`'s parameters: what an unsharded rank holds.
std::int64_t adamw_state_bytes(const torch::optim::AdamW& optimizer);

class OptimizerShards {
 public:
  /// Shards `optimizer`'s parameters (those of its groups, in order: every rank's optimizer must
  /// be built alike) over `group`'s ranks. Small tensors move together in messages of about
  /// `bucket_mb` MiB; a larger tensor moves alone, in place.
  OptimizerShards(torch::optim::AdamW& optimizer, std::shared_ptr<ProcessGroup> group, double bucket_mb);

  /// The optimizer step on the parameters this rank owns (the others' state is never created),
  /// then each parameter broadcast from its owner, so that every rank holds the updated model.
  /// Every parameter's gradient is left as it was.
  void step();

  /// Every rank calls it: rank 0 receives the state of the parameters the other ranks own, so
  /// that its optimizer holds the full state an unsharded run has (for a checkpoint).
  void gather_to_rank0();

  /// Drops the state of the parameters other ranks own: after a checkpoint (which holds all of
  /// it) is loaded, and on rank 0 after one is saved.
  void keep_own_state();

  /// The owner of each parameter of the optimizer's groups, in their order.
  const std::vector<int>& owners() const { return owners_; }
  /// The AdamW state each rank holds once every parameter has had a gradient, rank 0 first.
  std::vector<std::int64_t> state_bytes_per_rank() const;

  /// Seconds spent in the broadcasts and the gather since the last call.
  double take_comm_seconds();

 private:
  bool amsgrad() const;
  void broadcast_from_owners();
  void receive_states(int owner, const std::vector<std::int64_t>& steps);
  void send_states();
  std::vector<std::int64_t> state_steps();

  torch::optim::AdamW& optimizer_;
  std::shared_ptr<ProcessGroup> group_;
  std::int64_t chunk_bytes_;
  std::vector<at::Tensor> params_;  // the optimizer's groups' parameters, in order
  std::vector<int> owners_;
  double comm_seconds_ = 0.0;
};

/// While it lives, rank 0's optimizer holds the full state of a sharded one (a collective at its
/// start: every rank makes one); nothing without shards. For saving a checkpoint.
class FullOptimizerState {
 public:
  explicit FullOptimizerState(OptimizerShards* shards);
  ~FullOptimizerState();
  FullOptimizerState(const FullOptimizerState&) = delete;
  FullOptimizerState& operator=(const FullOptimizerState&) = delete;

 private:
  OptimizerShards* shards_;
};

}  // namespace lmlab::distributed
