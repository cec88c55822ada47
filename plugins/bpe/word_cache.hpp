// The ids of words already merged. Text repeats its words, so most pieces are found here instead
// of merged again. encode() is const and runs on several threads at once (prepare encodes shards
// in parallel): the cache is split into shards, each with its own mutex, so threads rarely wait,
// and each shard is emptied when full, which bounds memory without bookkeeping per entry.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bpe_plugin {

class WordCache {
 public:
  /// Pieces longer than this are merged every time: they are rare, and would crowd out words.
  static constexpr std::size_t max_word_bytes = 64;

  /// Holds about `capacity` words; 0 turns the cache off.
  explicit WordCache(std::size_t capacity) : per_shard_(capacity == 0 ? 0 : capacity / shard_count + 1) {}

  bool enabled() const { return per_shard_ > 0; }

  /// Appends the ids of `word` to `out` when they are cached.
  template <class Out>
  bool find(std::string_view word, std::size_t hash, Out& out) const {
    Shard& s = shards_[hash % shard_count];
    std::lock_guard lock(s.mutex);
    const auto it = s.words.find(word);
    if (it == s.words.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }

  void insert(std::string_view word, std::size_t hash, const std::int32_t* ids, std::size_t n) const {
    Shard& s = shards_[hash % shard_count];
    std::lock_guard lock(s.mutex);
    if (s.words.size() >= per_shard_) s.words.clear();
    s.words.emplace(std::string(word), std::vector<std::int32_t>(ids, ids + n));
  }

 private:
  static constexpr std::size_t shard_count = 64;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<std::int32_t>, Hash, std::equal_to<>> words;
  };
  mutable std::array<Shard, shard_count> shards_;
  std::size_t per_shard_;
};

}  // namespace bpe_plugin
