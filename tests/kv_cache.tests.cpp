// KvCache: where each row continues (padding ignored), beam search's row selection across every
// tensor it holds, clearing, and the bytes it reports.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/kv_cache.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace kv_cache_tests {

using lmlab::KvCache;

namespace {

at::Tensor longs(const std::vector<std::int64_t>& values, std::int64_t rows) {
  return at::tensor(values, at::kLong).view({rows, -1});
}

// Every element of row b is `b + offset`, so a row's origin can be read back after selection.
at::Tensor rows_numbered(std::vector<std::int64_t> shape, double offset, at::ScalarType dtype = at::kFloat) {
  const std::int64_t batch = shape[0];
  std::vector<std::int64_t> view(shape.size(), 1);
  view[0] = batch;
  return (at::arange(batch, at::kDouble).view(view) + offset).expand(shape).contiguous().to(dtype);
}

// A cache of 3 rows with two decoder layers, one cross layer and every mask.
KvCache filled() {
  KvCache cache;
  cache.self = {{rows_numbered({3, 2, 4, 2}, 0), rows_numbered({3, 2, 4, 2}, 10)},
                {rows_numbered({3, 2, 4, 2}, 20), rows_numbered({3, 2, 4, 2}, 30)}};
  cache.cross = {{rows_numbered({3, 2, 5, 2}, 40), rows_numbered({3, 2, 5, 2}, 50)}};
  cache.key_mask = rows_numbered({3, 4}, 0, at::kLong).remainder(2).to(at::kBool);  // rows 0 1 0 as bools
  cache.key_positions = rows_numbered({3, 4}, 100, at::kLong);
  cache.memory_mask = rows_numbered({3, 5}, 0, at::kLong).ge(1);  // rows false, true, true
  return cache;
}

// The row numbers of a numbered tensor after selection: element [i, 0, ...] less its offset.
at::Tensor origins(const at::Tensor& t, double offset) {
  return t.to(at::kDouble).flatten(1).select(1, 0) - offset;
}

}  // namespace

TEST_CASE("kv_cache: an empty cache", "[kv_cache]") {
  const KvCache cache;
  CHECK(cache.length() == 0);
  CHECK(cache.empty());
  CHECK(cache.bytes() == 0);
}

TEST_CASE("kv_cache: next_positions is one past each row's last real position", "[kv_cache]") {
  KvCache cache;
  cache.key_mask = longs({0, 0, 1, 1,  // left-padded
                          1, 1, 1, 1,  //
                          1, 1, 0, 0,  // right-padded
                          0, 0, 0, 0},  // no real token
                         4)
                       .to(at::kBool);
  cache.key_positions = longs({0, 0, 0, 1,  //
                               0, 1, 2, 3,  //
                               0, 1, 1, 1,  //
                               0, 0, 0, 0},
                              4);
  CHECK(cache.length() == 4);
  CHECK_FALSE(cache.empty());
  CHECK(at::equal(cache.next_positions(), at::tensor({2, 4, 2, 0}, at::kLong)));
  // A pad's position, however large, is ignored.
  cache.key_positions[0][0] = 7;
  CHECK(at::equal(cache.next_positions(), at::tensor({2, 4, 2, 0}, at::kLong)));
}

TEST_CASE("kv_cache: select reorders and repeats the rows of every tensor", "[kv_cache]") {
  KvCache cache = filled();
  const at::Tensor rows = at::tensor({2, 0, 0, 1}, at::kLong);  // beams: reordered, one repeated, B' = 4
  cache.select(rows);
  const at::Tensor expected = rows.to(at::kDouble);
  for (std::size_t i = 0; i < cache.self.size(); ++i) {
    const double base = 20.0 * static_cast<double>(i);
    CHECK(cache.self[i].k.size(0) == 4);
    CHECK(at::equal(origins(cache.self[i].k, base), expected));
    CHECK(at::equal(origins(cache.self[i].v, base + 10), expected));
  }
  CHECK(at::equal(origins(cache.cross[0].k, 40), expected));
  CHECK(at::equal(origins(cache.cross[0].v, 50), expected));
  CHECK(at::equal(origins(cache.key_positions, 100), expected));
  // key_mask rows were 0 1 0 (row parity), memory_mask rows false true true.
  CHECK(at::equal(cache.key_mask.select(1, 0), at::tensor({0, 0, 0, 1}, at::kLong).to(at::kBool)));
  CHECK(at::equal(cache.memory_mask.select(1, 0), at::tensor({1, 0, 0, 1}, at::kLong).to(at::kBool)));
  // Whole rows move, not just their first element.
  CHECK(at::equal(cache.self[0].k[0], at::full({2, 4, 2}, 2.0f)));
  CHECK(cache.length() == 4);
}

TEST_CASE("kv_cache: select leaves undefined tensors undefined", "[kv_cache]") {
  KvCache cache;
  cache.self.resize(1);
  cache.key_mask = at::ones({2, 3}, at::kBool);
  cache.key_positions = longs({0, 1, 2, 5, 6, 7}, 2);
  cache.select(at::tensor({1}, at::kLong));
  CHECK_FALSE(cache.self[0].k.defined());
  CHECK_FALSE(cache.memory_mask.defined());
  CHECK(at::equal(cache.key_positions, longs({5, 6, 7}, 1)));
}

TEST_CASE("kv_cache: clear empties everything", "[kv_cache]") {
  KvCache cache = filled();
  cache.clear();
  CHECK(cache.self.empty());
  CHECK(cache.cross.empty());
  CHECK_FALSE(cache.key_mask.defined());
  CHECK_FALSE(cache.key_positions.defined());
  CHECK_FALSE(cache.memory_mask.defined());
  CHECK(cache.length() == 0);
  CHECK(cache.bytes() == 0);
}

TEST_CASE("kv_cache: bytes adds up every tensor it holds", "[kv_cache]") {
  KvCache cache;
  // Two self layers of float k and v, (2, 2, 3, 4): 48 floats = 192 bytes each, 4 tensors = 768.
  cache.self = {{at::zeros({2, 2, 3, 4}), at::zeros({2, 2, 3, 4})}, {at::zeros({2, 2, 3, 4}), at::zeros({2, 2, 3, 4})}};
  CHECK(cache.bytes() == 768);
  // One cross layer, (2, 2, 5, 4) floats: 80 x 4 = 320 bytes each, 640 for k and v.
  cache.cross = {{at::zeros({2, 2, 5, 4}), at::zeros({2, 2, 5, 4})}};
  // key_mask (2, 3) bool: 6; key_positions (2, 3) int64: 48; memory_mask (2, 5) bool: 10.
  cache.key_mask = at::ones({2, 3}, at::kBool);
  cache.key_positions = at::zeros({2, 3}, at::kLong);
  cache.memory_mask = at::ones({2, 5}, at::kBool);
  CHECK(cache.bytes() == 768 + 640 + 6 + 48 + 10);
  // bf16 keys and values take half.
  cache.self[0].k = cache.self[0].k.to(at::kBFloat16);
  CHECK(cache.bytes() == 768 + 640 + 6 + 48 + 10 - 96);
}

TEST_CASE("kv_cache: bytes counts the memory held: a buffer's room, and one buffer once", "[kv_cache]") {
  KvCache cache;
  // k views the first 3 of 8 positions of a (2, 2, 8, 4) float buffer: it holds 128 floats = 512 bytes.
  const at::Tensor buffer = at::zeros({2, 2, 8, 4});
  cache.self = {{buffer.narrow(2, 0, 3), at::zeros({2, 2, 3, 4})}};
  CHECK(cache.bytes() == 512 + 192);
  // v viewing the same buffer adds nothing; a second layer's views of it neither.
  cache.self[0].v = buffer.narrow(2, 3, 3);
  cache.self.push_back({buffer.narrow(2, 0, 5), buffer});
  CHECK(cache.bytes() == 512);
}

TEST_CASE("kv_cache: clear_decoder forgets the decoder's past and keeps the encoder's", "[kv_cache]") {
  lmlab::KvCache cache;
  cache.self.resize(2);
  cache.self[0].k = at::zeros({1, 1, 3, 2});
  cache.cross.resize(2);
  cache.cross[0].k = at::ones({1, 1, 4, 2});
  cache.key_mask = at::ones({1, 3}, at::kBool);
  cache.key_positions = at::arange(3, at::kLong).unsqueeze(0);
  cache.memory_mask = at::ones({1, 4}, at::kBool);
  CHECK(cache.has_memory());
  cache.clear_decoder();
  CHECK(cache.empty());
  CHECK(cache.self.empty());
  CHECK(cache.has_memory());
  CHECK(cache.memory_mask.defined());
  cache.clear();
  CHECK_FALSE(cache.has_memory());
}

}  // namespace kv_cache_tests
