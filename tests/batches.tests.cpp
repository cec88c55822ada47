// Training windows, evaluation windows and generation prompts.
#include "support/catch.hpp"

#include <ATen/ATen.h>

#include "data/batches.hpp"
#include "lmlab/error.hpp"

namespace batches_tests {

TEST_CASE("training windows are contiguous slices and follow the generator") {
  const auto tokens = at::arange(1000, at::kLong);
  lmlab::WindowSampler a(tokens, 17, 5), b(tokens, 17, 5);
  const auto x = a.next(8);  // (8, 17)
  REQUIRE(x.sizes() == at::IntArrayRef({8, 17}));
  // Consecutive ids: every window is a slice of the stream.
  CHECK(at::equal(x.diff(1, 1), at::ones({8, 16}, at::kLong)));
  CHECK(x.max().item<std::int64_t>() < 1000);
  CHECK(at::equal(x, b.next(8)));  // same seed, same windows
  // Restoring the generator's state replays the same windows: what a checkpoint relies on.
  const auto state = a.generator().get_state();
  const auto next = a.next(8);
  a.generator().set_state(state);
  CHECK(at::equal(next, a.next(8)));
  CHECK_THROWS_AS(lmlab::WindowSampler(at::arange(10, at::kLong), 17, 1), lmlab::DataError);
}

TEST_CASE("evaluation windows are evenly spaced and cover both ends") {
  const auto tokens = at::arange(100, at::kLong);
  const auto w = lmlab::fixed_windows(tokens, 10, 4);  // (4, 10)
  CHECK(w[0][0].item<std::int64_t>() == 0);
  CHECK(w[3][9].item<std::int64_t>() == 99);
  CHECK(at::equal(lmlab::fixed_windows(tokens, 10, 4), w));
}

TEST_CASE("prompts start after a newline when one is near") {
  std::vector<std::int64_t> ids;
  for (char c : std::string("abc\ndefghij\nklmnopqrstuvwxyz")) ids.push_back(c);
  const auto tokens = at::tensor(ids, at::kLong);
  const auto prompts = lmlab::prompt_windows(tokens, 2, 3);
  REQUIRE(prompts.size() == 2);
  CHECK(prompts[0] == std::vector<std::int64_t>{'d', 'e', 'f'});
  CHECK(prompts[1] == std::vector<std::int64_t>{'k', 'l', 'm'});
}

TEST_CASE("without a newline nearby, prompts start at the next word") {
  std::vector<std::int64_t> ids;
  for (char c : std::string("xx abc defg hij klm")) ids.push_back(c);
  const auto prompts = lmlab::prompt_windows(at::tensor(ids, at::kLong), 1, 3);
  REQUIRE(prompts.size() == 1);
  CHECK(prompts[0] == std::vector<std::int64_t>{'a', 'b', 'c'});
}

}  // namespace batches_tests
