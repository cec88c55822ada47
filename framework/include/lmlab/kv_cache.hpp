/// The past of a batch of sequences decoded one token at a time: each attention layer's keys
/// and values, which cached positions are real tokens (left padding of shorter prompts is not),
/// the position id of each, and for an encoder-decoder the encoder's keys and values, computed
/// once per prompt. Architectures fill it; generation and beam search hold and reorder it.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lmlab {

/// One attention layer's keys and values.
struct LayerKv {
  // (B, H_kv, L, D). May be views into a buffer with room for later positions (decoding grows
  // them in place): reshape, not view; a copy the plugin keeps makes the next step copy instead.
  at::Tensor k, v;
};

class KvCache {
 public:
  std::vector<LayerKv> self;   // one per (decoder) layer
  std::vector<LayerKv> cross;  // encoder-decoder: one per decoder layer, keys and values of the encoder output
  at::Tensor key_mask;         // (B, L) bool, true where the cached position is a real token
  at::Tensor key_positions;    // (B, L) int64, the position id of each cached key
  at::Tensor memory_mask;      // (B, S) bool, encoder-decoder: true at real encoder tokens

  /// L, the number of positions cached (padding included).
  std::int64_t length() const { return key_mask.defined() ? key_mask.size(1) : 0; }
  bool empty() const { return length() == 0; }
  /// (B): one past the largest position id among each row's real keys (0 for an empty row).
  at::Tensor next_positions() const;
  /// Keeps rows `rows` (B') in that order, repeats allowed: beam search's reordering.
  void select(const at::Tensor& rows);
  void clear();
  /// Forgets the decoder's past but keeps the encoder's keys, values and mask: a window refill
  /// of an encoder-decoder need not encode its input again.
  void clear_decoder();
  /// True once an encoder-decoder's first pass has cached the encoder's keys and values.
  bool has_memory() const { return !cross.empty() && cross.front().k.defined(); }
  /// Bytes of memory the cache holds: each tensor's whole storage (a buffer's room included),
  /// counted once however many of its tensors view it.
  std::int64_t bytes() const;
};

/// Clears a cache when the forward pass that holds it fails before release(): a half-updated
/// cache would break the next step with a confusing shape error, an empty one restarts cleanly.
class CacheGuard {
 public:
  explicit CacheGuard(KvCache* cache) : cache_(cache) {}
  ~CacheGuard() {
    if (cache_) cache_->clear();
  }
  CacheGuard(const CacheGuard&) = delete;
  CacheGuard& operator=(const CacheGuard&) = delete;
  void release() { cache_ = nullptr; }

 private:
  KvCache* cache_;
};

}  // namespace lmlab
