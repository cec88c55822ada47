#include "experiment/run_identity.hpp"

#include <sstream>

#include <fmt/format.h>

#include "experiment/experiment_schema.hpp"
#include "lmlab/options.hpp"

namespace lmlab::detail {

// The text the identity hashes: the resolved config of one process with the global batch. A run of
// `world_size` processes with train.batch_size B each draws the rows one process with B x world
// would, so the two are one configuration, and so is train.global_batch_size = B x world on any
// number of processes; eval.batch_size 0 follows the global batch as well.
std::string identity_text(const Experiment& e, std::int64_t world_size) {
  std::ostringstream canonical;  // tables print in key order, so the text is canonical
  if (world_size == 1 && e.train.global_batch_size == 0) {
    canonical << e.resolved;
    return canonical.str();
  }
  toml::table identity = e.resolved;
  identity["train"].as_table()->insert_or_assign("batch_size", e.train.batch_size * world_size);
  identity["train"].as_table()->erase("global_batch_size");  // how the file states the batch, not what it is
  canonical << identity;
  return canonical.str();
}

toml::table resolved_train(const TrainSection& train) {
  toml::table table = train_options().to_toml(train);
  if (train.global_batch_size != 0) table.erase("batch_size");
  return table;
}

void split_global_batch(const toml::table& config, TrainSection& train, std::int64_t world_size) {
  if (train.global_batch_size == 0) return;
  const toml::node* global = config.at_path("train.global_batch_size").node();
  if (const toml::node* per_process = config.at_path("train.batch_size").node()) {
    config_error(per_process, "train.batch_size",
                 fmt::format("given with train.global_batch_size ({}, at {}); give one of the two: batch_size "
                             "counts each process's rows, global_batch_size all processes' together",
                             train.global_batch_size, where(*global)));
  }
  if (train.global_batch_size % world_size != 0) {
    config_error(global, "train.global_batch_size",
                 fmt::format("{} rows do not split evenly over {} processes", train.global_batch_size, world_size),
                 fmt::format("a multiple of {}", world_size));
  }
  train.batch_size = train.global_batch_size / world_size;
}

}  // namespace lmlab::detail
