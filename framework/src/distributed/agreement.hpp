/// A check every rank makes together: that its values (a model's tensor count, a bucket layout)
/// equal rank 0's, so that ranks that would pair unrelated tensors all stop with a message
/// instead of corrupting each other's gradients or waiting for a collective that never comes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "distributed/process_group.hpp"

namespace lmlab::distributed {

/// Compares `values` with rank 0's (a broadcast, then an all-reduce of the verdict) and throws
/// an lmlab::Error on every rank if any rank's differ: the differing ranks name theirs and rank
/// 0's, the others how many ranks differ. `what` names the values ("the model's tensors and
/// values"), `hint` says what to fix.
void require_same_as_rank0(const ProcessGroup& group, const std::vector<std::int64_t>& values, const std::string& what,
                           const std::string& hint);

}  // namespace lmlab::distributed
