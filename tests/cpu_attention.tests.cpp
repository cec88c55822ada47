// The CPU attention kernel (framework/src/nn/cpu_attention.cpp) against the written-out chain
// softmax(q k^T / sqrt(D) + mask) v: outputs and all three gradients, causal and not, block
// edges (T not a multiple of the 64-row blocks), strided inputs as the fused projection gives
// them, cross-attention (T != S) and bf16 inputs.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/nn/attention.hpp"
#include "nn/cpu_attention.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace cpu_attention_tests {

namespace {

// softmax(q k^T / sqrt(D)) v in float64, under a causal mask when asked.
at::Tensor written_out(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
  const at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble), vd = v.to(at::kDouble);
  at::Tensor scores = at::matmul(qd, kd.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));  // (B, H, T, S)
  if (causal) {
    const at::Tensor future = at::ones({q.size(2), k.size(2)}, at::kBool).triu(1);  // (T, S)
    scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
  }
  return at::matmul(at::softmax(scores, -1), vd);  // (B, H, T, D)
}

struct Grads {
  at::Tensor out, dq, dk, dv;
};

// Output and gradients of `attention` for a fixed upstream gradient.
template <typename Attention>
Grads run(const Attention& attention, const at::Tensor& q0, const at::Tensor& k0, const at::Tensor& v0,
          const at::Tensor& upstream) {
  at::Tensor q = q0.detach().requires_grad_(), k = k0.detach().requires_grad_(), v = v0.detach().requires_grad_();
  const at::Tensor out = attention(q, k, v);
  (out.to(at::kDouble) * upstream).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

void check_close(const Grads& got, const Grads& want, double tolerance) {
  CHECK(at::allclose(got.out.to(at::kDouble), want.out, tolerance, tolerance));
  CHECK(at::allclose(got.dq.to(at::kDouble), want.dq.to(at::kDouble), tolerance, tolerance));
  CHECK(at::allclose(got.dk.to(at::kDouble), want.dk.to(at::kDouble), tolerance, tolerance));
  CHECK(at::allclose(got.dv.to(at::kDouble), want.dv.to(at::kDouble), tolerance, tolerance));
}

}  // namespace

TEST_CASE("cpu_attention: equals the written-out chain, values and gradients", "[cpu_attention]") {
  if (!lmlab::nn::cpu_attention_built()) {
    WARN("cpu_attention not built here (LibTorch >= 2 or no CBLAS): attend() uses another path");
    return;
  }
  at::manual_seed(11);
  const bool causal = GENERATE(true, false);
  const std::int64_t T = GENERATE(1, 5, 64, 130);
  CAPTURE(causal, T);
  const at::Tensor q = at::randn({2, 3, T, 16}), k = at::randn({2, 3, T, 16}), v = at::randn({2, 3, T, 16});
  const at::Tensor upstream = at::randn({2, 3, T, 16}, at::kDouble);
  const auto kernel = [&](const at::Tensor& q_, const at::Tensor& k_, const at::Tensor& v_) {
    return lmlab::nn::cpu_attention(q_, k_, v_, causal);
  };
  const auto reference = [&](const at::Tensor& q_, const at::Tensor& k_, const at::Tensor& v_) {
    return written_out(q_, k_, v_, causal);
  };
  check_close(run(kernel, q, k, v, upstream), run(reference, q, k, v, upstream), 1e-4);
}

TEST_CASE("cpu_attention: without gradients to record, the same output and no autograd node", "[cpu_attention]") {
  if (!lmlab::nn::cpu_attention_built()) return;
  at::manual_seed(12);
  const bool causal = GENERATE(true, false);
  const at::Tensor q = at::randn({2, 3, 7, 16}), k = at::randn({2, 3, 7, 16}), v = at::randn({2, 3, 7, 16});
  const at::Tensor recorded = lmlab::nn::cpu_attention(q.detach().requires_grad_(), k, v, causal);  // (B, H, T, D)
  REQUIRE(recorded.grad_fn() != nullptr);
  at::NoGradGuard no_grad;
  const at::Tensor plain = lmlab::nn::cpu_attention(q.detach().requires_grad_(), k, v, causal);  // (B, H, T, D)
  CHECK(plain.grad_fn() == nullptr);
  CHECK(at::equal(plain, recorded.detach()));
}

TEST_CASE("cpu_attention: strided heads as one fused projection lays them out", "[cpu_attention]") {
  if (!lmlab::nn::cpu_attention_built()) return;
  at::manual_seed(12);
  // (B, T, 3C) split into q, k, v and viewed as heads: rows 3C apart, heads D apart.
  const at::Tensor qkv = at::randn({2, 70, 3 * 32});
  const auto heads = [&](std::int64_t i) { return qkv.narrow(-1, 32 * i, 32).view({2, 70, 4, 8}).transpose(1, 2); };
  const at::Tensor upstream = at::randn({2, 4, 70, 8}, at::kDouble);
  const auto kernel = [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    return lmlab::nn::cpu_attention(q, k, v, true);
  };
  const auto reference = [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    return written_out(q, k, v, true);
  };
  check_close(run(kernel, heads(0), heads(1), heads(2), upstream), run(reference, heads(0), heads(1), heads(2), upstream),
              1e-4);
}

TEST_CASE("cpu_attention: cross-attention, more keys than queries", "[cpu_attention]") {
  at::manual_seed(13);
  const at::Tensor q = at::randn({1, 2, 7, 8}), k = at::randn({1, 2, 90, 8}), v = at::randn({1, 2, 90, 8});
  CHECK_FALSE(lmlab::nn::cpu_attention_supports(q, k, v, /*causal=*/true));  // causal needs T == S
  if (!lmlab::nn::cpu_attention_built()) return;
  REQUIRE(lmlab::nn::cpu_attention_supports(q, k, v, false));
  const at::Tensor upstream = at::randn({1, 2, 7, 8}, at::kDouble);
  const auto kernel = [](const at::Tensor& q_, const at::Tensor& k_, const at::Tensor& v_) {
    return lmlab::nn::cpu_attention(q_, k_, v_, false);
  };
  const auto reference = [](const at::Tensor& q_, const at::Tensor& k_, const at::Tensor& v_) {
    return written_out(q_, k_, v_, false);
  };
  check_close(run(kernel, q, k, v, upstream), run(reference, q, k, v, upstream), 1e-4);
}

TEST_CASE("cpu_attention: bf16 inputs give bf16 outputs and gradients, computed in float32", "[cpu_attention]") {
  at::manual_seed(14);
  const at::Tensor q = at::randn({1, 2, 80, 16}).to(at::kBFloat16), k = at::randn({1, 2, 80, 16}).to(at::kBFloat16),
                   v = at::randn({1, 2, 80, 16}).to(at::kBFloat16);
  if (!lmlab::nn::cpu_attention_built()) return;
  REQUIRE(lmlab::nn::cpu_attention_supports(q, k, v, true));
  const at::Tensor upstream = at::randn({1, 2, 80, 16}, at::kDouble);
  const auto kernel = [](const at::Tensor& q_, const at::Tensor& k_, const at::Tensor& v_) {
    return lmlab::nn::cpu_attention(q_, k_, v_, true);
  };
  const auto reference = [](const at::Tensor& q_, const at::Tensor& k_, const at::Tensor& v_) {
    return written_out(q_, k_, v_, true);
  };
  const Grads got = run(kernel, q, k, v, upstream);
  CHECK(got.out.scalar_type() == at::kBFloat16);
  CHECK(got.dq.scalar_type() == at::kBFloat16);
  // bf16 keeps 8 significant bits: the results agree with float64 to bf16's rounding.
  check_close(got, run(reference, q, k, v, upstream), 3e-2);
}

TEST_CASE("cpu_attention: unsupported inputs are declined, not computed", "[cpu_attention]") {
  const at::Tensor q = at::randn({1, 4, 3, 8});
  CHECK_FALSE(lmlab::nn::cpu_attention_supports(q, at::randn({1, 2, 3, 8}), at::randn({1, 2, 3, 8}), true));  // GQA
  CHECK_FALSE(lmlab::nn::cpu_attention_supports(q.to(at::kDouble), q.to(at::kDouble), q.to(at::kDouble), true));
  CHECK_FALSE(lmlab::nn::cpu_attention_supports(q, at::randn({1, 4, 3, 4}), at::randn({1, 4, 3, 4}), false));
}

TEST_CASE("cpu_attention: attend() takes it for mask-free inputs and matches the plain backend", "[cpu_attention]") {
  at::manual_seed(15);
  const at::Tensor q = at::randn({2, 2, 66, 8}), k = at::randn({2, 2, 66, 8}), v = at::randn({2, 2, 66, 8});
  lmlab::nn::AttentionInputs in;
  in.is_causal = true;
  const at::Tensor qg = q.detach().requires_grad_();
  const at::Tensor fused = lmlab::nn::attend(qg, k, v, in, 0.0, lmlab::nn::AttentionBackend::fused);
  const at::Tensor plain = lmlab::nn::attend(q, k, v, in, 0.0, lmlab::nn::AttentionBackend::plain);
  CHECK(at::allclose(fused, plain, 1e-5, 1e-5));
  if (lmlab::nn::cpu_attention_built()) {
    REQUIRE(fused.grad_fn());
    CHECK_THAT(fused.grad_fn()->name(), Catch::Contains("CpuAttentionFunction"));  // the kernel ran, not plain
  }
}

TEST_CASE("cpu_attention: gradients with odd strides: expanded upstream, one query", "[cpu_attention]") {
  if (!lmlab::nn::cpu_attention_built()) return;
  at::manual_seed(16);
  // A loss that sums over the positions hands backward a gradient expanded along T (stride 0).
  const at::Tensor q = at::randn({2, 2, 9, 8}), k = at::randn({2, 2, 9, 8}), v = at::randn({2, 2, 9, 8});
  const auto grads_of = [](const auto& attention, const at::Tensor& q0, const at::Tensor& k0, const at::Tensor& v0) {
    at::Tensor q_ = q0.detach().requires_grad_(), k_ = k0.detach().requires_grad_(), v_ = v0.detach().requires_grad_();
    attention(q_, k_, v_).sum(2).sum().backward();
    return std::vector<at::Tensor>{q_.grad(), k_.grad(), v_.grad()};
  };
  const auto kernel = [](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) {
    return lmlab::nn::cpu_attention(a, b, c, true);
  };
  const auto reference = [](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) {
    return written_out(a, b, c, true).to(at::kFloat);
  };
  const auto got = grads_of(kernel, q, k, v), want = grads_of(reference, q, k, v);
  for (std::size_t i = 0; i < 3; ++i) CHECK(at::allclose(got[i], want[i], 1e-4, 1e-4));
  // One query against many keys, its rows given with a stride below D.
  const at::Tensor q1 = at::randn({1, 2, 8, 1}).transpose(2, 3);  // (1, 2, 1, 8), stride(2) == 1
  const at::Tensor k1 = at::randn({1, 2, 5, 8}), v1 = at::randn({1, 2, 5, 8});
  const auto full = [](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) {
    return lmlab::nn::cpu_attention(a, b, c, false);
  };
  const auto full_reference = [](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) {
    return written_out(a, b, c, false).to(at::kFloat);
  };
  const auto got1 = grads_of(full, q1, k1, v1), want1 = grads_of(full_reference, q1, k1, v1);
  for (std::size_t i = 0; i < 3; ++i) CHECK(at::allclose(got1[i], want1[i], 1e-4, 1e-4));
  CHECK(at::allclose(full(q1, k1, v1), full_reference(q1, k1, v1), 1e-4, 1e-5));
}

}  // namespace cpu_attention_tests
