// Which GEMM library a CPU run's float32 products take (training/float32_products):
// LMLAB_CPU_FLOAT32_PRODUCTS checked on every run, a resumed run's recorded choice above it,
// nothing but LibTorch's on CUDA or without oneDNN, and oneDNN where the CPU has AVX-512.
#include <cstdlib>
#include <optional>
#include <string>

#include "lmlab/error.hpp"
#include "nn/cpu_float32_products.hpp"
#include "nn/cpu_onednn.hpp"
#include "training/float32_products.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"

namespace float32_products_tests {

using lmlab::nn::CpuFloat32Products;

namespace {

// Sets (or, with nullptr, unsets) an environment variable for a test and puts back what was there.
class EnvScope {
 public:
  EnvScope(const char* name, const char* value) : name_(name), choice_(lmlab::nn::cpu_float32_products()) {
    if (const char* old = std::getenv(name)) before_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~EnvScope() {
    if (before_) setenv(name_, before_->c_str(), 1);
    else unsetenv(name_);
    lmlab::nn::set_cpu_float32_products(choice_);  // the process's choice, as the test found it
  }

 private:
  const char* name_;
  CpuFloat32Products choice_;
  std::optional<std::string> before_;
};

const c10::Device cpu(c10::kCPU);

}  // namespace

TEST_CASE("float32_products: the environment chooses, and a bad value is refused on any run", "[float32_products]") {
  {
    EnvScope env("LMLAB_CPU_FLOAT32_PRODUCTS", "onednn");
    const auto choice = lmlab::choose_float32_products(cpu);
    const auto expected = lmlab::nn::onednn_built() ? CpuFloat32Products::onednn : CpuFloat32Products::libtorch;
    CHECK(choice.products == expected);
    CHECK(lmlab::nn::cpu_float32_products() == expected);
    if (lmlab::nn::onednn_built()) CHECK_THAT(choice.describe(), Catch::Contains("LMLAB_CPU_FLOAT32_PRODUCTS=onednn"));
  }
  {
    EnvScope env("LMLAB_CPU_FLOAT32_PRODUCTS", "libtorch");
    CHECK(lmlab::choose_float32_products(cpu).products == CpuFloat32Products::libtorch);
  }
  EnvScope env("LMLAB_CPU_FLOAT32_PRODUCTS", "mkl");
  CHECK_THROWS_AS(lmlab::choose_float32_products(cpu), lmlab::ConfigError);
  CHECK_THROWS_WITH(lmlab::choose_float32_products(cpu), Catch::Contains("accepted: libtorch, onednn"));
}

TEST_CASE("float32_products: a resumed run keeps its recorded choice over the environment", "[float32_products]") {
  if (!lmlab::nn::onednn_built()) {
    WARN("skipped: this build has no oneDNN");
    return;
  }
  EnvScope env("LMLAB_CPU_FLOAT32_PRODUCTS", "libtorch");
  const auto resumed = lmlab::choose_float32_products(cpu, lmlab::run_attribute(CpuFloat32Products::onednn));
  CHECK(resumed.products == CpuFloat32Products::onednn);
  CHECK_THAT(resumed.reason, Catch::Contains("ignored on resume"));
  CHECK(lmlab::environment_value(CpuFloat32Products::onednn) == "onednn");
}

TEST_CASE("float32_products: oneDNN on an AVX-512 CPU, from its flags alone", "[float32_products]") {
  EnvScope unforced("LMLAB_CPU_FLOAT32_PRODUCTS", nullptr);
#if defined(__x86_64__) || defined(__i386__)
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  const bool avx512 = false;
#endif
  const auto choice = lmlab::choose_float32_products(cpu);
  const bool onednn = avx512 && lmlab::nn::onednn_built();
  CHECK(choice.products == (onednn ? CpuFloat32Products::onednn : CpuFloat32Products::libtorch));
  if (lmlab::nn::onednn_built()) CHECK_THAT(choice.describe(), Catch::Contains(avx512 ? "oneDNN 2" : "no AVX-512"));
  CHECK(lmlab::choose_float32_products(cpu).products == choice.products);  // the same every time
  CHECK(lmlab::choose_float32_products(c10::Device(c10::kCUDA, 0)).products == CpuFloat32Products::libtorch);
}

}  // namespace float32_products_tests
