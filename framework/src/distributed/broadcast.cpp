// Rank 0's model everywhere: parameters and buffers broadcast before the first step.
#include <map>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "distributed/gradient_reducer.hpp"
#include "lmlab/error.hpp"

namespace lmlab::distributed {
namespace {

// Every rank's tensor count and total size against rank 0's, so that models that differ fail
// with a message rather than pairing unrelated bytes.
void check_same_model(const std::vector<at::Tensor>& tensors, const ProcessGroup& group) {
  std::int64_t values = 0;
  for (const auto& t : tensors) values += t.numel();
  const std::int64_t mine[2] = {static_cast<std::int64_t>(tensors.size()), values};
  at::Tensor shape = at::tensor({mine[0], mine[1]}, at::kLong);
  std::vector<at::Tensor> io{shape};
  group.wait(group.collectives().broadcast(io), "the broadcast of the model's shape from rank 0");
  const auto* root = shape.data_ptr<std::int64_t>();
  if (root[0] != mine[0] || root[1] != mine[1])
    throw Error(fmt::format("distributed: rank {}'s model has {} tensors of {} values, rank 0's {} of {}; every rank "
                            "must build the same model",
                            group.rank(), mine[0], mine[1], root[0], root[1]));
}

}  // namespace

void broadcast_parameters(torch::nn::Module& module, const ProcessGroup& group) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> tensors;
  for (const auto& p : module.parameters()) tensors.push_back(p.detach());
  for (const auto& b : module.buffers()) tensors.push_back(b.detach());
  check_same_model(tensors, group);
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
