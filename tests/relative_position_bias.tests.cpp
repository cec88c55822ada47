// T5's relative position buckets and the bias table built on them.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/nn/relative_position_bias.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/test_support.hpp"

namespace relative_position_bias_tests {

using lmlab::nn::relative_position_buckets;

namespace {

std::vector<std::int64_t> buckets(const std::vector<std::int64_t>& relative, bool bidirectional) {
  const at::Tensor b = relative_position_buckets(at::tensor(relative, at::kLong), bidirectional, 32, 128);
  return std::vector<std::int64_t>(b.data_ptr<std::int64_t>(), b.data_ptr<std::int64_t>() + b.numel());
}

}  // namespace

TEST_CASE("relative_position_bias: causal buckets, by hand", "[relative_position_bias]") {
  // 32 buckets: distances 0..15 exact; 16 + floor(log(d / 16) / log(128 / 16) * 16) beyond, at
  // most 31. Keys after the query (relative > 0) all fall in bucket 0.
  CHECK(buckets({0, -1, -15, -16, -31, -32, -127, -1000, 5}, false) ==
        std::vector<std::int64_t>{0, 1, 15, 16, 21, 21, 31, 31, 0});
  // d = 31: 16 + floor(log(31/16) / log(8) * 16) = 16 + floor(5.09) = 21; d = 32: 16 + floor(5.33).
}

TEST_CASE("relative_position_bias: bidirectional buckets, by hand", "[relative_position_bias]") {
  // 16 buckets a direction, keys after the query from 16 up; 0..7 exact, then
  // 8 + floor(log(d / 8) / log(16) * 8), at most 15.
  CHECK(buckets({0, -1, 1, -7, 7, -8, 8, -200, 200}, true) ==
        std::vector<std::int64_t>{0, 1, 17, 7, 23, 8, 24, 15, 31});
}

TEST_CASE("relative_position_bias: the maximum distance must leave room for logarithmic buckets",
          "[relative_position_bias]") {
  // A causal stack's 32 buckets: 16 exact; a maximum of 17 puts distance 16 in bucket 16 and
  // everything from 17 on in the last, never a negative or colliding one.
  const at::Tensor b = relative_position_buckets(at::tensor({-15, -16, -17, -1000}, at::kLong), false, 32, 17);
  CHECK(at::equal(b, at::tensor({15, 16, 31, 31}, at::kLong)));
  CHECK_THROWS_WITH(relative_position_buckets(at::tensor({-20}, at::kLong), false, 32, 16),
                    Catch::Matchers::Contains("max_distance 16 must exceed the 16 exact distances"));
  toml::table options = lmlab::test::tiny_options();
  options.insert_or_assign("positions", "relative");
  options.insert_or_assign("relative_max_distance", 16);
  CHECK_THROWS_WITH(lmlab::test::resolve_model("causal_decoder", options),
                    Catch::Matchers::Contains("relative_max_distance must exceed half of relative_buckets"));
}

TEST_CASE("relative_position_bias: the bias is the table's entry for each pair's bucket", "[relative_position_bias]") {
  lmlab::nn::RelativePositionBias bias(2, 32, 128, /*bidirectional=*/false);
  const at::Tensor q = at::arange(4, at::kLong).unsqueeze(0);  // (1, 4)
  const at::Tensor b = bias(q, q);                              // (1, 2, 4, 4)
  CHECK(b.sizes() == at::IntArrayRef{1, 2, 4, 4});
  const at::Tensor table = bias->table->weight;  // (32, 2)
  for (std::int64_t i = 0; i < 4; ++i) {
    for (std::int64_t j = 0; j < 4; ++j) {
      const std::int64_t bucket = j <= i ? i - j : 0;
      CHECK(at::equal(b[0].select(1, i).select(1, j), table[bucket]));
    }
  }
}

TEST_CASE("relative_position_bias: one table per stack, shared by its layers", "[relative_position_bias]") {
  toml::table options = lmlab::test::tiny_options();
  options.insert_or_assign("positions", "relative");
  options.insert_or_assign("relative_buckets", 8);
  const auto causal = lmlab::test::make_model("causal_decoder", options);
  CHECK(causal->named_parameters().contains("relative_bias.table.weight"));
  CHECK(causal->named_parameters()["relative_bias.table.weight"].sizes() == at::IntArrayRef{8, 4});
  const auto pair = lmlab::test::make_model("encoder_decoder", options);
  CHECK(pair->named_parameters().contains("encoder_relative_bias.table.weight"));
  CHECK(pair->named_parameters().contains("decoder_relative_bias.table.weight"));
  // Learned: a gradient reaches the table through the scores.
  const at::Tensor tokens = at::randint(40, {2, 6}, at::kLong);
  causal->forward({tokens}).logits.sum().backward();
  CHECK(causal->named_parameters()["relative_bias.table.weight"].grad().abs().sum().item<double>() > 0);
}

}  // namespace relative_position_bias_tests
