/// The tokenizer a run or a command uses, built from the plugin an experiment or a checkpoint
/// names, every call guarded so that a failure names the tokenizer's plugin and library.
#pragma once
#include <memory>
#include <string>

#include "experiment/experiment.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/tokenizer.hpp"

namespace lmlab {

/// Builds `choice` (data.tokenizer with [tokenizer]'s resolved options). Relative paths in its
/// options start from the working folder, as data.corpus does.
std::shared_ptr<const Tokenizer> build_tokenizer(const Registry& registry, const PluginChoice& choice);

/// Throws DataError when `tokenizer` is not the one `expected_identity` was recorded for (its files
/// changed since), naming `what` recorded it and the options to look at.
void check_tokenizer_identity(const Tokenizer& tokenizer, const std::string& expected_identity,
                              const std::string& what, const PluginChoice& choice);

}  // namespace lmlab
