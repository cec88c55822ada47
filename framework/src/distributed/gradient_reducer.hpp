/// What PyTorch's DistributedDataParallel does around the process group, for LibTorch C++ (which
/// has no DDP module): gradients averaged over the ranks by all-reduce, bucket by bucket, each
/// bucket launched from autograd hooks as soon as its gradients are final, so communication
/// overlaps the rest of backward. See docs/distributed.md.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/csrc/autograd/function.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "distributed/process_group.hpp"

namespace lmlab::distributed {

/// Makes every rank's parameters and buffers of `module` equal to rank 0's (before the first
/// step, so all ranks start from the same model). The ranks' models must have the same tensors
/// in the same order and shapes; a mismatch is an lmlab::Error naming the ranks' counts.
void broadcast_parameters(torch::nn::Module& module, const ProcessGroup& group);

class GradientReducer {
 public:
  /// Buckets `parameters` (those that require a gradient) in reverse registration order, the
  /// order backward makes their gradients ready, closing a bucket once it holds about
  /// `bucket_mb` MiB (and at each change of dtype or device), and hooks each parameter's
  /// gradient accumulator. Every rank must pass the same parameters in the same order and
  /// construct its reducer together (it checks that rank 0 bucketed alike).
  GradientReducer(std::vector<std::pair<std::string, at::Tensor>> parameters, std::shared_ptr<ProcessGroup> group,
                  double bucket_mb);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// With gradient accumulation only the last micro-step communicates: switch off before the
  /// backward of the others (their gradients accumulate locally), on before the last's.
  void set_communicate(bool communicate);
  bool communicate() const { return communicate_; }

  /// After the backward of a communicating micro-step: launches the buckets that never filled
  /// (parameters without a gradient on this rank count as zeros), waits for every all-reduce
  /// within the group's timeout and leaves each parameter's .grad the average over the ranks.
  /// A parameter no rank produced a gradient for keeps an undefined .grad, as in one process.
  void finish();

  /// The parameter names of each bucket, in launch order.
  std::vector<std::vector<std::string>> bucket_names() const;
  /// Each bucket's size in bytes (gradient values, without the per-parameter flags).
  std::vector<std::int64_t> bucket_bytes() const;

 private:
  struct Hook;
  struct Param {
    std::string name;
    at::Tensor tensor;
    std::shared_ptr<torch::autograd::Node> accumulator;  // owned: a parameter only holds it weakly
    std::uintptr_t hook_key = 0;
    std::size_t bucket = 0;
    std::size_t slot = 0;     // index within the bucket (its flag)
    std::int64_t offset = 0;  // first element in the bucket's flat buffer
    bool ready = false;
  };
  struct Bucket {
    std::vector<std::size_t> members;
    std::int64_t numel = 0;
    at::Tensor flat;          // the gradients, then one flag per member: 1 where this rank had one
    std::size_t pending = 0;  // members whose gradients are not ready yet
    c10::intrusive_ptr<c10d::Work> work;
  };

  void build_buckets(double bucket_mb);
  void check_same_layout() const;
  void on_gradient_ready(std::size_t index);
  void fill_missing(Bucket& bucket);
  void launch(std::size_t bucket);
  void copy_back(Bucket& bucket);
  void reset_step();

  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::shared_ptr<ProcessGroup> group_;
  std::size_t next_bucket_ = 0;  // buckets launch strictly in order, the same on every rank
  bool communicate_ = true;
  bool failed_ = false;
  std::mutex mutex_;  // hooks may run on autograd's device threads
};

}  // namespace lmlab::distributed
