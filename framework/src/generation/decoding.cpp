#include "lmlab/decoding.hpp"

#include <algorithm>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "util/suggest.hpp"

namespace lmlab {

namespace {

std::string describe(const std::vector<std::shared_ptr<DecodingStep>>& steps) {
  std::vector<std::string> names;
  for (const auto& step : steps) names.push_back(step ? step->name() : "<null>");
  return "decoding chain [" + join(names) + "]";
}

}  // namespace

DecodingChain::DecodingChain(std::vector<std::shared_ptr<DecodingStep>> steps) : steps_(std::move(steps)) {
  // Checked here, once, so that a misconfigured chain fails when the experiment is loaded
  // rather than after a model has been trained.
  if (steps_.empty()) {
    throw ConfigError(fmt::format("{}: a chain needs at least one step, and its last must select a token "
                                  "(greedy, sample, ...)",
                                  describe(steps_)));
  }
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (!steps_[i]) throw ConfigError(fmt::format("{}: step {} is missing", describe(steps_), i + 1));
  }
  for (std::size_t i = 0; i + 1 < steps_.size(); ++i) {
    if (steps_[i]->selects()) {
      throw ConfigError(fmt::format("{}: step {} ('{}') selects a token, so every step after it would be "
                                    "ignored; only the last step may select",
                                    describe(steps_), i + 1, steps_[i]->name()));
    }
  }
  if (!steps_.back()->selects()) {
    throw ConfigError(
        fmt::format("{}: the last step must select a token (greedy, sample) or search (beam_search, contrastive_search)", describe(steps_)));
  }
}

std::string DecodingChain::name() const {
  std::vector<std::string> names;
  for (const auto& step : steps_) names.push_back(step->name());
  return join(names, ">");
}

void DecodingChain::apply(DecodeState& state) {
  for (const auto& step : steps_) step->apply(state);
}

void DecodingChain::process(DecodeState& state) {
  for (std::size_t i = 0; i + 1 < steps_.size(); ++i) steps_[i]->apply(state);
}

void DecodingChain::reset() {
  for (const auto& step : steps_) step->reset();
}

std::shared_ptr<DecodingStep> DecodingChain::clone() const {
  std::vector<std::shared_ptr<DecodingStep>> copies;
  copies.reserve(steps_.size());
  for (const auto& step : steps_) copies.push_back(step->clone());
  return std::make_shared<DecodingChain>(std::move(copies));
}

at::Tensor history_counts(const DecodeState& state, std::int64_t start) {
  if (!state.history.defined()) throw std::invalid_argument("this decoding step needs the token history");
  const std::int64_t length = state.history.size(1);
  start = std::clamp<std::int64_t>(start, 0, length);
  const at::Tensor tokens = state.history.narrow(1, start, length - start);  // (B, W)
  // No mask means no padding: every column is a real token.
  const at::Tensor valid = state.history_mask.defined() ? state.history_mask.narrow(1, start, length - start)
                                                        : at::ones_like(tokens, tokens.options().dtype(at::kBool));  // (B, W)
  // Padding ids go to id 0 with weight 0, so they neither count nor index out of range.
  const at::Tensor ids = at::where(valid, tokens, at::zeros({}, tokens.options()));  // (B, W)
  return at::zeros_like(state.logits).scatter_add_(1, ids, valid.to(state.logits.scalar_type()));  // (B, V)
}

}  // namespace lmlab
