/// What makes two runs the same configuration when several processes train them: the batch an
/// experiment file states per process (train.batch_size) or over all of them
/// (train.global_batch_size), and the text the run's identity (config hash) is computed from.
#pragma once
#include <cstdint>
#include <string>

#include <toml++/toml.h>

#include "experiment/experiment.hpp"

namespace lmlab::detail {

/// train.global_batch_size, where given, sets each of the `world_size` processes' batch_size.
/// ConfigError, at the key's line, where it does not split evenly or batch_size is given too.
void split_global_batch(const toml::table& config, TrainSection& train, std::int64_t world_size);

/// [train] as the resolved config records it. Stated globally, each process's batch_size follows
/// from global_batch_size and the world size, and is left out: a config with both (a checkpoint's,
/// read back by generate and export) would be refused, as a user's file that gives both is.
toml::table resolved_train(const TrainSection& train);

/// The text the identity hashes: the resolved config of one process with the global batch.
std::string identity_text(const Experiment& e, std::int64_t world_size);

}  // namespace lmlab::detail
