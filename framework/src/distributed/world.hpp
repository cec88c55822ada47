/// Who this process is in a data-parallel job: its rank, the world size, its place on its node and
/// where rank 0's rendezvous store listens. Read from the environment `torchrun` sets or, when
/// that is absent, from Slurm's (`srun`); with neither, a world of one process.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lmlab::distributed {

struct World {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // index among this node's processes (the CUDA device it binds to)
  int local_world_size = 1;  // processes on this node
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "single";  // "torchrun", "slurm" or "single": which variables it came from

  bool is_main() const { return rank == 0; }
  bool distributed() const { return world_size > 1; }
};

/// Looks a variable up; empty optional when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The world described by `env`: torchrun's RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE/
/// MASTER_ADDR/MASTER_PORT when RANK or WORLD_SIZE is set, else Slurm's SLURM_PROCID/
/// SLURM_NTASKS/SLURM_LOCALID/SLURM_JOB_NODELIST when SLURM_PROCID and SLURM_NTASKS are set, else
/// one process. A missing, malformed or inconsistent value is a ConfigError naming the variable
/// and quoting its value.
World parse_world(const EnvLookup& env);

/// parse_world() over this process's environment.
World world_from_environment();

/// The hosts of a Slurm host list, in order: "node[01-03,07],gpu5" is node01 node02 node03
/// node07 gpu5; several bracket groups in one name multiply ("r[1-2]n[1-2]" is r1n1 r1n2 r2n1
/// r2n2); a range keeps the zero padding of its first bound. A malformed list is a ConfigError
/// quoting it; a list of more than `max_hosts` names is refused.
std::vector<std::string> expand_slurm_hostlist(const std::string& list, std::size_t max_hosts = 1000000);

/// The task counts per node of SLURM_TASKS_PER_NODE's form, "2(x3),1" -> 2 2 2 1.
std::vector<int> expand_slurm_tasks_per_node(const std::string& value);

}  // namespace lmlab::distributed
