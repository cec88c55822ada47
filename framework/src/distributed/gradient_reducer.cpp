#include "distributed/gradient_reducer.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "distributed/agreement.hpp"
#include "lmlab/error.hpp"

namespace lmlab::distributed {

// Runs after the parameter's AccumulateGrad node, i.e. once its .grad holds this backward's
// (and any earlier micro-steps') gradient: a hook on the tensor itself (Tensor::register_hook)
// would run before the accumulation, with .grad not yet final.
struct GradientReducer::Hook : torch::autograd::FunctionPostHook {
  Hook(GradientReducer* reducer, std::size_t index) : reducer(reducer), index(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    reducer->on_gradient_ready(index);
    return outputs;
  }
  GradientReducer* reducer;
  std::size_t index;
};

GradientReducer::GradientReducer(std::vector<std::pair<std::string, at::Tensor>> parameters,
                                 std::shared_ptr<ProcessGroup> group, double bucket_mb)
    : group_(std::move(group)) {
  if (!(bucket_mb > 0) || bucket_mb > 1e6)
    throw ConfigError(fmt::format("[distributed] bucket_mb = {} is out of range: accepted (0, 1e6]", bucket_mb));
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    if (!it->second.requires_grad()) continue;
    if (!it->second.is_leaf())
      throw Error(
          fmt::format("distributed: parameter '{}' is not a leaf tensor; its gradient cannot be reduced", it->first));
    Param param;
    param.name = it->first;
    param.tensor = it->second;
    params_.push_back(std::move(param));
  }
  build_buckets(bucket_mb);
  check_same_layout();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    params_[i].accumulator = torch::autograd::impl::grad_accumulator(params_[i].tensor);
    params_[i].hook_key = params_[i].accumulator->add_post_hook(std::make_unique<Hook>(this, i));
  }
}

GradientReducer::~GradientReducer() {
  for (auto& param : params_)
    if (param.accumulator) param.accumulator->del_post_hook(param.hook_key);
}

void GradientReducer::build_buckets(double bucket_mb) {
  const double cap = bucket_mb * 1024.0 * 1024.0;
  double bytes = 0;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& t = params_[i].tensor;
    const bool new_bucket = buckets_.empty() || bytes >= cap ||
                            params_[buckets_.back().members.front()].tensor.scalar_type() != t.scalar_type() ||
                            params_[buckets_.back().members.front()].tensor.device() != t.device();
    if (new_bucket) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    params_[i].bucket = buckets_.size() - 1;
    params_[i].slot = bucket.members.size();
    params_[i].offset = bucket.numel;
    bucket.members.push_back(i);
    bucket.numel += t.numel();
    bytes += static_cast<double>(t.numel()) * static_cast<double>(t.element_size());
  }
  for (auto& bucket : buckets_) {
    const at::Tensor& first = params_[bucket.members.front()].tensor;
    bucket.flat = at::zeros({bucket.numel + static_cast<std::int64_t>(bucket.members.size())},
                            first.options().requires_grad(false));
    bucket.pending = bucket.members.size();
  }
}

// Ranks that bucket differently would pair unrelated gradients, or wait for each other forever.
void GradientReducer::check_same_layout() const {
  std::int64_t values = 0;
  for (const auto& bucket : buckets_) values += bucket.numel;
  require_same_as_rank0(*group_,
                        {static_cast<std::int64_t>(params_.size()), static_cast<std::int64_t>(buckets_.size()), values},
                        "the gradient buckets' parameter, bucket and value counts",
                        "every rank must build the same model with the same bucket_mb");
}

void GradientReducer::set_communicate(bool communicate) {
  std::lock_guard lock(mutex_);
  if (!communicate && next_bucket_ > 0)
    throw Error("distributed: set_communicate(false) while this step's buckets are being reduced; call finish() first");
  communicate_ = communicate;
}

void GradientReducer::on_gradient_ready(std::size_t index) {
  std::lock_guard lock(mutex_);
  if (!communicate_ || failed_) return;
  Param& param = params_[index];
  if (param.ready)
    throw Error(
        fmt::format("distributed: the gradient of '{}' became ready twice in one communicating step; "
                    "run one backward per step after set_communicate(true), then finish()",
                    param.name));
  const at::Tensor& grad = param.tensor.grad();
  if (!grad.defined()) return;  // nothing accumulated: finish() counts it as missing
  if (grad.is_sparse())
    throw Error(fmt::format("distributed: '{}' has a sparse gradient, which is not reduced", param.name));
  Bucket& bucket = buckets_[param.bucket];
  bucket.flat.narrow(0, param.offset, param.tensor.numel()).copy_(grad.reshape({-1}));
  bucket.flat[bucket.numel + static_cast<std::int64_t>(param.slot)].fill_(1);
  param.ready = true;
  --bucket.pending;
  // Buckets go out in index order on every rank (Gloo pairs collectives by order), so a full
  // bucket waits for the ones before it.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) launch(next_bucket_++);
}

// A member whose hook did not run this step contributes what its .grad holds (accumulated in
// earlier micro-steps, or zeroed) or, with no .grad at all, zeros and a zero flag.
void GradientReducer::fill_missing(Bucket& bucket) {
  for (std::size_t index : bucket.members) {
    Param& param = params_[index];
    if (param.ready) continue;
    const at::Tensor& grad = param.tensor.grad();
    auto slice = bucket.flat.narrow(0, param.offset, param.tensor.numel());
    if (grad.defined())
      slice.copy_(grad.reshape({-1}));
    else
      slice.zero_();
    bucket.flat[bucket.numel + static_cast<std::int64_t>(param.slot)].fill_(grad.defined() ? 1 : 0);
  }
  bucket.pending = 0;
}

void GradientReducer::launch(std::size_t index) {
  std::vector<at::Tensor> tensors{buckets_[index].flat};
  buckets_[index].work = group_->collectives().allreduce(tensors);
}

void GradientReducer::copy_back(Bucket& bucket) {
  bucket.flat.narrow(0, 0, bucket.numel).div_(group_->size());
  const at::Tensor flags =
      bucket.flat.narrow(0, bucket.numel, static_cast<std::int64_t>(bucket.members.size())).to(at::kCPU, at::kFloat);
  const float* flag = flags.data_ptr<float>();
  for (std::size_t index : bucket.members) {
    Param& param = params_[index];
    if (flag[param.slot] == 0) continue;  // no rank had a gradient: leave it undefined
    auto average = bucket.flat.narrow(0, param.offset, param.tensor.numel()).view(param.tensor.sizes());
    at::Tensor& grad = param.tensor.mutable_grad();
    if (grad.defined())
      grad.copy_(average);
    else
      grad = average.clone();
  }
}

void GradientReducer::finish() {
  std::lock_guard lock(mutex_);
  if (failed_) throw Error("distributed: the gradient reducer failed in an earlier step and cannot be used again");
  if (!communicate_)
    throw Error(
        "distributed: finish() on a micro-step that does not communicate; call set_communicate(true) before its "
        "backward");
  failed_ = true;  // until every bucket is back
  for (; next_bucket_ < buckets_.size(); ++next_bucket_) {
    fill_missing(buckets_[next_bucket_]);
    launch(next_bucket_);
  }
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    group_->wait(bucket.work,
                 fmt::format("the all-reduce of gradient bucket {} of {} ({} parameters, first '{}')", b + 1,
                             buckets_.size(), bucket.members.size(), params_[bucket.members.front()].name));
    copy_back(bucket);
  }
  reset_step();
  failed_ = false;
}

void GradientReducer::reset_step() {
  for (auto& param : params_) param.ready = false;
  for (auto& bucket : buckets_) {
    bucket.pending = bucket.members.size();
    bucket.work.reset();
  }
  next_bucket_ = 0;
}

std::vector<std::vector<std::string>> GradientReducer::bucket_names() const {
  std::vector<std::vector<std::string>> names;
  for (const auto& bucket : buckets_) {
    names.emplace_back();
    for (std::size_t index : bucket.members) names.back().push_back(params_[index].name);
  }
  return names;
}

std::vector<std::int64_t> GradientReducer::bucket_bytes() const {
  std::vector<std::int64_t> bytes;
  for (const auto& bucket : buckets_) bytes.push_back(bucket.numel * bucket.flat.element_size());
  return bytes;
}

}  // namespace lmlab::distributed
