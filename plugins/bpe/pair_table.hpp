// The merge table as encoding reads it: an open-addressing hash table of pair keys, probed
// linearly, at most half full. std::unordered_map's division by a prime and its chain of nodes
// made the lookup a third of encoding time; here a lookup is a multiply, a shift and, nearly
// always, one cache line.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace bpe_plugin {

/// Merging a pair makes token `id`; the lowest `rank` present merges first.
struct Merge {
  std::int32_t rank;
  std::int32_t id;
};

class PairTable {
 public:
  void build(const std::unordered_map<std::uint64_t, Merge>& merges) {
    int bits = 4;
    while ((std::size_t{1} << bits) < 2 * merges.size()) ++bits;
    shift_ = 64 - bits;
    mask_ = (std::size_t{1} << bits) - 1;
    slots_.assign(mask_ + 1, Slot{empty, Merge{0, 0}});
    for (const auto& [key, merge] : merges) {
      std::size_t i = index(key);
      while (slots_[i].key != empty) i = (i + 1) & mask_;
      slots_[i] = Slot{key, merge};
    }
  }

  const Merge* find(std::uint64_t key) const {
    for (std::size_t i = index(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == empty) return nullptr;
    }
  }

 private:
  // Ids are below 2^31, so no pair's key has every bit set.
  static constexpr std::uint64_t empty = ~std::uint64_t{0};
  struct Slot {
    std::uint64_t key;
    Merge merge;
  };
  std::size_t index(std::uint64_t key) const { return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }

  std::vector<Slot> slots_{Slot{empty, Merge{0, 0}}};
  std::size_t mask_ = 0;
  int shift_ = 63;
};

}  // namespace bpe_plugin
