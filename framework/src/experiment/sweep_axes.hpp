/// The sweep's axes checked against the options an experiment can set, before resolution.
#pragma once
#include <toml++/toml.h>

#include "lmlab/registry.hpp"

namespace lmlab::detail {

/// Every grid and zip axis and every arm's `set` key names an option of this experiment;
/// otherwise a ConfigError at its line in [sweep], with the closest option. Runs before
/// resolution, since each sweep point's config already holds the axis's value.
void check_sweep_axes(const toml::table& config, const Registry& registry);

}  // namespace lmlab::detail
