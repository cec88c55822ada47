/// A test double for objectives: an architecture with chosen capabilities whose logits are a
/// learned (V, V) bigram table read at each input token, and which records its last input.
#pragma once
#include <cstdint>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"

namespace lmlab::test {

class RecordingModel final : public Architecture {
 public:
  /// `dtype` kDouble lets gradient tests use central differences good to ~1e-9, where float32
  /// leaves ~1e-4 of rounding noise that differs between LibTorch versions.
  RecordingModel(std::int64_t vocab, Capabilities caps, at::ScalarType dtype = at::kFloat) : caps_(caps) {
    table = register_parameter("table", at::zeros({vocab, vocab}, dtype));
  }
  ModelOutput forward(const ModelInput& input) override {
    last = input;
    return {at::embedding(table, input.tokens)};  // (B, T, V)
  }
  std::int64_t context_length() const override { return 1 << 20; }
  Capabilities capabilities() const override { return caps_; }
  Accounting accounting() const override { return {table.numel(), table.numel(), 0.0}; }

  at::Tensor table;
  ModelInput last;

 private:
  Capabilities caps_;
};

}  // namespace lmlab::test
