/// Repetition in token sequences: which tokens belong to an n-gram that already occurred earlier
/// in the same sequence, the quantity sequence-level unlikelihood training penalises and the
/// seq-rep-n family of metrics measures (Welleck et al., ICLR 2020, section 5); and how many of
/// a sequence's n-grams are distinct, which seq-rep-n and distinct-n are ratios of.
#pragma once
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lmlab {

/// (B, L) bool, on the device of `tokens` (B, L) integer ids: true at every position j..j+n-1
/// of an n-gram starting at j whose same n tokens also start at some i < j of the same row.
/// Occurrences may overlap ([a a a a a], n = 2 marks positions 1..4); a row shorter than n has
/// no n-gram and nothing marked. Throws std::invalid_argument for n < 1 or tokens that are not
/// a 2-d integer tensor.
at::Tensor ngram_repeat_mask(const at::Tensor& tokens, std::int64_t n);

/// Counts n-grams of id sequences, all of them and the distinct ones. Within one sequence,
/// 1 - distinct/total is its seq-rep-n; over several, distinct/total is their distinct-n. An
/// n-gram never spans two added sequences. Exact: n-grams are compared id by id.
class NgramCounter {
 public:
  /// Throws std::invalid_argument for n < 1.
  explicit NgramCounter(std::size_t n);

  /// Counts the n-grams of `ids`: |ids| - n + 1 of them, none when it is shorter than n.
  void add(std::span<const std::int64_t> ids);

  std::size_t total() const { return total_; }                // n-grams added, repeats included
  std::size_t distinct() const { return distinct_.size(); }   // different n-grams among them

 private:
  std::size_t n_;
  std::size_t total_ = 0;
  std::set<std::vector<std::int64_t>> distinct_;
};

}  // namespace lmlab
