#include "lmlab/decoding.hpp"

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "lmlab/suggest.hpp"

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
        fmt::format("{}: the last step must select a token (greedy, sample, ...)", describe(steps_)));
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

void DecodingChain::reset() {
  for (const auto& step : steps_) step->reset();
}

std::shared_ptr<DecodingStep> DecodingChain::clone() const {
  std::vector<std::shared_ptr<DecodingStep>> copies;
  copies.reserve(steps_.size());
  for (const auto& step : steps_) copies.push_back(step->clone());
  return std::make_shared<DecodingChain>(std::move(copies));
}

}  // namespace lmlab
