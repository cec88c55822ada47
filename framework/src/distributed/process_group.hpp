/// The c10d process group a data-parallel run communicates through: a TCPStore for the
/// rendezvous (rank 0 serves it at MASTER_ADDR:MASTER_PORT) and Gloo on a CPU, NCCL on CUDA where
/// the LibTorch this is built against has it.
#pragma once
#include <c10/core/Device.h>
#include <torch/version.h>

#include <chrono>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "distributed/world.hpp"

namespace lmlab::distributed {

// LibTorch 2 split the collectives off ProcessGroup into Backend (ProcessGroupGloo derives from
// it); 1.13's ProcessGroupGloo is a ProcessGroup.
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

struct GroupOptions {
  std::string backend = "auto";  // "auto" (NCCL on CUDA, Gloo otherwise), "gloo" or "nccl"
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};  // [distributed] timeout_s
  c10::Device device = c10::Device(c10::kCPU);                   // where the gradients live
};

/// One process's membership of the group: its world, the backend chosen and the collectives.
class ProcessGroup {
 public:
  ProcessGroup(World world, std::string backend, c10::Device device, std::chrono::milliseconds timeout,
               c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<Collectives> collectives);

  const World& world() const { return world_; }
  int rank() const { return world_.rank; }
  int size() const { return world_.world_size; }
  const std::string& backend() const { return backend_; }
  /// Where this rank's tensors for the collectives live (CUDA for NCCL).
  const c10::Device& device() const { return device_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  Collectives& collectives() const { return *collectives_; }
  /// The rendezvous store, for small values exchanged once (each rank's host).
  c10d::Store& store() const { return *store_; }

  /// Waits for `work` up to the group's timeout; a failure or the timeout is an lmlab::Error that
  /// says `what` was being done, this rank and the timeout.
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) const;

  /// Blocks until every rank has reached it (within the timeout).
  void barrier() const;

 private:
  World world_;
  std::string backend_;
  c10::Device device_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;  // kept alive: rank 0's serves the others
  c10::intrusive_ptr<Collectives> collectives_;
};

/// The backend `requested` resolves to on `device`: "gloo" or "nccl". Unknown names, and NCCL
/// where the device is not CUDA or LibTorch has no NCCL, are ConfigErrors.
std::string resolve_backend(const std::string& requested, const c10::Device& device);

/// Joins the group described by `world`: connects to (rank 0: serves) the TCPStore, then builds
/// the backend. Fails with an lmlab::Error naming MASTER_ADDR:MASTER_PORT and the timeout when
/// the master cannot be reached or the others do not arrive in time.
std::shared_ptr<ProcessGroup> make_process_group(const World& world, const GroupOptions& options);

}  // namespace lmlab::distributed
