#include "lmlab/kv_cache.hpp"

#include <unordered_set>

#include <ATen/ATen.h>

#include "generation/select_rows.hpp"

namespace lmlab {

at::Tensor KvCache::next_positions() const {
  // Padding holds position 0, so the largest real position decides; -1 marks rows without one.
  const at::Tensor real = key_positions.masked_fill(key_mask.logical_not(), -1);  // (B, L)
  return std::get<0>(real.max(1)) + 1;                                            // (B)
}

void KvCache::select(const at::Tensor& rows) {
  for (auto* layers : {&self, &cross}) {
    for (auto& layer : *layers) {
      detail::select_rows(layer.k, rows);
      detail::select_rows(layer.v, rows);
    }
  }
  detail::select_rows(key_mask, rows);
  detail::select_rows(key_positions, rows);
  detail::select_rows(memory_mask, rows);
}

void KvCache::clear() { *this = KvCache{}; }

void KvCache::clear_decoder() {
  self.clear();
  key_mask = at::Tensor();
  key_positions = at::Tensor();
}

std::int64_t KvCache::bytes() const {
  // The memory held, not the tensors' sizes: a layer's keys and values are views into a buffer
  // with room to grow (nn/attention.cpp), so a view's nbytes would miss the room, and two views of
  // one buffer would count it twice. Each storage counts once, whole.
  std::unordered_set<const void*> seen;
  std::int64_t n = 0;
  const auto add = [&](const at::Tensor& t) {
    if (!t.defined() || !t.has_storage()) return;
    if (seen.insert(t.storage().unsafeGetStorageImpl()).second) n += static_cast<std::int64_t>(t.storage().nbytes());
  };
  for (const auto* layers : {&self, &cross}) {
    for (const auto& layer : *layers) {
      add(layer.k);
      add(layer.v);
    }
  }
  add(key_mask);
  add(key_positions);
  add(memory_mask);
  return n;
}

}  // namespace lmlab
