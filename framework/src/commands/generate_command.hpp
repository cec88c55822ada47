/// `lmlab generate`: continue prompts with a trained checkpoint, decoded as the run that wrote it
/// was configured or as the command line overrides, and report what it cost.
#pragma once
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"

namespace lmlab {

struct GenerateRequest {
  std::filesystem::path checkpoint;        // a .ckpt, or a results folder holding one
  std::vector<std::string> prompts;        // decoded together, as one left-padded batch
  std::vector<std::string> overrides;      // --set section.key=value over the run's resolved config
  std::string decoding;                    // which configuration: "default" or a [[decoding.eval]] name; empty: the first
                                           // (the overrides' decoding.<step>.<option> then address it)
  std::optional<std::int64_t> max_new_tokens;  // default: the run's eval.max_new_tokens
  std::optional<std::int64_t> seed;        // default: the run's experiment.seed
  std::string device;                      // default: the run's experiment.device
  bool use_cache = true;
};

/// The prompts of a --prompts file: one per line, blank lines skipped; throws DataError naming
/// the file when it cannot be read or holds none.
std::vector<std::string> read_prompts(const std::filesystem::path& file);

/// Rebuilds the checkpoint's model from its config (with `overrides` applied: a new
/// decoding.chain replaces the run's decoding tables), loads the weights, and writes each
/// prompt's continuations (best first) to `out`; timing and the configuration to `log`.
/// Config and data errors are ConfigError / DataError naming the key or file.
void run_generate(const GenerateRequest& request, PluginLoader& loader, const Registry& registry, std::ostream& out,
                  std::ostream& log);

}  // namespace lmlab
