#include "merge.hpp"

#include <array>
#include <cstring>
#include <limits>
#include <queue>

namespace bpe_plugin {

namespace {

constexpr std::int32_t no_merge = std::numeric_limits<std::int32_t>::max();

// The scan tiktoken uses: ranks[i] is the rank of the pair (ids[i], ids[i+1]).
void merge_linear(const Vocabulary& v, std::string_view piece, std::vector<std::int32_t>& out) {
  std::array<std::int32_t, linear_merge_limit> ids;
  std::array<Merge, linear_merge_limit> pairs;
  std::size_t n = piece.size();
  for (std::size_t i = 0; i < n; ++i) ids[i] = v.byte_id[static_cast<unsigned char>(piece[i])];
  auto pair_at = [&](std::size_t i) {
    const Merge* m = v.find(ids[i], ids[i + 1]);
    return m ? *m : Merge{no_merge, -1};
  };
  for (std::size_t i = 0; i + 1 < n; ++i) pairs[i] = pair_at(i);
  while (n > 1) {
    std::size_t best = 0;
    for (std::size_t i = 1; i + 1 < n; ++i) {
      if (pairs[i].rank < pairs[best].rank) best = i;
    }
    if (pairs[best].rank == no_merge) break;
    ids[best] = pairs[best].id;
    // Drop ids[best + 1] and its pair; the pairs on either side of the new token change.
    std::memmove(&ids[best + 1], &ids[best + 2], (n - best - 2) * sizeof(ids[0]));
    if (best + 2 < n) std::memmove(&pairs[best + 1], &pairs[best + 2], (n - best - 3) * sizeof(pairs[0]));
    --n;
    if (best > 0) pairs[best - 1] = pair_at(best - 1);
    if (best + 1 < n) pairs[best] = pair_at(best);
  }
  out.insert(out.end(), ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
}

// The same order of merges from a heap of candidate pairs over a linked list of tokens. A
// candidate goes stale when either of its tokens has changed since it was pushed: a token's id
// changes by merging with its right neighbour, and becomes -1 when it merges into its left one
// (a stale candidate may still name a token that is gone; its id says so).
void merge_heap(const Vocabulary& v, std::string_view piece, std::vector<std::int32_t>& out) {
  struct Token {
    std::int32_t id, next;  // next: the index of the following live token, -1 at the end
    std::int32_t prev;
  };
  struct Candidate {
    std::int32_t rank, pos, left, right, result;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const auto n = static_cast<std::int32_t>(piece.size());
  std::vector<Token> tokens(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) {
    tokens[i] = {v.byte_id[static_cast<unsigned char>(piece[i])], i + 1 < n ? i + 1 : -1, i - 1};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](std::int32_t pos) {
    if (pos < 0 || tokens[pos].next < 0) return;
    const std::int32_t left = tokens[pos].id, right = tokens[tokens[pos].next].id;
    if (const Merge* m = v.find(left, right)) heap.push({m->rank, pos, left, right, m->id});
  };
  for (std::int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Token& t = tokens[c.pos];
    if (t.id != c.left || t.next < 0 || tokens[t.next].id != c.right) continue;
    const std::int32_t gone = t.next;
    t.id = c.result;
    t.next = tokens[gone].next;
    tokens[gone].id = -1;
    if (t.next >= 0) tokens[t.next].prev = c.pos;
    push(t.prev);
    push(c.pos);
  }
  for (std::int32_t i = 0; i >= 0; i = tokens[i].next) out.push_back(tokens[i].id);
}

}  // namespace

void merge_piece(const Vocabulary& v, std::string_view piece, std::vector<std::int32_t>& out) {
  if (piece.size() == 1) {
    out.push_back(v.byte_id[static_cast<unsigned char>(piece[0])]);
  } else if (piece.size() <= linear_merge_limit) {
    merge_linear(v, piece, out);
  } else {
    merge_heap(v, piece, out);
  }
}

}  // namespace bpe_plugin
