#include "distributed/data_parallel.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>

#include "lmlab/error.hpp"

namespace lmlab::distributed {
namespace {

// Seconds of `work()`, added to `total`.
template <class F>
void timed(double& total, F&& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace

DataParallel::DataParallel(const World& world, const DistributedSection& section, const c10::Device& device) {
  GroupOptions options;
  options.backend = section.backend;
  options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(section.timeout_s * 1000.0));
  options.device = device;
  group_ = make_process_group(world, options);
}

void DataParallel::attach(torch::nn::Module& model, double bucket_mb) {
  broadcast_parameters(model, *group_);
  std::vector<std::pair<std::string, at::Tensor>> parameters;
  for (const auto& item : model.named_parameters()) parameters.emplace_back(item.key(), item.value());
  reducer_ = std::make_unique<GradientReducer>(std::move(parameters), group_, bucket_mb);
}

void DataParallel::shard_optimizer(torch::optim::AdamW& optimizer, double bucket_mb) {
  shards_ = std::make_unique<OptimizerShards>(optimizer, group_, bucket_mb);
}

void DataParallel::step(torch::optim::Optimizer& optimizer) {
  if (!shards_) {
    optimizer.step();
    return;
  }
  shards_->step();
}

std::vector<std::int64_t> DataParallel::optimizer_state_bytes(const torch::optim::AdamW& optimizer) const {
  if (shards_) return shards_->state_bytes_per_rank();
  // Unsharded, every rank holds the state of every parameter.
  return std::vector<std::int64_t>(static_cast<std::size_t>(size()), adamw_state_bytes(optimizer));
}

at::Tensor DataParallel::share(const at::Tensor& global) const {
  const std::int64_t rows = global.size(0) / size();
  return global.narrow(0, rank() * rows, rows);  // (B, ...)
}

void DataParallel::before_backward(bool last_micro_step) { reducer_->set_communicate(last_micro_step); }

void DataParallel::average_gradients() {
  timed(comm_seconds_, [&] { reducer_->finish(); });
}

void DataParallel::sum(at::Tensor& values, const std::string& what) {
  std::vector<at::Tensor> io{values.to(group_->device())};
  timed(comm_seconds_, [&] { group_->wait(group_->collectives().allreduce(io), what); });
  values.copy_(io[0]);
}

void DataParallel::seed_rank_generators(std::int64_t seed, std::int64_t step, const c10::Device& device) const {
  if (rank() == 0) return;
  const auto value = static_cast<std::uint64_t>(seed) + 1000003ull * static_cast<std::uint64_t>(rank()) +
                     7919ull * static_cast<std::uint64_t>(step);
  at::Generator cpu = at::globalContext().defaultGenerator(c10::Device(c10::kCPU));
  cpu.set_current_seed(value);
  if (device.is_cuda()) {
    at::Generator accelerator = at::globalContext().defaultGenerator(device);
    accelerator.set_current_seed(value);
  }
}

double DataParallel::take_comm_seconds() {
  // The shards' broadcasts of the updated parameters and their gathers for checkpoints count too.
  const double seconds = comm_seconds_ + (shards_ ? shards_->take_comm_seconds() : 0.0);
  comm_seconds_ = 0.0;
  return seconds;
}

std::vector<std::string> DataParallel::rank_places(const std::string& device, int threads) const {
  c10d::Store& store = group_->store();
  const std::string mine = fmt::format("{} {} {}", host_name(), device, threads);
  store.set(fmt::format("lmlab/place/{}", rank()), std::vector<std::uint8_t>(mine.begin(), mine.end()));
  std::vector<std::string> places;
  if (rank() != 0) return places;
  for (int r = 0; r < size(); ++r) {
    const std::vector<std::uint8_t> value = store.get(fmt::format("lmlab/place/{}", r));
    places.emplace_back(value.begin(), value.end());
  }
  return places;
}

c10::Device rank_device(const c10::Device& device, const World& world) {
  if (!device.is_cuda() || !world.distributed()) return device;
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(world.local_rank));
}

}  // namespace lmlab::distributed
