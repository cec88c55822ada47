// A decoding step's bf16 product on a reused oneDNN primitive: where it applies, and that it
// gives at::linear's bf16 numbers to the bit, with and without a bias, for a step's (B, 1, C)
// input, rows read in place from a wider tensor, and a primitive reused on new data and a new
// batch size.
#include <ATen/ATen.h>

#include "nn/cpu_onednn.hpp"
#include "nn/onednn_bf16_linear.hpp"
#include "support/test_support.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace onednn_bf16_linear_tests {

using lmlab::nn::onednn_bf16_linear;
using lmlab::nn::onednn_bf16_linear_applies;

namespace {

at::Tensor bf16(const at::Tensor& t) { return t.to(at::kBFloat16); }

}  // namespace

TEST_CASE("onednn_bf16_linear: bf16 CPU operands with dense rows only", "[onednn_bf16_linear]") {
  at::manual_seed(41);
  const at::Tensor x = bf16(at::randn({4, 64})), w = bf16(at::randn({48, 64})), b = bf16(at::randn({48}));
  if (!lmlab::nn::onednn_built()) {
    CHECK_FALSE(onednn_bf16_linear_applies(x, w, b));
    WARN("this build has no oneDNN: bf16 products go through at::linear");
    return;
  }
  CHECK(onednn_bf16_linear_applies(x, w, b));
  CHECK(onednn_bf16_linear_applies(x.view({4, 1, 64}), w, at::Tensor()));
  CHECK_FALSE(onednn_bf16_linear_applies(x.to(at::kFloat), w, b));           // float32 input
  CHECK_FALSE(onednn_bf16_linear_applies(x, w.to(at::kFloat), b));           // float32 weight
  CHECK_FALSE(onednn_bf16_linear_applies(x, w, b.to(at::kFloat)));           // float32 bias
  CHECK_FALSE(onednn_bf16_linear_applies(x.narrow(1, 0, 32), w, b));         // widths differ
  CHECK_FALSE(onednn_bf16_linear_applies(x, w, b.narrow(0, 0, 40)));         // bias of another width
  CHECK_FALSE(onednn_bf16_linear_applies(bf16(at::randn({64, 4})).t(), w, b));  // columns not dense
  CHECK_FALSE(onednn_bf16_linear_applies(x, bf16(at::randn({64, 48})).t(), b));  // weight rows not dense
  CHECK_FALSE(onednn_bf16_linear_applies(x.narrow(0, 0, 0), w, b));          // no rows
  CHECK_FALSE(onednn_bf16_linear_applies(x, w, bf16(at::randn({96})).slice(0, 0, 96, 2)));  // bias not contiguous
  CHECK(onednn_bf16_linear_applies(x, bf16(at::randn({48, 80})).narrow(1, 0, 64), b));  // weight rows 80 apart
}

TEST_CASE("onednn_bf16_linear: at::linear's bf16 numbers, bit for bit", "[onednn_bf16_linear]") {
  if (!lmlab::nn::onednn_built()) {
    WARN("this build has no oneDNN: nothing to compare");
    return;
  }
  lmlab::test::IntraOpThreads two(2);
  at::manual_seed(43);
  const at::Tensor w = bf16(at::randn({96, 64}) * 0.1), b = bf16(at::randn({96}));
  const bool biased = GENERATE(true, false);
  CAPTURE(biased);
  const at::Tensor bias = biased ? b : at::Tensor();
  for (std::int64_t rows : {16, 16, 3, 1}) {  // 16 twice: the second call reuses the primitive
    CAPTURE(rows);
    const at::Tensor x = bf16(at::randn({rows, 1, 64}));  // (B, 1, C): a step's token per sequence
    const at::Tensor y = onednn_bf16_linear(x, w, bias);
    CHECK(y.sizes() == at::IntArrayRef({rows, 1, 96}));
    CHECK(y.scalar_type() == at::kBFloat16);
    CHECK(at::equal(y, at::linear(x, w, bias)));
  }
  // Rows read in place from a wider tensor (stride 80 between rows of 64).
  const at::Tensor wide = bf16(at::randn({5, 80}));
  const at::Tensor rows = wide.narrow(1, 8, 64);
  CHECK(at::equal(onednn_bf16_linear(rows, w, bias), at::linear(rows.contiguous(), w, bias)));
  // A weight whose rows lie 80 apart (a slice of a wider matrix), read in place.
  const at::Tensor wide_weight = bf16(at::randn({96, 80}) * 0.1);
  const at::Tensor sliced = wide_weight.narrow(1, 0, 64);  // (96, 64), row stride 80
  CHECK(at::equal(onednn_bf16_linear(rows, sliced, bias), at::linear(rows.contiguous(), sliced.contiguous(), bias)));
  // One 1-D input: a single row.
  const at::Tensor single = bf16(at::randn({64}));
  const at::Tensor y1 = onednn_bf16_linear(single, w, bias);
  CHECK(y1.sizes() == at::IntArrayRef({96}));
  CHECK(at::equal(y1, at::linear(single.unsqueeze(0), w, bias).squeeze(0)));
  // A wrong answer would show: another weight gives other numbers.
  const at::Tensor x = bf16(at::randn({4, 64}));
  CHECK_FALSE(at::equal(onednn_bf16_linear(x, w, bias), onednn_bf16_linear(x, bf16(at::randn({96, 64})), bias)));
}

TEST_CASE("onednn_bf16_linear: a primitive per intra-op thread count", "[onednn_bf16_linear]") {
  if (!lmlab::nn::onednn_built()) {
    WARN("this build has no oneDNN: nothing to count");
    return;
  }
  // oneDNN fixes a primitive's threads when it builds it; a decoding step that drops to one
  // thread (generation/step_threads.hpp) must not run on a primitive built for two.
  at::manual_seed(47);
  const at::Tensor x = bf16(at::randn({16, 40})), w = bf16(at::randn({24, 40}));
  std::size_t two_threads = 0;
  {
    lmlab::test::IntraOpThreads two(2);
    onednn_bf16_linear(x, w, at::Tensor());
    two_threads = lmlab::nn::onednn_bf16_primitives_built();
    onednn_bf16_linear(x, w, at::Tensor());
    CHECK(lmlab::nn::onednn_bf16_primitives_built() == two_threads);  // reused
  }
  lmlab::test::IntraOpThreads one(1);
  const at::Tensor y = onednn_bf16_linear(x, w, at::Tensor());
  CHECK(lmlab::nn::onednn_bf16_primitives_built() == two_threads + 1);
  CHECK(at::equal(y, at::linear(x, w)));
}

}  // namespace onednn_bf16_linear_tests
