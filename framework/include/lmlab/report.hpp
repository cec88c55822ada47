/// What the host prints for people: the end-of-run summary table and the plugin listing.
#pragma once
#include <ostream>
#include <vector>

#include "lmlab/registry.hpp"
#include "lmlab/trainer.hpp"

namespace lmlab {

/// One row per run: steps, time, tokens/s, validation loss, perplexity against the unigram
/// baseline, accuracy, status and file; then the last samples of each run.
void print_summary(std::ostream& out, const std::vector<RunSummary>& runs);

/// Every loaded plugin: kind, name, library, help, and each option's type, default and range.
void print_plugins(std::ostream& out, const std::vector<PluginInfo>& plugins);

}  // namespace lmlab
