// The invariants every logits warper shares (top_k, top_p, typical, min_p, epsilon, eta), checked
// over all six at once: batch rows are independent, no setting removes every token, a clone keeps
// its options, and out-of-range options are ConfigErrors naming the key. Each warper's
// hand-computed distributions are in its own file, tests/<warper>.tests.cpp.
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace warpers_tests {

using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 6);
}

}  // namespace

TEST_CASE("warpers: batch rows are independent", "[warpers]") {
  // Row 1 is shifted by +10, which changes no probability but would leak through any threshold
  // computed over the whole batch instead of per row.
  const at::Tensor a = log_row({0.05, 0.4, 0.3, 0.15, 0.1});       // (1, 5)
  const at::Tensor b = log_row({0.3, 0.25, 0.2, 0.15, 0.1}) + 10;  // (1, 5)
  const at::Tensor batch = at::cat({a, b});                          // (2, 5)
  const std::vector<std::pair<std::string, toml::table>> steps = {
      {"top_k", toml::table{{"k", 2}}},       {"top_p", toml::table{{"p", 0.6}}},
      {"typical", toml::table{{"mass", 0.5}}}, {"min_p", toml::table{{"p", 0.6}}},
      {"epsilon", toml::table{{"epsilon", 0.12}}}, {"eta", toml::table{{"epsilon", 0.3}}}};
  for (const auto& [name, options] : steps) {
    INFO(name);
    const StepPtr step = make_step(name, options);
    const at::Tensor together = warp(step, batch);  // (2, 5)
    CHECK(at::equal(together[0], warp(step, a)[0]));
    CHECK(at::equal(together[1], warp(step, b)[0]));
    // Neither row is left untouched, nor emptied, by these options.
    const at::Tensor kept = at::isfinite(together).sum(-1);  // (2)
    CHECK((kept >= 1).all().item<bool>());
    CHECK((kept < 5).all().item<bool>());
  }
}

TEST_CASE("warpers: never remove every token, and clones keep their options", "[warpers]") {
  // The most demanding settings on a flat and on a peaked row.
  const at::Tensor logits = at::stack({at::zeros({6}), at::tensor({0.0f, 9.0f, 1.0f, 2.0f, 3.0f, 4.0f})});  // (2, 6)
  const std::vector<std::pair<std::string, toml::table>> steps = {
      {"top_k", toml::table{{"k", 1}}},          {"top_p", toml::table{{"p", 1e-9}}},
      {"typical", toml::table{{"mass", 1e-9}}},  {"min_p", toml::table{{"p", 1.0}}},
      {"epsilon", toml::table{{"epsilon", 0.999}}}, {"eta", toml::table{{"epsilon", 0.999}}}};
  for (const auto& [name, options] : steps) {
    INFO(name);
    const StepPtr step = make_step(name, options);
    CHECK(step->name() == name);
    CHECK_FALSE(step->selects());
    const at::Tensor warped = warp(step, logits);  // (2, 6)
    CHECK((at::isfinite(warped).sum(-1) >= 1).all().item<bool>());
    CHECK(at::isfinite(warped[1][1]).item<bool>());  // the peak survives
    CHECK(at::equal(warp(step->clone(), logits), warped));
  }
}

TEST_CASE("warpers: options out of range are ConfigErrors naming the key", "[warpers]") {
  const std::vector<std::pair<std::string, toml::table>> bad = {
      {"top_k", toml::table{{"k", 0}}},          {"top_k", toml::table{{"k", -3}}},
      {"top_p", toml::table{{"p", 0.0}}},        {"top_p", toml::table{{"p", 1.5}}},
      {"typical", toml::table{{"mass", 0.0}}},   {"typical", toml::table{{"mass", 1.01}}},
      {"min_p", toml::table{{"p", -0.1}}},       {"min_p", toml::table{{"p", 1.1}}},
      {"epsilon", toml::table{{"epsilon", 0.0}}}, {"epsilon", toml::table{{"epsilon", 1.0}}},
      {"eta", toml::table{{"epsilon", 0.0}}},    {"eta", toml::table{{"epsilon", 1.0}}}};
  for (const auto& [name, options] : bad) {
    const std::string key = "decoding." + name + "." + std::string(options.begin()->first.str());
    INFO(key);
    CHECK_THROWS_MATCHES(make_step(name, options), lmlab::ConfigError,
                         MessageContains(key) && MessageContains("out of range"));
  }
  // The boundaries that are allowed.
  CHECK_NOTHROW(make_step("top_k", toml::table{{"k", 1}}));
  CHECK_NOTHROW(make_step("top_p", toml::table{{"p", 1.0}}));
  CHECK_NOTHROW(make_step("typical", toml::table{{"mass", 1.0}}));
  CHECK_NOTHROW(make_step("min_p", toml::table{{"p", 0.0}}));
  CHECK_NOTHROW(make_step("min_p", toml::table{{"p", 1.0}}));
}

}  // namespace warpers_tests
