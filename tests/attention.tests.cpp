// Attention: who sees whom under each mask kind, padding and a cached past; when the mask-free
// fast path is taken; the plain backend against softmax(q k^T / sqrt(D) + mask) v written out;
// grouped-query heads; the key/value cache and cross-attention's cached encoder keys.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/kv_cache.hpp"
#include "lmlab/nn/attention.hpp"
#include "lmlab/nn/positions.hpp"
#include "training/runtime.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace attention_tests {

using Catch::Contains;
using lmlab::nn::AttentionBackend;
using lmlab::nn::AttentionInputs;
using lmlab::nn::MaskKind;
using lmlab::nn::MultiHeadAttention;
using lmlab::nn::SelfAttentionLayout;

namespace {

at::Tensor bools(const std::vector<std::int64_t>& values, std::vector<std::int64_t> shape) {
  return at::tensor(values, at::kLong).view(shape).to(at::kBool);
}

SelfAttentionLayout layout_of(MaskKind kind, const at::Tensor& padding = {}, const at::Tensor& prefix = {},
                              std::int64_t batch = 1, std::int64_t length = 4) {
  return lmlab::nn::lay_out_pass(kind, padding, prefix, batch, length, at::kCPU, nullptr);
}

// softmax(q k^T / sqrt(D) + mask) v one score at a time, in double; query head h reads key/value
// head h / (H / H_kv). `mask` is bool (B|1, 1, T, S), float (B, H, T, S), or undefined; `causal`
// hides keys after the query.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                               bool causal) {
  const std::int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), H_kv = k.size(1), S = k.size(2);
  const at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble), vd = v.to(at::kDouble);
  const auto qa = qd.accessor<double, 4>(), ka = kd.accessor<double, 4>(), va = vd.accessor<double, 4>();
  at::Tensor out = at::zeros({B, H, T, D}, at::kDouble);
  auto oa = out.accessor<double, 4>();
  const double minus_inf = -std::numeric_limits<double>::infinity();
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t g = h / (H / H_kv);
      for (std::int64_t t = 0; t < T; ++t) {
        std::vector<double> scores(static_cast<std::size_t>(S));
        double top = minus_inf;
        for (std::int64_t s = 0; s < S; ++s) {
          double score = 0;
          for (std::int64_t d = 0; d < D; ++d) score += qa[b][h][t][d] * ka[b][g][s][d];
          score /= std::sqrt(static_cast<double>(D));
          if (causal && s > t) score = minus_inf;
          if (mask.defined()) {
            const at::Tensor m = mask[mask.size(0) == 1 ? 0 : b][mask.size(1) == 1 ? 0 : h][t][s];
            if (mask.scalar_type() == at::kBool) {
              if (!m.item<bool>()) score = minus_inf;
            } else {
              score += m.item<double>();
            }
          }
          scores[static_cast<std::size_t>(s)] = score;
          top = std::max(top, score);
        }
        double total = 0;
        for (double& score : scores) total += (score = std::exp(score - top));
        for (std::int64_t s = 0; s < S; ++s) {
          for (std::int64_t d = 0; d < D; ++d) oa[b][h][t][d] += scores[static_cast<std::size_t>(s)] / total * va[b][g][s][d];
        }
      }
    }
  }
  return out.to(at::kFloat);
}

// Every (b, t) row of a visibility mask has a visible key: no softmax over nothing.
bool no_empty_rows(const at::Tensor& allowed) { return allowed.any(-1).all().item<bool>(); }

at::Tensor plain(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionInputs& in) {
  return lmlab::nn::attend(q, k, v, in, 0.0, AttentionBackend::plain);
}

}  // namespace

TEST_CASE("attention: causal visibility is k <= q", "[attention]") {
  const at::Tensor allowed = lmlab::nn::visibility(layout_of(MaskKind::causal), 4, 4, at::kCPU);
  CHECK(allowed.scalar_type() == at::kBool);
  CHECK(at::equal(allowed, bools({1, 0, 0, 0,  //
                                  1, 1, 0, 0,  //
                                  1, 1, 1, 0,  //
                                  1, 1, 1, 1},
                                 {1, 1, 4, 4})));
}

TEST_CASE("attention: the prefix is bidirectional, per example; causal after it", "[attention]") {
  const at::Tensor prefix = at::tensor({2, 3}, at::kLong);
  const at::Tensor allowed = lmlab::nn::visibility(layout_of(MaskKind::prefix, {}, prefix, 2), 4, 4, at::kCPU);
  CHECK(at::equal(allowed, bools({1, 1, 0, 0,  // prefix 2
                                  1, 1, 0, 0,  //
                                  1, 1, 1, 0,  //
                                  1, 1, 1, 1,  //
                                  1, 1, 1, 0,  // prefix 3
                                  1, 1, 1, 0,  //
                                  1, 1, 1, 0,  //
                                  1, 1, 1, 1},
                                 {2, 1, 4, 4})));
  // Without prefix lengths the prefix is empty: causal.
  CHECK(at::equal(lmlab::nn::visibility(layout_of(MaskKind::prefix), 4, 4, at::kCPU),
                  lmlab::nn::visibility(layout_of(MaskKind::causal), 4, 4, at::kCPU)));
}

TEST_CASE("attention: bidirectional sees every key", "[attention]") {
  CHECK(lmlab::nn::visibility(layout_of(MaskKind::bidirectional), 4, 4, at::kCPU).all().item<bool>());
}

TEST_CASE("attention: padding keys are hidden and padding queries see every key", "[attention]") {
  const at::Tensor valid = bools({0, 1, 1, 1,  //
                                  1, 1, 1, 0},
                                 {2, 4});
  SECTION("causal") {
    const at::Tensor allowed = lmlab::nn::visibility(layout_of(MaskKind::causal, valid, {}, 2), 4, 4, at::kCPU);
    CHECK(at::equal(allowed, bools({1, 1, 1, 1,  // a pad: every key, so its row is not empty
                                    0, 1, 0, 0,  //
                                    0, 1, 1, 0,  //
                                    0, 1, 1, 1,  //
                                    1, 0, 0, 0,  //
                                    1, 1, 0, 0,  //
                                    1, 1, 1, 0,  //
                                    1, 1, 1, 1},  // a pad
                                   {2, 1, 4, 4})));
    CHECK(no_empty_rows(allowed));
  }
  SECTION("bidirectional") {
    const at::Tensor allowed = lmlab::nn::visibility(layout_of(MaskKind::bidirectional, valid, {}, 2), 4, 4, at::kCPU);
    CHECK(at::equal(allowed, bools({1, 1, 1, 1,  //
                                    0, 1, 1, 1,  //
                                    0, 1, 1, 1,  //
                                    0, 1, 1, 1,  //
                                    1, 1, 1, 0,  //
                                    1, 1, 1, 0,  //
                                    1, 1, 1, 0,  //
                                    1, 1, 1, 1},
                                   {2, 1, 4, 4})));
  }
  SECTION("prefix") {
    const at::Tensor allowed = lmlab::nn::visibility(
        layout_of(MaskKind::prefix, valid, at::tensor({2, 2}, at::kLong), 2), 4, 4, at::kCPU);
    CHECK(at::equal(allowed, bools({1, 1, 1, 1,  //
                                    0, 1, 0, 0,  // the prefix's pad stays hidden
                                    0, 1, 1, 0,  //
                                    0, 1, 1, 1,  //
                                    1, 1, 0, 0,  //
                                    1, 1, 0, 0,  //
                                    1, 1, 1, 0,  //
                                    1, 1, 1, 1},
                                   {2, 1, 4, 4})));
  }
}

TEST_CASE("attention: after a cached past, queries are positions past..past+T-1", "[attention]") {
  SelfAttentionLayout layout;
  layout.kind = MaskKind::causal;
  layout.past = 2;
  CHECK(at::equal(lmlab::nn::visibility(layout, 2, 4, at::kCPU), bools({1, 1, 1, 0,  //
                                                                        1, 1, 1, 1},
                                                                       {1, 1, 2, 4})));
  // A cached pad at key 0 stays hidden.
  layout.key_valid = bools({0, 1, 1, 1}, {1, 4});
  CHECK(at::equal(lmlab::nn::visibility(layout, 2, 4, at::kCPU), bools({0, 1, 1, 0,  //
                                                                        0, 1, 1, 1},
                                                                       {1, 1, 2, 4})));
  // Prefix 3: query 2 is in it, so it sees key 2 but not key 3.
  layout.kind = MaskKind::prefix;
  layout.key_valid = at::Tensor();
  layout.prefix_lengths = at::tensor({3}, at::kLong);
  CHECK(at::equal(lmlab::nn::visibility(layout, 2, 4, at::kCPU), bools({1, 1, 1, 0,  //
                                                                        1, 1, 1, 1},
                                                                       {1, 1, 2, 4})));
}

TEST_CASE("attention: lay_out_pass numbers positions and extends the cache's keys", "[attention]") {
  lmlab::KvCache cache;
  const SelfAttentionLayout first =
      lmlab::nn::lay_out_pass(MaskKind::causal, bools({0, 1, 1}, {1, 3}), {}, 1, 3, at::kCPU, &cache);
  CHECK(first.past == 0);
  CHECK(at::equal(first.query_positions, at::tensor({0, 0, 1}, at::kLong).view({1, 3})));
  CHECK(at::equal(cache.key_mask, bools({0, 1, 1}, {1, 3})));
  CHECK(at::equal(cache.key_positions, at::tensor({0, 0, 1}, at::kLong).view({1, 3})));
  CHECK(cache.length() == 3);

  const SelfAttentionLayout second = lmlab::nn::lay_out_pass(MaskKind::causal, {}, {}, 1, 1, at::kCPU, &cache);
  CHECK(second.past == 3);
  CHECK(at::equal(second.query_positions, at::tensor({2}, at::kLong).view({1, 1})));
  CHECK(at::equal(second.key_valid, bools({0, 1, 1, 1}, {1, 4})));
  CHECK(at::equal(second.key_positions, at::tensor({0, 0, 1, 2}, at::kLong).view({1, 4})));
  CHECK(cache.length() == 4);
}

TEST_CASE("attention: the mask-free is_causal path only without padding, alibi, prefix or past", "[attention]") {
  const auto inputs = [](const SelfAttentionLayout& layout, const std::string& positions) {
    return lmlab::nn::self_attention_inputs(layout, positions, 2, 4, 10000.0);
  };
  SECTION("the fast path") {
    for (const std::string& positions : std::vector<std::string>{"learned", "sinusoidal", "rope", "none"}) {
      INFO(positions);
      const AttentionInputs causal = inputs(layout_of(MaskKind::causal), positions);
      CHECK(causal.is_causal);
      CHECK_FALSE(causal.mask.defined());
      CHECK(causal.rotary.has_value() == (positions == "rope"));
      // A prefix decoder without prefix lengths is causal.
      CHECK(inputs(layout_of(MaskKind::prefix), positions).is_causal);
      const AttentionInputs bidirectional = inputs(layout_of(MaskKind::bidirectional), positions);
      CHECK_FALSE(bidirectional.is_causal);
      CHECK_FALSE(bidirectional.mask.defined());
    }
  }
  SECTION("padding") {
    const AttentionInputs in = inputs(layout_of(MaskKind::causal, bools({0, 1, 1, 1}, {1, 4})), "learned");
    CHECK_FALSE(in.is_causal);
    REQUIRE(in.mask.defined());
    CHECK(in.mask.scalar_type() == at::kBool);
    // A padding mask takes the masked path even when nothing in it is padding.
    CHECK_FALSE(inputs(layout_of(MaskKind::causal, at::ones({1, 4}, at::kBool)), "learned").is_causal);
  }
  SECTION("a prefix") {
    const AttentionInputs in = inputs(layout_of(MaskKind::prefix, {}, at::tensor({2}, at::kLong)), "learned");
    CHECK_FALSE(in.is_causal);
    REQUIRE(in.mask.defined());
    CHECK(at::equal(in.mask, lmlab::nn::visibility(layout_of(MaskKind::prefix, {}, at::tensor({2}, at::kLong)), 4, 4, at::kCPU)));
  }
  SECTION("a cached past") {
    // Two new tokens after three cached: the first must not see the second, so a mask.
    SelfAttentionLayout layout = layout_of(MaskKind::causal, {}, {}, 1, 2);
    layout.past = 3;
    layout.key_positions = at::arange(5, at::kLong).view({1, 5});
    const AttentionInputs in = inputs(layout, "learned");
    CHECK_FALSE(in.is_causal);
    REQUIRE(in.mask.defined());
    CHECK(in.mask.sizes() == at::IntArrayRef({1, 1, 2, 5}));
  }
  SECTION("one new token after a cached past sees every real key: a mask only where a key is padding") {
    for (const MaskKind kind : {MaskKind::causal, MaskKind::prefix, MaskKind::bidirectional}) {
      SelfAttentionLayout layout = layout_of(kind, {}, {}, 2, 1);
      layout.past = 3;
      layout.key_positions = at::arange(4, at::kLong).repeat({2, 1});  // (2, 4)
      layout.key_valid = at::ones({2, 4}, at::kBool);                   // (2, 4): the cache's mask
      const AttentionInputs all_real = inputs(layout, "rope");
      CHECK_FALSE(all_real.is_causal);
      CHECK_FALSE(all_real.mask.defined());
      CHECK(all_real.rotary.has_value());
      layout.key_valid = bools({1, 1, 1, 1, 0, 1, 1, 1}, {2, 4});  // the second row's first key is padding
      const AttentionInputs padded = inputs(layout, "learned");
      REQUIRE(padded.mask.defined());
      CHECK(at::equal(padded.mask, lmlab::nn::visibility(layout, 1, 4, at::kCPU)));
      // ALiBi's distances make a mask of their own, padding or not.
      layout.key_valid = at::ones({2, 4}, at::kBool);
      CHECK(inputs(layout, "alibi").mask.defined());
    }
  }
  SECTION("alibi: a float mask of -slope * |i - j| and -inf where hidden") {
    const AttentionInputs in = inputs(layout_of(MaskKind::causal), "alibi");
    CHECK_FALSE(in.is_causal);
    REQUIRE(in.mask.defined());
    CHECK(in.mask.scalar_type() == at::kFloat);
    REQUIRE(in.mask.sizes() == at::IntArrayRef({1, 2, 4, 4}));
    const double slopes[2] = {std::pow(2.0, -4.0), std::pow(2.0, -8.0)};  // 2 heads: 2^(-8/2) to the 1, 2
    for (std::int64_t h = 0; h < 2; ++h) {
      for (std::int64_t i = 0; i < 4; ++i) {
        for (std::int64_t j = 0; j < 4; ++j) {
          const double value = in.mask[0][h][i][j].item<double>();
          if (j > i) {
            CHECK(std::isinf(value));
            CHECK(value < 0);
          } else {
            CHECK(value == Approx(-slopes[h] * static_cast<double>(i - j)).margin(1e-7));
          }
        }
      }
    }
  }
}

TEST_CASE("attention: cross-attention hides padded encoder keys", "[attention]") {
  CHECK_FALSE(lmlab::nn::cross_attention_inputs({}, {}).mask.defined());
  const at::Tensor memory_valid = bools({1, 1, 0}, {1, 3});
  const AttentionInputs keys_only = lmlab::nn::cross_attention_inputs({}, memory_valid);
  CHECK_FALSE(keys_only.is_causal);
  CHECK(at::equal(keys_only.mask, bools({1, 1, 0}, {1, 1, 1, 3})));
  // A padding decoder query sees every key.
  const AttentionInputs both = lmlab::nn::cross_attention_inputs(bools({1, 0}, {1, 2}), memory_valid);
  CHECK(at::equal(both.mask, bools({1, 1, 0,  //
                                    1, 1, 1},
                                   {1, 1, 2, 3})));
}

TEST_CASE("attention: the plain backend is softmax(q k^T / sqrt(D) + mask) v", "[attention]") {
  at::manual_seed(0);
  const at::Tensor q = at::randn({2, 2, 3, 4}), k = at::randn({2, 2, 5, 4}), v = at::randn({2, 2, 5, 4});
  SECTION("no mask") {
    CHECK(at::allclose(plain(q, k, v, {}), reference_attention(q, k, v, {}, false), 1e-5, 1e-6));
  }
  SECTION("a bool mask, per example") {
    AttentionInputs in;
    in.mask = bools({1, 0, 1, 0, 0,  //
                     0, 1, 1, 1, 0,  //
                     1, 1, 1, 1, 1,  //
                     0, 0, 0, 0, 1,  //
                     1, 0, 0, 1, 0,  //
                     0, 1, 0, 0, 0},
                    {2, 1, 3, 5});
    CHECK(at::allclose(plain(q, k, v, in), reference_attention(q, k, v, in.mask, false), 1e-5, 1e-6));
    // A key the mask hides has no effect on the output.
    const at::Tensor changed = v.clone();
    changed[0][0][1].fill_(100.0);  // key 1 of example 0: hidden from query 0, seen by query 1
    const at::Tensor a = plain(q, k, v, in), b = plain(q, k, changed, in);
    CHECK(at::allclose(a[0][0][0], b[0][0][0]));
    CHECK_FALSE(at::allclose(a[0][0][1], b[0][0][1]));
  }
  SECTION("a float mask is added to the scores") {
    AttentionInputs in;
    in.mask = at::randn({2, 2, 3, 5});
    CHECK(at::allclose(plain(q, k, v, in), reference_attention(q, k, v, in.mask, false), 1e-5, 1e-6));
  }
  SECTION("is_causal") {
    const at::Tensor kk = at::randn({2, 2, 3, 4}), vv = at::randn({2, 2, 3, 4});
    AttentionInputs in;
    in.is_causal = true;
    CHECK(at::allclose(plain(q, kk, vv, in), reference_attention(q, kk, vv, {}, true), 1e-5, 1e-6));
  }
}

TEST_CASE("attention: the plain backend keeps float32 under bf16 autocast", "[attention]") {
  at::manual_seed(1);
  const at::Tensor q = at::randn({1, 2, 6, 8}), k = at::randn({1, 2, 6, 8}), v = at::randn({1, 2, 6, 8});
  AttentionInputs in;
  in.is_causal = true;
  const at::Tensor expected = reference_attention(q, k, v, {}, true);
  lmlab::AutocastScope autocast(at::kCPU, true);
  // In bf16 (8 bits of mantissa) the scores alone would be off by about 1e-2.
  CHECK(at::allclose(plain(q, k, v, in), expected, 1e-5, 1e-6));
}

TEST_CASE("attention: grouped-query heads share key/value heads in consecutive groups", "[attention]") {
  at::manual_seed(1);
  const at::Tensor q = at::randn({1, 4, 3, 4}), k = at::randn({1, 2, 3, 4}), v = at::randn({1, 2, 3, 4});
  AttentionInputs in;
  in.is_causal = true;
  const at::Tensor out = plain(q, k, v, in);
  CHECK(at::allclose(out, reference_attention(q, k, v, {}, true), 1e-5, 1e-6));
  // Query heads 0, 1 read key/value head 0; heads 2, 3 read head 1.
  for (std::int64_t h = 0; h < 4; ++h) {
    const at::Tensor alone = plain(q.narrow(1, h, 1), k.narrow(1, h / 2, 1), v.narrow(1, h / 2, 1), in);
    CHECK(at::allclose(out.narrow(1, h, 1), alone, 1e-6, 1e-6));
  }
  // Multi-query: one key/value head for all.
  const at::Tensor one = plain(q, k.narrow(1, 0, 1), v.narrow(1, 0, 1), in);
  CHECK(at::allclose(one, plain(q, k.narrow(1, 0, 1).expand({1, 4, 3, 4}), v.narrow(1, 0, 1).expand({1, 4, 3, 4}), in)));
  CHECK_THROWS_WITH(plain(q, at::randn({1, 3, 3, 4}), at::randn({1, 3, 3, 4}), in),
                    Contains("4 query heads cannot share 3 key/value heads"));
}

TEST_CASE("attention: the fused backend equals the plain one", "[attention]") {
  if (!lmlab::nn::fused_attention_available()) {
    WARN("fused vs plain attention skipped: LibTorch < 2");
    return;
  }
  at::manual_seed(2);
  const at::Tensor q = at::randn({2, 4, 5, 8}), k = at::randn({2, 4, 5, 8}), v = at::randn({2, 4, 5, 8});
  const auto both = [](const at::Tensor& q_, const at::Tensor& k_, const at::Tensor& v_, const AttentionInputs& in) {
    const at::Tensor fused = lmlab::nn::attend(q_, k_, v_, in, 0.0, AttentionBackend::fused);
    const at::Tensor reference = lmlab::nn::attend(q_, k_, v_, in, 0.0, AttentionBackend::plain);
    return at::allclose(fused, reference, 1e-4, 1e-5);
  };
  SECTION("no mask") { CHECK(both(q, k, v, {})); }
  SECTION("is_causal") {
    AttentionInputs in;
    in.is_causal = true;
    CHECK(both(q, k, v, in));
  }
  SECTION("a bool mask with padding") {
    const SelfAttentionLayout layout = layout_of(MaskKind::causal, bools({0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 5}), {}, 2, 5);
    const AttentionInputs in = lmlab::nn::self_attention_inputs(layout, "learned", 4, 8, 10000.0);
    REQUIRE(in.mask.scalar_type() == at::kBool);
    CHECK(both(q, k, v, in));
  }
  SECTION("a float ALiBi mask") {
    const SelfAttentionLayout layout = layout_of(MaskKind::prefix, {}, at::tensor({2, 3}, at::kLong), 2, 5);
    const AttentionInputs in = lmlab::nn::self_attention_inputs(layout, "alibi", 4, 8, 10000.0);
    REQUIRE(in.mask.scalar_type() == at::kFloat);
    CHECK(both(q, k, v, in));
  }
  SECTION("grouped-query heads") {
    const at::Tensor k2 = at::randn({2, 2, 5, 8}), v2 = at::randn({2, 2, 5, 8});
    AttentionInputs causal;
    causal.is_causal = true;
    CHECK(both(q, k2, v2, causal));
    const SelfAttentionLayout layout = layout_of(MaskKind::causal, bools({0, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 5}), {}, 2, 5);
    CHECK(both(q, k2, v2, lmlab::nn::self_attention_inputs(layout, "alibi", 4, 8, 10000.0)));
  }
}

TEST_CASE("attention: fewer key/value heads give smaller key and value projections", "[attention]") {
  MultiHeadAttention gqa(16, 4, 2, /*bias=*/true, 0.0, false);
  CHECK(gqa->query->weight.sizes() == at::IntArrayRef({16, 16}));
  CHECK(gqa->key->weight.sizes() == at::IntArrayRef({8, 16}));  // 2 heads x head_dim 4
  CHECK(gqa->value->weight.sizes() == at::IntArrayRef({8, 16}));
  CHECK(gqa->key->bias.sizes() == at::IntArrayRef({8}));
  CHECK(gqa->out->weight.sizes() == at::IntArrayRef({16, 16}));
  MultiHeadAttention mqa(16, 4, 1, /*bias=*/false, 0.0, false);
  CHECK(mqa->key->weight.sizes() == at::IntArrayRef({4, 16}));
  CHECK_FALSE(mqa->key->bias.defined());
}

TEST_CASE("attention: the module projects, attends per head and projects back", "[attention]") {
  at::manual_seed(3);
  MultiHeadAttention attention(8, 2, 1, true, 0.0, false);
  attention->backend = AttentionBackend::plain;
  const at::Tensor x = at::randn({2, 3, 8});
  AttentionInputs in;
  in.is_causal = true;
  // By hand: heads of width 4, one key/value head.
  const auto project = [](const torch::nn::Linear& l, const at::Tensor& t) { return at::matmul(t, l->weight.t()) + l->bias; };
  const at::Tensor q = project(attention->query, x).view({2, 3, 2, 4}).transpose(1, 2);
  const at::Tensor k = project(attention->key, x).view({2, 3, 1, 4}).transpose(1, 2);
  const at::Tensor v = project(attention->value, x).view({2, 3, 1, 4}).transpose(1, 2);
  const at::Tensor heads = reference_attention(q, k, v, {}, true).transpose(1, 2).reshape({2, 3, 8});
  CHECK(at::allclose(attention->forward(x, {}, in, nullptr), project(attention->out, heads), 1e-5, 1e-6));
}

TEST_CASE("attention: T5's heads: a set width whose total is not d_model, and scores not scaled", "[attention]") {
  at::manual_seed(4);
  // d_model 8, three heads of width 4: the heads' inner width is 12.
  MultiHeadAttention attention(8, 3, 3, /*bias=*/false, 0.0, false, /*head_dim=*/4, /*scaled=*/false);
  CHECK(attention->query->weight.sizes() == at::IntArrayRef({12, 8}));
  CHECK(attention->key->weight.sizes() == at::IntArrayRef({12, 8}));
  CHECK(attention->out->weight.sizes() == at::IntArrayRef({8, 12}));
  const at::Tensor x = at::randn({2, 3, 8});
  const auto heads_of = [&](const torch::nn::Linear& l) {
    return at::matmul(x, l->weight.t()).view({2, 3, 3, 4}).transpose(1, 2);  // (B, H, T, D)
  };
  // By hand: softmax(q k^T) v, without the 1/sqrt(4).
  const at::Tensor scores = at::matmul(heads_of(attention->query), heads_of(attention->key).transpose(-2, -1));
  const at::Tensor heads =
      at::matmul(at::softmax(scores, -1), heads_of(attention->value)).transpose(1, 2).reshape({2, 3, 12});
  for (const auto backend : {AttentionBackend::plain, AttentionBackend::fused}) {
    attention->backend = backend;
    CHECK(at::allclose(attention->forward(x, {}, AttentionInputs{}, nullptr),
                       at::matmul(heads, attention->out->weight.t()), 1e-5, 1e-6));
  }
}

TEST_CASE("attention: the cache appends this pass's keys and continues the sequence", "[attention]") {
  at::manual_seed(4);
  for (const std::string& positions : std::vector<std::string>{"learned", "rope"}) {
    DYNAMIC_SECTION(positions) {
      MultiHeadAttention attention(8, 2, 1, true, 0.0, false);
      attention->eval();
      const at::Tensor x = at::randn({1, 4, 8});
      const auto layout = [](std::int64_t length, lmlab::KvCache* cache) {
        return lmlab::nn::lay_out_pass(MaskKind::causal, {}, {}, 1, length, at::kCPU, cache);
      };
      const at::Tensor full =
          attention->forward(x, {}, lmlab::nn::self_attention_inputs(layout(4, nullptr), positions, 2, 4, 10000.0), nullptr);

      lmlab::KvCache cache;
      cache.self.resize(1);
      const at::Tensor first = attention->forward(x.narrow(1, 0, 3), {},
                                         lmlab::nn::self_attention_inputs(layout(3, &cache), positions, 2, 4, 10000.0),
                                         &cache.self[0]);
      CHECK(cache.self[0].k.sizes() == at::IntArrayRef({1, 1, 3, 4}));
      CHECK(cache.self[0].v.size(2) == 3);
      const at::Tensor second = attention->forward(x.narrow(1, 3, 1), {},
                                          lmlab::nn::self_attention_inputs(layout(1, &cache), positions, 2, 4, 10000.0),
                                          &cache.self[0]);
      CHECK(cache.self[0].k.size(2) == 4);
      CHECK(cache.self[0].v.size(2) == 4);
      CHECK(at::allclose(at::cat({first, second}, 1), full, 1e-5, 1e-6));
    }
  }
}

TEST_CASE("attention: cross-attention computes the encoder's keys once and reuses them", "[attention]") {
  at::manual_seed(5);
  MultiHeadAttention cross(8, 2, 2, true, 0.0, true);
  const at::Tensor x = at::randn({2, 3, 8}), memory = at::randn({2, 5, 8});
  const at::Tensor uncached = cross->forward(x, memory, {}, nullptr);

  lmlab::LayerKv cache;
  const at::Tensor first = cross->forward(x, memory, {}, &cache);
  CHECK(at::allclose(first, uncached));
  REQUIRE(cache.k.defined());
  CHECK(cache.k.sizes() == at::IntArrayRef({2, 2, 5, 4}));  // the encoder's 5 positions, not the decoder's 3
  // The keys the second call uses come from the cache: without memory, or with another memory.
  CHECK(at::allclose(cross->forward(x, {}, {}, &cache), uncached));
  CHECK(at::allclose(cross->forward(x, at::randn({2, 5, 8}), {}, &cache), uncached));
  CHECK(cache.k.size(2) == 5);  // not appended to
  // Another memory without the cache does change the output (the check above can fail).
  CHECK_FALSE(at::allclose(cross->forward(x, at::randn({2, 5, 8}), {}, nullptr), uncached, 1e-3, 1e-3));
  CHECK_THROWS_WITH(cross->forward(x, {}, {}, nullptr), Contains("memory"));
}

}  // namespace attention_tests

namespace attention_tests {

TEST_CASE("attention: a cache grows in place, and a copied cache is never written through", "[attention]") {
  at::manual_seed(31);
  // Generation runs without gradients; under InferenceMode views keep no base, under NoGradGuard
  // they do, and both must grow in place.
  const bool inference_mode = GENERATE(true, false);
  // Under bf16 autocast the new positions arrive in bf16 while a CPU cache may be float32
  // (cache_form): they must be converted on the way in, not make every step copy the cache.
  const bool bf16 = GENERATE(false, true);
  CAPTURE(inference_mode, bf16);
  lmlab::AutocastScope autocast(c10::Device(c10::kCPU), bf16);
  std::optional<c10::InferenceMode> inference;
  std::optional<at::NoGradGuard> no_grad;
  if (inference_mode) inference.emplace();
  else no_grad.emplace();
  MultiHeadAttention attention(8, 2, 2, false, 0.0, false);
  const at::Tensor prompt = at::randn({1, 4, 8});
  lmlab::LayerKv cache;
  attention->forward(prompt, {}, {}, &cache);  // keys of 4 positions
  const at::Tensor step = at::randn({1, 1, 8});
  const AttentionInputs all_visible;
  attention->forward(step, {}, all_visible, &cache);  // the buffer now has room
  const void* buffer = cache.k.data_ptr();
  attention->forward(at::randn({1, 1, 8}), {}, all_visible, &cache);
  CHECK(cache.k.data_ptr() == buffer);  // appended into the room, not copied
  CHECK(cache.k.size(2) == 6);

  // A second handle on the same keys: appending through either must not change the other.
  lmlab::LayerKv copy = cache;
  const at::Tensor before = copy.k.clone();
  attention->forward(at::randn({1, 1, 8}), {}, all_visible, &cache);
  attention->forward(at::randn({1, 1, 8}), {}, all_visible, &copy);
  CHECK(at::equal(copy.k.narrow(2, 0, 6), before));
  CHECK_FALSE(at::equal(copy.k.narrow(2, 6, 1), cache.k.narrow(2, 6, 1)));

  // Another tensor on the cache's memory (a plugin keeping a detached view): the next step copies.
  const at::Tensor alias = cache.k.detach();
  const at::Tensor alias_before = alias.clone();
  const void* shared = cache.k.data_ptr();
  attention->forward(at::randn({1, 1, 8}), {}, all_visible, &cache);
  CHECK(cache.k.data_ptr() != shared);
  CHECK(at::equal(alias, alias_before));
}

}  // namespace attention_tests

namespace attention_tests {

TEST_CASE("attention: a bf16 decoding cache is kept in float32 where attention widens it anyway", "[attention]") {
  at::manual_seed(37);
  MultiHeadAttention attention(16, 2, 2, false, 0.0, false);
  attention->eval();
  lmlab::AutocastScope autocast(c10::Device(c10::kCPU), true);
  at::NoGradGuard no_grad;
  lmlab::LayerKv cache;
  const AttentionInputs all_visible;
  attention->forward(at::randn({3, 4, 16}), {}, {}, &cache);  // a prompt of 4 positions
  const at::Tensor y = attention->forward(at::randn({3, 1, 16}), {}, all_visible, &cache);  // (3, 1, 16)
  CHECK(y.scalar_type() == at::kBFloat16);
  CHECK(cache.k.size(2) == 5);
  // LibTorch 1.13 attends in float32, so a bf16 cache would be widened whole at every step;
  // LibTorch 2's fused kernel reads the cache in the queries' dtype.
  const at::ScalarType kept = lmlab::nn::fused_attention_available() ? at::kBFloat16 : at::kFloat;
  CHECK(cache.k.scalar_type() == kept);
  CHECK(cache.v.scalar_type() == kept);
  // Grouped-query heads and cross-attention's encoder keys (widened once, at the first step) alike.
  MultiHeadAttention grouped(16, 4, 2, false, 0.0, false);
  lmlab::LayerKv grouped_cache;
  grouped->forward(at::randn({3, 4, 16}), {}, {}, &grouped_cache);
  CHECK(grouped->forward(at::randn({3, 1, 16}), {}, all_visible, &grouped_cache).scalar_type() == at::kBFloat16);
  CHECK(grouped_cache.k.sizes() == at::IntArrayRef({3, 2, 5, 4}));
  CHECK(grouped_cache.k.scalar_type() == kept);
  MultiHeadAttention cross(16, 2, 2, false, 0.0, true);
  lmlab::LayerKv cross_cache;
  const at::Tensor memory = at::randn({3, 6, 16});
  const at::Tensor first = cross->forward(at::randn({3, 1, 16}), memory, {}, &cross_cache);
  CHECK(cross_cache.k.scalar_type() == kept);
  CHECK(cross_cache.v.scalar_type() == kept);
  CHECK(first.scalar_type() == at::kBFloat16);
  // Widening bf16 is exact: attending over the widened keys gives the bf16 cache's output, to the
  // bit, on the head-by-head kernel (no mask) and the written-out chain (a mask).
  if (lmlab::nn::fused_attention_available()) return;
  const at::Tensor q = at::randn({3, 2, 1, 8}).to(at::kBFloat16);                              // (B, H, 1, D)
  const at::Tensor k = at::randn({3, 2, 6, 8}).to(at::kBFloat16), v = at::randn({3, 2, 6, 8}).to(at::kBFloat16);
  AttentionInputs masked;
  masked.mask = bools({1, 1, 0, 1, 1, 1}, {1, 1, 1, 6});  // (1, 1, 1, S): the third key hidden
  for (const AttentionInputs& in : {all_visible, masked}) {
    const at::Tensor bf16_cache = lmlab::nn::attend(q, k, v, in, 0.0, AttentionBackend::fused);
    const at::Tensor widened = lmlab::nn::attend(q, k.to(at::kFloat), v.to(at::kFloat), in, 0.0, AttentionBackend::fused);
    CHECK(widened.scalar_type() == at::kBFloat16);
    CHECK(at::equal(widened, bf16_cache));
  }
}

}  // namespace attention_tests
