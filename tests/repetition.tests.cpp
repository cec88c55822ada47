// repetition: which tokens lie in an n-gram that already occurred earlier in their row, and how
// many of the n-grams of id sequences are distinct.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/repetition.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace repetition_tests {

using Catch::Matchers::Contains;

namespace {

at::Tensor row(const std::vector<std::int64_t>& ids) { return at::tensor(ids, at::kLong).unsqueeze(0); }  // (1, L)

// The marked positions of row `r`, for readable failures.
std::vector<std::int64_t> marked(const at::Tensor& mask, std::int64_t r = 0) {
  std::vector<std::int64_t> out;
  for (std::int64_t j = 0; j < mask.size(1); ++j) {
    if (mask[r][j].item<bool>()) out.push_back(j);
  }
  return out;
}

}  // namespace

TEST_CASE("repetition: a repeated 4-gram marks its second occurrence, an incomplete one nothing",
          "[repetition]") {
  // a b c d a b c d: the 4-gram at 4 repeats the one at 0; the ones at 1..3 (b c d a, c d a b,
  // d a b c) occur once.
  const at::Tensor mask = lmlab::ngram_repeat_mask(row({0, 1, 2, 3, 0, 1, 2, 3}), 4);
  CHECK(mask.scalar_type() == at::kBool);
  CHECK(mask.sizes() == at::IntArrayRef({1, 8}));
  CHECK(marked(mask) == std::vector<std::int64_t>{4, 5, 6, 7});
  // a b c d a b c: a b c recurs, but no 4-gram does.
  CHECK(marked(lmlab::ngram_repeat_mask(row({0, 1, 2, 3, 0, 1, 2}), 4)).empty());
  // n = 1: every token seen before.
  CHECK(marked(lmlab::ngram_repeat_mask(row({5, 6, 5, 7, 6}), 1)) == std::vector<std::int64_t>{2, 4});
}

TEST_CASE("repetition: overlapping occurrences count, and marks of several repeats merge", "[repetition]") {
  CHECK(marked(lmlab::ngram_repeat_mask(row({9, 9, 9, 9, 9}), 2)) == std::vector<std::int64_t>{1, 2, 3, 4});
  // a b c d b c d b c d with n = 3: b c d recurs at 4 and 7, c d b at 5, d b c at 6; the lead-in
  // a b c d stays unmarked.
  CHECK(marked(lmlab::ngram_repeat_mask(row({0, 1, 2, 3, 1, 2, 3, 1, 2, 3}), 3)) ==
        std::vector<std::int64_t>{4, 5, 6, 7, 8, 9});
  // A repeat far from its first occurrence, the tokens between untouched.
  CHECK(marked(lmlab::ngram_repeat_mask(row({1, 2, 7, 8, 9, 1, 2}), 2)) == std::vector<std::int64_t>{5, 6});
}

TEST_CASE("repetition: n longer than the row marks nothing; rows are independent", "[repetition]") {
  CHECK(marked(lmlab::ngram_repeat_mask(row({1, 1, 1}), 4)).empty());
  CHECK(marked(lmlab::ngram_repeat_mask(row({1, 1, 1}), 3)).empty());  // one 3-gram, nothing earlier
  CHECK(lmlab::ngram_repeat_mask(at::zeros({2, 0}, at::kLong), 2).sizes() == at::IntArrayRef({2, 0}));
  // Row 1 holds row 0's 2-gram, but only repeats inside a row count.
  const at::Tensor batch = at::tensor({4, 5, 6, 7, 4, 5, 1, 2, 3, 4, 5, 6}, at::kLong).view({2, 6});  // (2, 6)
  const at::Tensor mask = lmlab::ngram_repeat_mask(batch, 2);
  CHECK(marked(mask, 0) == std::vector<std::int64_t>{4, 5});
  CHECK(marked(mask, 1).empty());
  // Any integer dtype, same answer; non-contiguous input read correctly.
  CHECK(lmlab::ngram_repeat_mask(batch.to(at::kInt), 2).equal(mask));
  CHECK(lmlab::ngram_repeat_mask(batch.t().contiguous().t(), 2).equal(mask));
}

TEST_CASE("repetition: bad input is a clear error", "[repetition]") {
  const at::Tensor tokens = row({1, 2, 3});
  CHECK_THROWS_WITH(lmlab::ngram_repeat_mask(tokens, 0), Contains("n must be >= 1, got 0"));
  CHECK_THROWS_WITH(lmlab::ngram_repeat_mask(tokens, -3), Contains("got -3"));
  CHECK_THROWS_WITH(lmlab::ngram_repeat_mask(at::tensor({1, 2, 3}, at::kLong), 2), Contains("got shape 3"));
  CHECK_THROWS_WITH(lmlab::ngram_repeat_mask(at::zeros({1, 2, 3}, at::kLong), 2), Contains("got shape 1x2x3"));
  CHECK_THROWS_WITH(lmlab::ngram_repeat_mask(at::zeros({1, 3}), 2), Contains("integer token ids, got dtype Float"));
  CHECK_THROWS_AS(lmlab::ngram_repeat_mask(at::Tensor(), 2), std::invalid_argument);
}

TEST_CASE("repetition: NgramCounter counts all and distinct n-grams, never across sequences", "[repetition]") {
  // a b c d a b c d: 5 4-grams, 4 distinct (a b c d twice): seq-rep-4 = 1 - 4/5, the paper's 0.2.
  lmlab::NgramCounter four(4);
  four.add(std::vector<std::int64_t>{0, 1, 2, 3, 0, 1, 2, 3});
  CHECK(four.total() == 5);
  CHECK(four.distinct() == 4);
  // Shorter than n: nothing counted. [1 2], [3 4] hold 12 and 34 only, no 23 across them.
  lmlab::NgramCounter two(2);
  two.add(std::vector<std::int64_t>{7});
  two.add(std::vector<std::int64_t>{});
  CHECK(two.total() == 0);
  two.add(std::vector<std::int64_t>{1, 2});
  two.add(std::vector<std::int64_t>{3, 4});
  CHECK(two.total() == 2);
  CHECK(two.distinct() == 2);
  // A repeat across sequences counts once among the distinct, twice in the total; overlapping
  // occurrences ([9 9 9]: 99 at 0 and 1) both count.
  two.add(std::vector<std::int64_t>{1, 2});
  two.add(std::vector<std::int64_t>{9, 9, 9});
  CHECK(two.total() == 5);
  CHECK(two.distinct() == 3);
  CHECK_THROWS_WITH(lmlab::NgramCounter(0), Contains("n must be >= 1"));
}

}  // namespace repetition_tests
