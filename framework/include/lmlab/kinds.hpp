/// The list of plugin kinds. Adding a kind: write its interface header (with `kind` and
/// `Context`), include it here and append it to PluginKinds.
#pragma once
#include <tuple>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/regulariser.hpp"
#include "lmlab/tokenizer.hpp"

namespace lmlab {

template <class... Interfaces>
struct KindList {};

using PluginKinds = KindList<Architecture, Objective, DecodingStep, Regulariser, Metric, Tokenizer>;

}  // namespace lmlab
