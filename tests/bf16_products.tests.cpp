// How a CPU bf16 run multiplies (training/bf16_products): LMLAB_CPU_BF16_PRODUCTS checked on
// every run, a resumed run's recorded choice above it, nothing chosen for float32 or CUDA.
#include <cstdlib>
#include <optional>
#include <string>

#include "lmlab/error.hpp"
#include "nn/cpu_bf16_products.hpp"
#include "training/bf16_products.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace bf16_products_tests {

using lmlab::nn::CpuBf16Products;

namespace {

// Sets LMLAB_CPU_BF16_PRODUCTS for a test and puts back what was there (the test main's).
class EnvScope {
 public:
  explicit EnvScope(const char* value) {
    if (const char* old = std::getenv(name)) before_ = old;
    setenv(name, value, 1);
  }
  ~EnvScope() {
    if (before_) setenv(name, before_->c_str(), 1);
    else unsetenv(name);
    lmlab::nn::set_cpu_bf16_products(CpuBf16Products::bf16_kernels);
    lmlab::nn::set_cpu_bf16_decoding_products(CpuBf16Products::float32_kernels);
  }

 private:
  static constexpr const char* name = "LMLAB_CPU_BF16_PRODUCTS";
  std::optional<std::string> before_;
};

const c10::Device cpu(c10::kCPU);

}  // namespace

TEST_CASE("bf16_products: the environment chooses, and a bad value is refused on any run", "[bf16_products]") {
  {
    EnvScope env("float32");
    const auto choice = lmlab::choose_bf16_products(cpu, true);
    CHECK(choice.products == CpuBf16Products::float32_kernels);
    CHECK(lmlab::nn::cpu_bf16_products() == CpuBf16Products::float32_kernels);
    // Forced, decoding steps too: the environment names one kernel for every product.
    CHECK(lmlab::nn::cpu_bf16_decoding_products() == CpuBf16Products::float32_kernels);
    CHECK(choice.decoding == CpuBf16Products::float32_kernels);
    CHECK_THAT(choice.describe(), Catch::Contains("LMLAB_CPU_BF16_PRODUCTS=float32"));
    CHECK_THAT(choice.describe(), !Catch::Contains("decoding steps"));
  }
  {
    EnvScope env("bf16");
    CHECK(lmlab::choose_bf16_products(cpu, true).products == CpuBf16Products::bf16_kernels);
    CHECK(lmlab::nn::cpu_bf16_decoding_products() == CpuBf16Products::bf16_kernels);
  }
  EnvScope env("fast");
  CHECK_THROWS_AS(lmlab::choose_bf16_products(cpu, false), lmlab::ConfigError);  // even for a float32 run
  CHECK_THROWS_WITH(lmlab::choose_bf16_products(cpu, true), Catch::Contains("accepted: bf16, float32"));
}

TEST_CASE("bf16_products: a float32 run keeps bf16 kernels, a resumed run its recorded choice", "[bf16_products]") {
  EnvScope env("bf16");
  lmlab::nn::set_cpu_bf16_products(CpuBf16Products::float32_kernels);
  CHECK(lmlab::choose_bf16_products(cpu, false).products == CpuBf16Products::bf16_kernels);
  const std::string recorded = lmlab::run_attribute(CpuBf16Products::float32_kernels);
  const auto resumed = lmlab::choose_bf16_products(cpu, true, recorded);
  CHECK(resumed.products == CpuBf16Products::float32_kernels);  // over the environment's bf16
  CHECK_THAT(resumed.reason, Catch::Contains("as the run started"));
  // Its decoding steps follow the CPU (AVX-512 BW/VL/DQ: bf16 kernels), and the text says so.
  CHECK(lmlab::nn::cpu_bf16_decoding_products() == resumed.decoding);
  CHECK((resumed.decoding == CpuBf16Products::bf16_kernels) ==
        (resumed.describe().find("; decoding steps on bf16 kernels") != std::string::npos));
  CHECK(lmlab::environment_value(CpuBf16Products::float32_kernels) == "float32");
}

}  // namespace bf16_products_tests
