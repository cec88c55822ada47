// FusedAdamW: the same trajectory as torch::optim::AdamW (to float32 rounding) over many steps,
// with weight decay and without, from fresh state and from a state AdamW saved; the same
// numbers on every run and on any number of threads; AdamW's own path for what it cannot fuse.
#include <memory>
#include <sstream>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include "training/fused_adamw.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace fused_adamw_tests {

namespace {

// Parameters of a few shapes (one bigger than a thread's share of elements) and a gradient
// sequence that is the same for every optimizer that replays it.
std::vector<at::Tensor> make_params() {
  at::manual_seed(3);
  return {at::randn({70000}), at::randn({64, 33}), at::randn({5})};
}

at::Tensor gradient(std::int64_t step, std::size_t i, const at::Tensor& p) {
  at::Generator g = at::detail::createCPUGenerator(static_cast<std::uint64_t>(1000 * step + i));
  return at::randn(p.sizes(), g) * (1.0 + 0.1 * step);
}

torch::optim::AdamWOptions options(double weight_decay) {
  return torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(weight_decay);
}

template <typename Optimizer>
std::vector<at::Tensor> train(std::int64_t steps, double weight_decay, std::int64_t from = 0,
                              std::vector<at::Tensor> start = {}, std::stringstream* state = nullptr) {
  std::vector<at::Tensor> params = start.empty() ? make_params() : start;
  for (auto& p : params) p = p.clone().requires_grad_();
  Optimizer optimizer(params, options(weight_decay));
  if (state) {
    torch::serialize::InputArchive archive;
    archive.load_from(*state);
    optimizer.load(archive);
  }
  for (std::int64_t s = from; s < from + steps; ++s) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = gradient(s, i, params[i]);
    optimizer.step();
  }
  std::vector<at::Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone());
  return out;
}

void require_close(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, double tolerance) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("parameter " << i << ": largest difference " << (a[i] - b[i]).abs().max().item<double>());
    REQUIRE(at::allclose(a[i], b[i], tolerance, tolerance));
  }
}

void require_equal(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(at::equal(a[i], b[i]));
}

}  // namespace

TEST_CASE("FusedAdamW follows torch::optim::AdamW over many steps", "[fused_adamw]") {
  for (const double weight_decay : {0.0, 0.1}) {
    INFO("weight decay " << weight_decay);
    const auto reference = train<torch::optim::AdamW>(50, weight_decay);
    const auto fused = train<lmlab::FusedAdamW>(50, weight_decay);
    require_close(fused, reference, 1e-5);
    // Not the parameters it started from: the comparison is of a real trajectory.
    REQUIRE_FALSE(at::allclose(fused[0], make_params()[0], 1e-2, 1e-2));
  }
}

TEST_CASE("FusedAdamW is deterministic and the same on one thread as on several", "[fused_adamw]") {
  std::vector<at::Tensor> one, two, again;
  {
    lmlab::test::IntraOpThreads threads(1);
    one = train<lmlab::FusedAdamW>(20, 0.1);
  }
  {
    lmlab::test::IntraOpThreads threads(2);
    two = train<lmlab::FusedAdamW>(20, 0.1);
    again = train<lmlab::FusedAdamW>(20, 0.1);
  }
  require_equal(one, two);
  require_equal(two, again);
}

TEST_CASE("FusedAdamW continues from AdamW's saved state, and AdamW from its", "[fused_adamw]") {
  // 10 steps, saved, 10 more: the same as 20 in one go, whichever optimizer saved.
  const auto straight = train<lmlab::FusedAdamW>(20, 0.1);
  std::vector<at::Tensor> params = make_params();
  for (auto& p : params) p.requires_grad_();
  lmlab::FusedAdamW first(params, options(0.1));
  for (std::int64_t s = 0; s < 10; ++s) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = gradient(s, i, params[i]);
    first.step();
  }
  torch::serialize::OutputArchive archive;
  first.save(archive);
  std::stringstream saved;
  archive.save_to(saved);
  std::vector<at::Tensor> middle;
  for (const auto& p : params) middle.push_back(p.detach().clone());
  std::stringstream copy(saved.str());
  const auto resumed = train<lmlab::FusedAdamW>(10, 0.1, 10, middle, &saved);
  require_equal(resumed, straight);
  // AdamW reads the same state (its own format) and goes on to the same point, to rounding.
  const auto by_adamw = train<torch::optim::AdamW>(10, 0.1, 10, middle, &copy);
  require_close(by_adamw, straight, 1e-5);
}

TEST_CASE("FusedAdamW leaves what it cannot fuse to AdamW", "[fused_adamw]") {
  std::vector<at::Tensor> params = {at::randn({8, 4}, at::kDouble).requires_grad_()};
  lmlab::FusedAdamW fused(params, options(0.1));
  REQUIRE_FALSE(fused.fused());  // float64
  std::vector<at::Tensor> copies = {params[0].detach().clone().requires_grad_()};
  torch::optim::AdamW plain(copies, options(0.1));
  for (std::int64_t s = 0; s < 5; ++s) {
    params[0].mutable_grad() = gradient(s, 0, params[0]);
    copies[0].mutable_grad() = gradient(s, 0, copies[0]);
    fused.step();
    plain.step();
  }
  REQUIRE(at::equal(params[0].detach(), copies[0].detach()));
  std::vector<at::Tensor> floats = {at::randn({8, 4}).requires_grad_()};
  lmlab::FusedAdamW amsgrad(floats, options(0.1).amsgrad(true));
  REQUIRE_FALSE(amsgrad.fused());
  lmlab::FusedAdamW plain_floats(floats, options(0.1));
  REQUIRE(plain_floats.fused());
}

}  // namespace fused_adamw_tests
