/// What the host prints for people: the end-of-run summary table and the plugin listing.
#pragma once
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "lmlab/registry.hpp"
#include "training/trainer.hpp"

namespace lmlab {

/// One row per run: steps, time, tokens/s, MFU (as a percentage; "-" when unknown), validation
/// loss, perplexity against the unigram baseline, accuracy, status and file; then the last
/// samples of each run.
void print_summary(std::ostream& out, const std::vector<RunSummary>& runs);

/// `text` on one line (newlines and tabs as spaces), cut to `max_bytes` at a UTF-8 character
/// boundary with "..." appended: generated text in tables and live views.
std::string one_line(const std::string& text, std::size_t max_bytes);

/// Every loaded plugin: kind, name, library, help, and each option's type, default and range.
void print_plugins(std::ostream& out, const std::vector<PluginInfo>& plugins);

}  // namespace lmlab
