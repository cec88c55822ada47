// Joining the c10d group. LibTorch's CMake targets define USE_C10D_GLOO, which ProcessGroupGloo.hpp
// needs, and USE_C10D_NCCL where LibTorch was built with NCCL; NCCL is used only where nccl.h is
// also at hand (a CUDA wheel may lack it).
#include "distributed/process_group.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "lmlab/error.hpp"
#include "util/error_text.hpp"

namespace lmlab::distributed {
namespace {

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

// The network interface Gloo's connections use: GLOO_SOCKET_IFNAME as in PyTorch; the loopback
// when the master is on it (a one-machine job); else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const World& world) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface != nullptr && *interface != '\0')
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  if (is_loopback(world.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<c10d::Store> connect_store(const World& world, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(world.master_port);
  options.isServer = world.rank == 0;
  options.numWorkers = static_cast<std::size_t>(world.world_size);
  options.waitWorkers = true;  // rank 0 returns once every rank has connected
  options.timeout = timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(world.master_addr, options);
  } catch (const std::exception& e) {
    const std::string role = world.rank == 0
                                 ? fmt::format(
                                       "rank 0 could not serve the rendezvous store on port {} "
                                       "or not all {} ranks connected",
                                       world.master_port, world.world_size)
                                 : fmt::format("rank {} could not reach rank 0's rendezvous store", world.rank);
    throw Error(fmt::format("distributed: {} at MASTER_ADDR:MASTER_PORT = {}:{} within timeout_s = {}: {}", role,
                            world.master_addr, world.master_port, timeout.count() / 1000.0, error_text(e)));
  }
}

}  // namespace

ProcessGroup::ProcessGroup(World world, std::string backend, c10::Device device, std::chrono::milliseconds timeout,
                           c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<Collectives> collectives)
    : world_(std::move(world)),
      backend_(std::move(backend)),
      device_(device),
      timeout_(timeout),
      store_(std::move(store)),
      collectives_(std::move(collectives)) {}

void ProcessGroup::wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) const {
  try {
    work->wait(timeout_);
  } catch (const std::exception& e) {
    throw Error(
        fmt::format("distributed: {} failed on rank {} of {} ({}, timeout_s = {}); a peer rank may have "
                    "died or stopped: {}",
                    what, rank(), size(), backend_, timeout_.count() / 1000.0, error_text(e)));
  }
}

void ProcessGroup::barrier() const { wait(collectives_->barrier(), "barrier"); }

std::string resolve_backend(const std::string& requested, const c10::Device& device) {
  if (requested == "auto") return device.is_cuda() ? resolve_backend("nccl", device) : "gloo";
  if (requested == "gloo") return requested;
  if (requested == "nccl") {
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
    if (device.is_cuda()) return requested;
    throw ConfigError(fmt::format(
        "[distributed] backend = 'nccl' needs a CUDA device, not '{}'; accepted on it: 'gloo', 'auto'", device.str()));
#else
    throw ConfigError(
        "[distributed] backend = 'nccl': this lmlab is built against a LibTorch without NCCL; accepted: 'gloo', "
        "'auto'");
#endif
  }
  throw ConfigError(fmt::format("[distributed] backend = '{}' is unknown; accepted: 'auto', 'gloo', 'nccl'",
                                requested.substr(0, 40)));
}

std::shared_ptr<ProcessGroup> make_process_group(const World& world, const GroupOptions& options) {
  if (options.timeout.count() <= 0)
    throw ConfigError(fmt::format("[distributed] timeout_s = {} must be positive", options.timeout.count() / 1000.0));
  const std::string backend = resolve_backend(options.backend, options.device);
  auto store = connect_store(world, options.timeout);
  c10::intrusive_ptr<Collectives> collectives;
  try {
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
    if (backend == "nccl") {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      collectives = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, world.rank, world.world_size, nccl_options);
    }
#endif
    if (backend == "gloo") {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
      gloo_options->devices.push_back(gloo_device(world));
      collectives = c10::make_intrusive<c10d::ProcessGroupGloo>(store, world.rank, world.world_size, gloo_options);
    }
  } catch (const std::exception& e) {
    throw Error(fmt::format(
        "distributed: rank {} of {} could not connect the {} group (MASTER_ADDR = {}, timeout_s = {}): {}", world.rank,
        world.world_size, backend, world.master_addr, options.timeout.count() / 1000.0, error_text(e)));
  }
  return std::make_shared<ProcessGroup>(world, backend, options.device, options.timeout, std::move(store),
                                        std::move(collectives));
}

}  // namespace lmlab::distributed
