/// A model whose next-token logits are known by hand, and the built-in causal_lm objective over it:
/// for the tests of causal_lm and of the regularisers that act on its gradients (grad_clip).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"
#include "support/test_support.hpp"

namespace lmlab::test {

/// Fixed next-token logits for each of 3 tokens: a bigram table.
inline const std::vector<std::vector<double>> bigram = {{1.0, 2.0, 0.0}, {0.0, 0.5, 3.0}, {2.0, 1.0, 1.0}};

/// A bigram model: the logits at a position are the (learnable) row of its token. Remembers its
/// last input, and can answer in another dtype.
class Bigram final : public Architecture {
 public:
  explicit Bigram(at::ScalarType dtype = at::kFloat) : dtype_(dtype) {
    at::Tensor t = at::empty({3, 3});
    for (std::int64_t i = 0; i < 3; ++i) {
      for (std::int64_t j = 0; j < 3; ++j) t[i][j] = bigram[i][j];
    }
    table = register_parameter("table", t);
  }
  ModelOutput forward(const ModelInput& input) override {
    last_input = input.tokens;
    return {at::embedding(table, input.tokens).to(dtype_)};  // (B, T, V)
  }
  std::int64_t context_length() const override { return 64; }
  Capabilities capabilities() const override { return {.generates = true}; }
  Accounting accounting() const override { return {9, 0, 0.0}; }

  at::Tensor table, last_input;

 private:
  at::ScalarType dtype_;
};

/// The built-in causal_lm objective over `vocab` ids, its (no) options resolved as an experiment's.
inline std::shared_ptr<Objective> make_causal_lm(std::int64_t vocab) {
  const toml::table resolved = resolve_plugin<Objective>(builtin_plugins(), "causal_lm", {}, "objective");
  return make_plugin<Objective>(builtin_plugins(), "causal_lm", resolved, ObjectiveContext{vocab, nullptr, {}});
}

}  // namespace lmlab::test
