#include "distributed/agreement.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/error.hpp"

namespace lmlab::distributed {

void require_same_as_rank0(const ProcessGroup& group, const std::vector<std::int64_t>& values, const std::string& what,
                           const std::string& hint) {
  // On the group's device: NCCL reduces CUDA tensors only.
  std::vector<at::Tensor> root{at::tensor(values, at::kLong).to(group.device())};
  group.wait(group.collectives().broadcast(root), fmt::format("the broadcast of {} from rank 0", what));
  const at::Tensor root_values = root[0].to(at::kCPU);
  const std::vector<std::int64_t> theirs(root_values.data_ptr<std::int64_t>(),
                                         root_values.data_ptr<std::int64_t>() + values.size());
  const bool differs = theirs != values;
  std::vector<at::Tensor> verdict{at::tensor({static_cast<std::int64_t>(differs)}, at::kLong).to(group.device())};
  group.wait(group.collectives().allreduce(verdict), fmt::format("the comparison of {} with rank 0's", what));
  const std::int64_t ranks_differing = verdict[0].to(at::kCPU).item<std::int64_t>();
  if (ranks_differing == 0) return;
  if (differs)
    throw Error(fmt::format("distributed: rank {}: {} ({}) differ from rank 0's ({}); {}", group.rank(), what,
                            fmt::join(values, ", "), fmt::join(theirs, ", "), hint));
  throw Error(fmt::format("distributed: {} of {} ranks: {} differ from rank 0's ({}); {}", ranks_differing,
                          group.size(), what, fmt::join(theirs, ", "), hint));
}

}  // namespace lmlab::distributed
