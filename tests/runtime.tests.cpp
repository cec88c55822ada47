// Devices, threads and autocast.
#include "support/catch.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/cuda.h>

#include "lmlab/error.hpp"
#include "training/runtime.hpp"

namespace runtime_tests {

TEST_CASE("threads default to the CPUs available, or what the config says") {
  CHECK(lmlab::available_cpus() >= 1);
  CHECK(lmlab::configure_threads(0) == lmlab::available_cpus());
  CHECK(lmlab::configure_threads(1) == 1);
  CHECK(at::get_num_threads() == 1);
}

TEST_CASE("device names resolve, and CUDA is refused clearly where absent") {
  CHECK(lmlab::resolve_device("cpu").is_cpu());
  CHECK_THROWS_WITH(lmlab::resolve_device("tpu"), Catch::Contains("accepted: auto, cpu, cuda, cuda:<i>"));
  if (torch::cuda::is_available()) {
    CHECK(lmlab::resolve_device("auto").is_cuda());
    CHECK(lmlab::resolve_device("cuda:0").is_cuda());
    CHECK_THROWS_AS(lmlab::resolve_device("cuda:99"), lmlab::ConfigError);
  } else {
    CHECK(lmlab::resolve_device("auto").is_cpu());
    CHECK_THROWS_WITH(lmlab::resolve_device("cuda"), Catch::Contains("no CUDA device"));
  }
}

TEST_CASE("bf16 autocast runs CPU matmuls in bf16 inside the scope only") {
  const auto a = at::randn({4, 8}), b = at::randn({8, 3});
  {
    lmlab::AutocastScope scope(c10::Device(c10::kCPU), true);
    CHECK(at::matmul(a, b).scalar_type() == at::kBFloat16);
  }
  CHECK(at::matmul(a, b).scalar_type() == at::kFloat);
  {
    lmlab::AutocastScope off(c10::Device(c10::kCPU), false);
    CHECK(at::matmul(a, b).scalar_type() == at::kFloat);
  }
}

TEST_CASE("CUDA autocast, where a GPU exists") {
  if (!torch::cuda::is_available()) {
    SUCCEED("no CUDA device: skipped");
    return;
  }
  const auto a = at::randn({4, 8}, at::device(at::kCUDA)), b = at::randn({8, 3}, at::device(at::kCUDA));
  lmlab::AutocastScope scope(c10::Device(c10::kCUDA, 0), true);
  CHECK(at::matmul(a, b).scalar_type() == at::kBFloat16);
}

}  // namespace runtime_tests
