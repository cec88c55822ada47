#include "distributed/sharded_optimizer.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <utility>

#include "distributed/agreement.hpp"
#include "lmlab/error.hpp"
#include "training/fused_adamw.hpp"

namespace lmlab::distributed {
namespace {

using AdamWState = torch::optim::AdamWParamState;

// Consecutive tensors of one dtype and device, together at most `cap` bytes (a larger tensor
// alone): each chunk is one message, so that the many small tensors (norms, biases) cost one
// collective's latency between them, and a large tensor needs no copy.
std::vector<std::vector<at::Tensor>> shard_chunks(const std::vector<at::Tensor>& tensors, std::int64_t cap) {
  std::vector<std::vector<at::Tensor>> chunks;
  std::int64_t bytes = 0;
  for (const at::Tensor& t : tensors) {
    const auto size = static_cast<std::int64_t>(t.nbytes());
    if (chunks.empty() || bytes + size > cap || chunks.back().front().scalar_type() != t.scalar_type() ||
        chunks.back().front().device() != t.device()) {
      chunks.emplace_back();
      bytes = 0;
    }
    chunks.back().push_back(t);
    bytes += size;
  }
  return chunks;
}

// Moves `chunk` as one message, `move(buffer)` launching the collective and waiting for it: a lone
// contiguous tensor in place; several through one flat buffer, filled from them first where this
// rank sends (`fill`), copied back into them afterwards where it receives (`unpack`).
template <class Move>
void move_chunk(const std::vector<at::Tensor>& chunk, bool fill, bool unpack, Move&& move) {
  if (chunk.size() == 1 && chunk.front().is_contiguous()) {
    move(chunk.front());
    return;
  }
  std::int64_t total = 0;
  for (const at::Tensor& t : chunk) total += t.numel();
  at::Tensor flat = at::empty({total}, chunk.front().options());  // (total)
  std::int64_t offset = 0;
  for (const at::Tensor& t : chunk) {
    if (fill) flat.narrow(0, offset, t.numel()).copy_(t.reshape({-1}));
    offset += t.numel();
  }
  move(flat);
  if (!unpack) return;
  offset = 0;
  for (const at::Tensor& t : chunk) {
    t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

// Adds the seconds `work()` takes to `total`.
template <class F>
void add_seconds(double& total, F&& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A parameter's state tensors in the order they travel: the moments, then amsgrad's maximum.
std::vector<at::Tensor> state_tensors(const AdamWState& s) {
  std::vector<at::Tensor> out{s.exp_avg(), s.exp_avg_sq()};
  if (s.max_exp_avg_sq().defined()) out.push_back(s.max_exp_avg_sq());
  return out;
}

}  // namespace

std::vector<int> partition_parameters(const std::vector<std::int64_t>& numels, int ranks) {
  if (ranks < 1) throw Error(fmt::format("distributed: cannot share parameters among {} ranks", ranks));
  std::vector<std::size_t> order(numels.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return numels[a] > numels[b]; });
  std::vector<std::int64_t> load(static_cast<std::size_t>(ranks), 0);
  std::vector<int> owners(numels.size(), 0);
  for (std::size_t i : order) {
    const auto lightest = std::min_element(load.begin(), load.end());  // the first, so the lowest rank on a tie
    owners[i] = static_cast<int>(lightest - load.begin());
    *lightest += numels[i];
  }
  return owners;
}

std::int64_t adamw_state_bytes(const at::Tensor& parameter, bool amsgrad) {
  return (amsgrad ? 3 : 2) * parameter.numel() * static_cast<std::int64_t>(parameter.element_size());
}

std::int64_t adamw_state_bytes(const torch::optim::AdamW& optimizer) {
  std::int64_t bytes = 0;
  for (const auto& g : optimizer.param_groups()) {
    const bool amsgrad = static_cast<const torch::optim::AdamWOptions&>(g.options()).amsgrad();
    for (const at::Tensor& p : g.params()) bytes += adamw_state_bytes(p, amsgrad);
  }
  return bytes;
}

OptimizerShards::OptimizerShards(torch::optim::AdamW& optimizer, std::shared_ptr<ProcessGroup> group,
                                 double bucket_mb)
    : optimizer_(optimizer),
      group_(std::move(group)),
      chunk_bytes_(std::max<std::int64_t>(1, static_cast<std::int64_t>(bucket_mb * 1024.0 * 1024.0))) {
  std::vector<std::int64_t> numels;
  std::int64_t values = 0;
  for (const auto& g : optimizer_.param_groups()) {
    for (const at::Tensor& p : g.params()) {
      params_.push_back(p);
      numels.push_back(p.numel());
      values += p.numel();
    }
  }
  // Every rank partitions its own list: they must be the same list for the shares to match.
  require_same_as_rank0(*group_, {static_cast<std::int64_t>(params_.size()), values},
                        "the optimizer's parameter and value counts", "every rank must build the same optimizer");
  owners_ = partition_parameters(numels, group_->size());
}

bool OptimizerShards::amsgrad() const {
  for (const auto& g : optimizer_.param_groups()) {
    if (static_cast<const torch::optim::AdamWOptions&>(g.options()).amsgrad()) return true;
  }
  return false;
}

void OptimizerShards::step() {
  // The optimizer skips a parameter without a gradient, and so never creates its state: the
  // gradients of the parameters other ranks own are set aside for the step, then put back (the
  // regularisers' after_step hooks may read them).
  std::vector<at::Tensor> aside(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (owners_[i] != group_->rank()) aside[i] = std::exchange(params_[i].mutable_grad(), at::Tensor());
  }
  const auto put_back = [&] {
    for (std::size_t i = 0; i < params_.size(); ++i) {
      if (owners_[i] != group_->rank()) params_[i].mutable_grad() = std::move(aside[i]);
    }
  };
  try {
    optimizer_.step();
  } catch (...) {
    put_back();
    throw;
  }
  put_back();
  add_seconds(comm_seconds_, [&] { broadcast_from_owners(); });
}

void OptimizerShards::broadcast_from_owners() {
  at::NoGradGuard no_grad;
  for (int owner = 0; owner < group_->size(); ++owner) {
    std::vector<at::Tensor> owned;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      if (owners_[i] == owner) owned.push_back(params_[i].detach());  // shares the parameter's memory
    }
    const bool mine = owner == group_->rank();
    for (const auto& chunk : shard_chunks(owned, chunk_bytes_)) {
      move_chunk(chunk, mine, !mine, [&](const at::Tensor& buffer) {
        std::vector<at::Tensor> io{buffer};
        c10d::BroadcastOptions options;
        options.rootRank = owner;
        group_->wait(group_->collectives().broadcast(io, options),
                     fmt::format("the broadcast of the parameters rank {} updated", owner));
      });
    }
  }
}

std::vector<std::int64_t> OptimizerShards::state_steps() {
  // Per parameter: how many state tensors its owner holds (0: none yet, 2: the moments, 3: with
  // amsgrad's maximum) and their step, summed over the ranks: each parameter has one owner.
  at::Tensor meta = at::zeros({2 * static_cast<std::int64_t>(params_.size())}, at::kLong);  // (2 P)
  auto* values = meta.data_ptr<std::int64_t>();
  auto& states = optimizer_.state();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (owners_[i] != group_->rank()) continue;
    const auto found = states.find(optimizer_state_key(params_[i]));
    if (found == states.end()) continue;
    const auto& s = static_cast<const AdamWState&>(*found->second);
    values[2 * i] = static_cast<std::int64_t>(state_tensors(s).size());
    values[2 * i + 1] = s.step();
  }
  std::vector<at::Tensor> io{meta.to(group_->device())};
  group_->wait(group_->collectives().allreduce(io), "the exchange of the optimizer state's sizes");
  const at::Tensor summed = io[0].cpu();
  return {summed.data_ptr<std::int64_t>(), summed.data_ptr<std::int64_t>() + summed.numel()};
}

void OptimizerShards::gather_to_rank0() {
  if (group_->size() == 1) return;
  add_seconds(comm_seconds_, [&] {
    const std::vector<std::int64_t> steps = state_steps();
    if (group_->rank() != 0) return send_states();
    for (int owner = 1; owner < group_->size(); ++owner) receive_states(owner, steps);
  });
}

void OptimizerShards::send_states() {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> outgoing;
  auto& states = optimizer_.state();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (owners_[i] != group_->rank()) continue;
    const auto found = states.find(optimizer_state_key(params_[i]));
    if (found == states.end()) continue;
    for (const at::Tensor& t : state_tensors(static_cast<const AdamWState&>(*found->second))) outgoing.push_back(t);
  }
  int tag = 0;
  for (const auto& chunk : shard_chunks(outgoing, chunk_bytes_)) {
    move_chunk(chunk, true, false, [&](const at::Tensor& buffer) {
      std::vector<at::Tensor> io{buffer};
      group_->wait(group_->collectives().send(io, 0, tag++),
                   fmt::format("sending rank {}'s optimizer state to rank 0 for a checkpoint", group_->rank()));
    });
  }
}

void OptimizerShards::receive_states(int owner, const std::vector<std::int64_t>& steps) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> incoming;
  auto& states = optimizer_.state();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (owners_[i] != owner || steps[2 * i] == 0) continue;
    const auto fresh = [&] { return at::empty_like(params_[i], at::MemoryFormat::Contiguous); };
    auto s = std::make_unique<AdamWState>();
    s->step(steps[2 * i + 1]);
    s->exp_avg(fresh());
    s->exp_avg_sq(fresh());
    if (steps[2 * i] == 3) s->max_exp_avg_sq(fresh());
    for (const at::Tensor& t : state_tensors(*s)) incoming.push_back(t);  // filled in place below
    states[optimizer_state_key(params_[i])] = std::move(s);
  }
  int tag = 0;
  for (const auto& chunk : shard_chunks(incoming, chunk_bytes_)) {
    move_chunk(chunk, false, true, [&](const at::Tensor& buffer) {
      std::vector<at::Tensor> io{buffer};
      group_->wait(group_->collectives().recv(io, owner, tag++),
                   fmt::format("receiving rank {}'s optimizer state on rank 0 for a checkpoint", owner));
    });
  }
}

void OptimizerShards::keep_own_state() {
  auto& states = optimizer_.state();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (owners_[i] != group_->rank()) states.erase(optimizer_state_key(params_[i]));
  }
}

std::vector<std::int64_t> OptimizerShards::state_bytes_per_rank() const {
  std::vector<std::int64_t> bytes(static_cast<std::size_t>(group_->size()), 0);
  const bool with_maximum = amsgrad();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    bytes[static_cast<std::size_t>(owners_[i])] += adamw_state_bytes(params_[i], with_maximum);
  }
  return bytes;
}

double OptimizerShards::take_comm_seconds() { return std::exchange(comm_seconds_, 0.0); }

FullOptimizerState::FullOptimizerState(OptimizerShards* shards) : shards_(shards) {
  if (shards_) shards_->gather_to_rank0();
}

FullOptimizerState::~FullOptimizerState() {
  if (shards_) shards_->keep_own_state();
}

}  // namespace lmlab::distributed
