#include "distributed/world.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

#include "lmlab/error.hpp"

namespace lmlab::distributed {
namespace {

// A value quoted for an error message, cut so that a hostile environment cannot flood it.
std::string world_quote(const std::string& value) {
  constexpr std::size_t limit = 120;
  return value.size() <= limit ? "'" + value + "'" : "'" + value.substr(0, limit) + "...'";
}

std::int64_t world_integer(const std::string& name, const std::string& value, std::int64_t low, std::int64_t high) {
  std::int64_t parsed = 0;
  const char* end = value.data() + value.size();
  const auto [stop, error] = std::from_chars(value.data(), end, parsed);
  if (value.empty() || error != std::errc{} || stop != end)
    throw ConfigError(fmt::format("environment variable {}={} is not an integer", name, world_quote(value)));
  if (parsed < low || parsed > high)
    throw ConfigError(fmt::format("environment variable {}={} is out of range: accepted {}..{}", name,
                                  world_quote(value), low, high));
  return parsed;
}

std::string world_required(const EnvLookup& env, const std::string& name, const std::string& because) {
  const auto value = env(name);
  if (!value) throw ConfigError(fmt::format("environment variable {} is not set ({})", name, because));
  return *value;
}

int world_int(const EnvLookup& env, const std::string& name, int low, int high, const std::string& because) {
  return static_cast<int>(world_integer(name, world_required(env, name, because), low, high));
}

constexpr int kWorldMaxProcesses = 1 << 20;

// Rank and local rank inside their worlds, and a node no larger than the world.
void check_world(const World& w, const std::string& rank_name, const std::string& size_name,
                 const std::string& local_name, const std::string& local_size_name) {
  if (w.rank >= w.world_size)
    throw ConfigError(fmt::format("environment: {}={} is not below {}={}", rank_name, w.rank, size_name, w.world_size));
  if (w.local_world_size > w.world_size)
    throw ConfigError(
        fmt::format("environment: {}={} exceeds {}={}", local_size_name, w.local_world_size, size_name, w.world_size));
  if (w.local_rank >= w.local_world_size)
    throw ConfigError(fmt::format("environment: {}={} is not below {}={}", local_name, w.local_rank, local_size_name,
                                  w.local_world_size));
  if (w.local_rank > w.rank)
    throw ConfigError(fmt::format("environment: {}={} exceeds {}={}", local_name, w.local_rank, rank_name, w.rank));
}

void check_master_addr(const std::string& name, const std::string& addr) {
  if (addr.empty() || addr.size() > 255 || addr.find_first_of(" \t\r\n/") != std::string::npos)
    throw ConfigError(fmt::format("environment variable {}={} is not a host name or address", name, world_quote(addr)));
}

World torchrun_world(const EnvLookup& env) {
  const std::string why = "torchrun sets RANK and WORLD_SIZE together";
  World w;
  w.source = "torchrun";
  w.world_size = world_int(env, "WORLD_SIZE", 1, kWorldMaxProcesses, why);
  w.rank = world_int(env, "RANK", 0, kWorldMaxProcesses, why);
  // Started by hand on one machine, LOCAL_* may be left out: the node is the whole world.
  const auto local_rank = env("LOCAL_RANK");
  w.local_rank =
      local_rank ? static_cast<int>(world_integer("LOCAL_RANK", *local_rank, 0, kWorldMaxProcesses)) : w.rank;
  const auto local_size = env("LOCAL_WORLD_SIZE");
  w.local_world_size = local_size
                           ? static_cast<int>(world_integer("LOCAL_WORLD_SIZE", *local_size, 1, kWorldMaxProcesses))
                           : w.world_size;
  check_world(w, "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE");
  const std::string rendezvous = fmt::format("WORLD_SIZE={} needs rank 0's address and port", w.world_size);
  if (w.world_size > 1 || env("MASTER_ADDR")) w.master_addr = world_required(env, "MASTER_ADDR", rendezvous);
  if (w.world_size > 1 || env("MASTER_PORT")) w.master_port = world_int(env, "MASTER_PORT", 1, 65535, rendezvous);
  check_master_addr("MASTER_ADDR", w.master_addr);
  return w;
}

// Tasks on the node with index SLURM_NODEID, from SLURM_STEP_TASKS_PER_NODE (srun's) or
// SLURM_TASKS_PER_NODE (the allocation's); a single node holds the whole world otherwise.
int slurm_local_world_size(const EnvLookup& env, int world_size) {
  for (const char* name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    const auto value = env(name);
    if (!value) continue;
    const auto counts = expand_slurm_tasks_per_node(*value);
    const auto node_id = env("SLURM_NODEID");
    const auto node = node_id ? world_integer("SLURM_NODEID", *node_id, 0, kWorldMaxProcesses) : 0;
    if (static_cast<std::size_t>(node) >= counts.size())
      throw ConfigError(fmt::format("environment: SLURM_NODEID={} but {}={} lists {} node(s)", node, name,
                                    world_quote(*value), counts.size()));
    return counts[static_cast<std::size_t>(node)];
  }
  return world_size;
}

World slurm_world(const EnvLookup& env) {
  World w;
  w.source = "slurm";
  w.world_size = world_int(env, "SLURM_NTASKS", 1, kWorldMaxProcesses, "");
  w.rank = world_int(env, "SLURM_PROCID", 0, kWorldMaxProcesses, "");
  const std::string why = fmt::format("srun sets it for each task; SLURM_NTASKS={}", w.world_size);
  w.local_rank =
      w.world_size > 1 || env("SLURM_LOCALID") ? world_int(env, "SLURM_LOCALID", 0, kWorldMaxProcesses, why) : 0;
  w.local_world_size = slurm_local_world_size(env, w.world_size);
  check_world(w, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_TASKS_PER_NODE");
  // MASTER_ADDR/MASTER_PORT, when a job script exports them, win over what Slurm implies.
  if (const auto addr = env("MASTER_ADDR")) {
    w.master_addr = *addr;
    check_master_addr("MASTER_ADDR", w.master_addr);
  } else if (const auto nodes = env("SLURM_JOB_NODELIST")) {
    w.master_addr = expand_slurm_hostlist(*nodes).front();
  } else if (w.world_size > 1) {
    throw ConfigError(
        fmt::format("environment variable SLURM_JOB_NODELIST is not set ({}; its first host is rank 0's)", why));
  }
  if (const auto port = env("MASTER_PORT")) {
    w.master_port = static_cast<int>(world_integer("MASTER_PORT", *port, 1, 65535));
  } else if (const auto job = env("SLURM_JOB_ID")) {
    // Jobs sharing a node must not share a port: spread them by job id over 29500..39499.
    w.master_port = 29500 + static_cast<int>(world_integer("SLURM_JOB_ID", *job, 0, INT64_MAX) % 10000);
  }
  return w;
}

}  // namespace

World parse_world(const EnvLookup& env) {
  if (env("RANK") || env("WORLD_SIZE")) return torchrun_world(env);
  if (env("SLURM_PROCID") && env("SLURM_NTASKS")) return slurm_world(env);
  return World{};
}

World world_from_environment() {
  return parse_world([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

}  // namespace lmlab::distributed
