// Rank 0's model everywhere: parameters and buffers broadcast before the first step.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <map>

#include "distributed/agreement.hpp"
#include "distributed/gradient_reducer.hpp"

namespace lmlab::distributed {

void broadcast_parameters(torch::nn::Module& module, const ProcessGroup& group) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> tensors;
  for (const auto& p : module.parameters()) tensors.push_back(p.detach());
  for (const auto& b : module.buffers()) tensors.push_back(b.detach());
  std::int64_t values = 0;
  for (const auto& t : tensors) values += t.numel();
  require_same_as_rank0(group, {static_cast<std::int64_t>(tensors.size()), values},
                        "the model's tensor and value counts", "every rank must build the same model");
  // One broadcast per dtype and device: tensors flattened into one buffer, then copied back.
  std::map<std::pair<int, int>, std::vector<std::size_t>> groups;  // a rank has one device: its type is the key
  for (std::size_t i = 0; i < tensors.size(); ++i)
    groups[{static_cast<int>(tensors[i].scalar_type()), static_cast<int>(tensors[i].device().type())}].push_back(i);
  for (const auto& [key, members] : groups) {
    std::vector<at::Tensor> flat_parts;
    for (std::size_t i : members) flat_parts.push_back(tensors[i].reshape({-1}));
    std::vector<at::Tensor> io{at::cat(flat_parts)};
    group.wait(group.collectives().broadcast(io), "the broadcast of the initial parameters from rank 0");
    std::int64_t offset = 0;
    for (std::size_t i : members) {
      tensors[i].copy_(io[0].narrow(0, offset, tensors[i].numel()).view(tensors[i].sizes()));
      offset += tensors[i].numel();
    }
  }
}

}  // namespace lmlab::distributed
