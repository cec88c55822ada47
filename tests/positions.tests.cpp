// Position schemes: position ids under padding and caching, the 2017 sinusoids, rotary
// embeddings (norm-preserving, relative) and ALiBi's slopes and biases.
#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/nn/positions.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace positions_tests {

using lmlab::nn::position_ids;

namespace {

at::Tensor longs(const std::vector<std::int64_t>& values, std::int64_t rows) {
  return at::tensor(values, at::kLong).view({rows, -1});
}

at::Tensor bools(const std::vector<std::int64_t>& values, std::int64_t rows) { return longs(values, rows).to(at::kBool); }

// The ALiBi paper's reference implementation (Press et al., github.com/ofirpress/attention_with_linear_biases),
// transcribed from Python:
//   get_slopes_power_of_2(n): start = 2 ** (-2 ** -(log2(n) - 3)); [start * start ** i for i in range(n)]
//   get_slopes(n): power of two: get_slopes_power_of_2(n); else, with c the closest power of two
//   below n: get_slopes_power_of_2(c) + get_slopes(2 * c)[0::2][:n - c]
std::vector<double> paper_slopes(std::int64_t n) {
  const auto power_of_2 = [](std::int64_t m) {
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(m)) - 3.0)));
    std::vector<double> out;
    for (std::int64_t i = 0; i < m; ++i) out.push_back(start * std::pow(start, static_cast<double>(i)));
    return out;
  };
  const double exponent = std::log2(static_cast<double>(n));
  if (exponent == std::floor(exponent)) return power_of_2(n);
  const auto closest = static_cast<std::int64_t>(std::pow(2.0, std::floor(exponent)));
  std::vector<double> out = power_of_2(closest);
  const std::vector<double> finer = paper_slopes(2 * closest);
  for (std::size_t i = 0; i < finer.size() && static_cast<std::int64_t>(out.size()) < n; i += 2) out.push_back(finer[i]);
  return out;
}

at::Tensor powers_of_two(const std::vector<double>& exponents) {
  std::vector<double> out;
  for (double e : exponents) out.push_back(std::pow(2.0, e));
  return at::tensor(out, at::kDouble).to(at::kFloat);
}

double dot_of(const at::Tensor& a, const at::Tensor& b) { return (a.to(at::kDouble) * b.to(at::kDouble)).sum().item<double>(); }

}  // namespace

TEST_CASE("positions: ids count from 0 without padding", "[positions]") {
  const at::Tensor ids = position_ids({}, {}, 2, 4, at::kCPU);
  CHECK(ids.scalar_type() == at::kLong);
  CHECK(at::equal(ids, longs({0, 1, 2, 3, 0, 1, 2, 3}, 2)));
}

TEST_CASE("positions: left padding numbers the real tokens from 0 and clamps pads to 0", "[positions]") {
  const at::Tensor valid = bools({0, 0, 1, 1, 1,  //
                                  1, 1, 1, 1, 1,  //
                                  0, 1, 1, 1, 1},
                                 3);
  CHECK(at::equal(position_ids(valid, {}, 3, 5, at::kCPU), longs({0, 0, 0, 1, 2,  //
                                                                  0, 1, 2, 3, 4,  //
                                                                  0, 0, 1, 2, 3},
                                                                 3)));
  // Right padding: pads take the last real position, which keeps them in range.
  CHECK(at::equal(position_ids(bools({1, 1, 0, 0}, 1), {}, 1, 4, at::kCPU), longs({0, 1, 1, 1}, 1)));
}

TEST_CASE("positions: a start offset continues each row where its cache ends", "[positions]") {
  const at::Tensor start = at::tensor({3, 5}, at::kLong);
  CHECK(at::equal(position_ids({}, start, 2, 2, at::kCPU), longs({3, 4, 5, 6}, 2)));
  // With padding in this pass too: the real token of row 0 is its first, at position 2.
  CHECK(at::equal(position_ids(bools({0, 1, 1, 1}, 2), at::tensor({2, 4}, at::kLong), 2, 2, at::kCPU),
                  longs({2, 2, 4, 5}, 2)));
}

TEST_CASE("positions: sinusoids are sin at even channels and cos at odd ones", "[positions]") {
  const std::int64_t dim = 6;
  const std::vector<std::int64_t> points = {0, 1, 5, 40};
  const at::Tensor table = lmlab::nn::sinusoidal_embeddings(at::tensor(points, at::kLong).view({1, -1}), dim);
  REQUIRE(table.sizes() == at::IntArrayRef({1, 4, dim}));
  CHECK(table.scalar_type() == at::kFloat);
  // Position 0: sin 0 = 0, cos 0 = 1.
  CHECK(at::allclose(table[0][0], at::tensor({0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f})));
  // Position 1 by hand: angles 1, 10000^(-1/3) = 0.0464159, 10000^(-2/3) = 0.00215443.
  CHECK(at::allclose(table[0][1], at::tensor({0.841471f, 0.540302f, 0.0463992f, 0.998923f, 0.00215443f, 0.999998f}),
                     1e-5, 1e-6));
  // Vaswani et al. (2017): PE(pos, 2i) = sin(pos / 10000^(2i / d)), PE(pos, 2i + 1) = cos(...).
  for (std::size_t p = 0; p < points.size(); ++p) {
    for (std::int64_t i = 0; i < dim / 2; ++i) {
      const double angle = static_cast<double>(points[p]) / std::pow(10000.0, 2.0 * static_cast<double>(i) / dim);
      const auto at_p = static_cast<std::int64_t>(p);
      CHECK(table[0][at_p][2 * i].item<double>() == Approx(std::sin(angle)).margin(1e-5));
      CHECK(table[0][at_p][2 * i + 1].item<double>() == Approx(std::cos(angle)).margin(1e-5));
    }
  }
}

TEST_CASE("positions: rotary rotates channel pairs (i, i + D/2) by position * frequency", "[positions]") {
  // D = 4, base 100: frequencies 1 and 100^(-2/4) = 0.1; position 2: angles 2 and 0.2.
  const auto tables = lmlab::nn::rotary_tables(at::full({1, 1}, 2, at::kLong), 4, 100.0);
  CHECK(tables.cos.sizes() == at::IntArrayRef({1, 1, 1, 2}));
  const at::Tensor e0 = at::tensor({1.0f, 0.0f, 0.0f, 0.0f}).view({1, 1, 1, 4});
  const at::Tensor e1 = at::tensor({0.0f, 1.0f, 0.0f, 0.0f}).view({1, 1, 1, 4});
  // Channel 0 pairs with channel 2: (cos 2, sin 2) = (-0.416147, 0.909297).
  CHECK(at::allclose(lmlab::nn::apply_rotary(e0, tables).flatten(), at::tensor({-0.416147f, 0.0f, 0.909297f, 0.0f}),
                     1e-5, 1e-6));
  // Channel 1 pairs with channel 3: (cos 0.2, sin 0.2) = (0.980067, 0.198669).
  CHECK(at::allclose(lmlab::nn::apply_rotary(e1, tables).flatten(), at::tensor({0.0f, 0.980067f, 0.0f, 0.198669f}),
                     1e-5, 1e-6));
  // Position 0 is the identity.
  at::manual_seed(0);
  const at::Tensor x = at::randn({1, 2, 1, 4});
  CHECK(at::allclose(lmlab::nn::apply_rotary(x, lmlab::nn::rotary_tables(at::zeros({1, 1}, at::kLong), 4, 100.0)), x));
}

TEST_CASE("positions: rotary preserves norms and makes q.k depend on m - n only", "[positions]") {
  at::manual_seed(1);
  const std::int64_t D = 8;
  const at::Tensor q = at::randn({D}), k = at::randn({D});
  // The same q and the same k at positions 3, 1, 10, 8 (differences 3 - 1 = 10 - 8 = 2).
  const at::Tensor positions = at::tensor({3, 1, 10, 8}, at::kLong).view({1, 4});
  const auto tables = lmlab::nn::rotary_tables(positions, D, 10000.0);
  const at::Tensor rq = lmlab::nn::apply_rotary(q.view({1, 1, 1, D}).expand({1, 1, 4, D}), tables)[0][0];
  const at::Tensor rk = lmlab::nn::apply_rotary(k.view({1, 1, 1, D}).expand({1, 1, 4, D}), tables)[0][0];
  for (std::int64_t t = 0; t < 4; ++t) {
    CHECK(rq[t].norm().item<double>() == Approx(q.norm().item<double>()).epsilon(1e-5));
    CHECK(rk[t].norm().item<double>() == Approx(k.norm().item<double>()).epsilon(1e-5));
  }
  const double at_3_1 = dot_of(rq[0], rk[1]), at_10_8 = dot_of(rq[2], rk[3]);
  CHECK(at_3_1 == Approx(at_10_8).margin(1e-5));
  // A different offset (3 - 3 = 0) gives a different product: the rotation is not trivial.
  CHECK(std::abs(at_3_1 - dot_of(rq[0], rk[0])) > 1e-3);
  // Rotating by m - n alone: <rot(q, 2), k> = <rot(q, 3), rot(k, 1)>.
  const at::Tensor rq2 =
      lmlab::nn::apply_rotary(q.view({1, 1, 1, D}), lmlab::nn::rotary_tables(at::full({1, 1}, 2, at::kLong), D, 10000.0));
  CHECK(dot_of(rq2.flatten(), k) == Approx(at_3_1).margin(1e-5));
}

TEST_CASE("positions: alibi slopes for powers of two are 2^(-8/H) to the 1..H", "[positions]") {
  CHECK(at::allclose(lmlab::nn::alibi_slopes(8), powers_of_two({-1, -2, -3, -4, -5, -6, -7, -8})));
  CHECK(at::allclose(lmlab::nn::alibi_slopes(4), powers_of_two({-2, -4, -6, -8})));
  CHECK(at::allclose(lmlab::nn::alibi_slopes(1), powers_of_two({-8})));
  CHECK(lmlab::nn::alibi_slopes(8).scalar_type() == at::kFloat);
}

TEST_CASE("positions: alibi slopes for other head counts follow the paper's interleaving", "[positions]") {
  // 6 heads: the 4-head sequence, then every other slope of the 8-head one from its first
  // (get_slopes(8)[0::2] = 2^-1, 2^-3, 2^-5, 2^-7), as many as needed (2).
  CHECK(at::allclose(lmlab::nn::alibi_slopes(6), powers_of_two({-2, -4, -6, -8, -1, -3})));
  // 12 heads: the 8-head sequence, then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5 from the 16-head one.
  CHECK(at::allclose(lmlab::nn::alibi_slopes(12), powers_of_two({-1, -2, -3, -4, -5, -6, -7, -8, -0.5, -1.5, -2.5, -3.5})));
  for (std::int64_t n = 1; n <= 24; ++n) {
    INFO("n_heads = " << n);
    const std::vector<double> expected = paper_slopes(n);
    REQUIRE(static_cast<std::int64_t>(expected.size()) == n);
    CHECK(at::allclose(lmlab::nn::alibi_slopes(n), at::tensor(expected, at::kDouble).to(at::kFloat), 1e-6, 1e-7));
  }
}

TEST_CASE("positions: alibi bias is -slope * |i - j|", "[positions]") {
  const at::Tensor slopes = at::tensor({0.5f, 0.25f});
  // Queries at positions 2 and 3 over keys 0..3 (a cached continuation).
  const at::Tensor bias =
      lmlab::nn::alibi_bias(slopes, at::tensor({2, 3}, at::kLong).view({1, 2}), at::arange(4, at::kLong).view({1, 4}));
  REQUIRE(bias.sizes() == at::IntArrayRef({1, 2, 2, 4}));
  const at::Tensor head0 = at::tensor({-1.0f, -0.5f, 0.0f, -0.5f,  //
                                       -1.5f, -1.0f, -0.5f, 0.0f})
                               .view({2, 4});
  CHECK(at::allclose(bias[0][0], head0));
  CHECK(at::allclose(bias[0][1], head0 * 0.5));
  // Per-row positions: a left-padded row's ids, not its column indices, set the distance.
  const at::Tensor row = at::tensor({0, 0, 1}, at::kLong).view({1, 3});
  const at::Tensor padded = lmlab::nn::alibi_bias(at::tensor({1.0f}), row, row);
  CHECK(at::allclose(padded[0][0], at::tensor({0.0f, 0.0f, -1.0f, 0.0f, 0.0f, -1.0f, -1.0f, -1.0f, 0.0f}).view({3, 3})));
}

}  // namespace positions_tests
