// The peak FLOP/s MFU is measured against: the published table looked up by CUDA device name,
// the per-machine cache of measured peaks (round trip, damaged files), and the measurement.
#include "support/catch.hpp"

#include <cmath>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>

#include <ATen/Parallel.h>
#include <c10/core/Device.h>
#include <toml++/toml.h>

#include "support/test_support.hpp"
#include "training/blas_kernels.hpp"
#include "training/measured_peak.hpp"
#include "training/peak_cache.hpp"
#include "training/peak_flops.hpp"
#include "training/provenance.hpp"

namespace peak_flops_tests {

namespace fs = std::filesystem;
using lmlab::test::TempDir;

namespace {

// Sets an environment variable for a scope and restores what it was.
class ScopedCacheDir {
 public:
  explicit ScopedCacheDir(const fs::path& dir) {
    if (const char* old = std::getenv(name)) previous_ = old;
    setenv(name, dir.c_str(), 1);
  }
  ~ScopedCacheDir() {
    if (previous_) {
      setenv(name, previous_->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ScopedCacheDir(const ScopedCacheDir&) = delete;
  ScopedCacheDir& operator=(const ScopedCacheDir&) = delete;

 private:
  static constexpr const char* name = "LMLAB_CACHE_DIR";
  std::optional<std::string> previous_;
};

std::string card_of(const std::string& device_name) {
  const auto peak = lmlab::published_peak(device_name);
  return peak ? std::string(peak->card) : "unknown";
}

// The key run_peak_flops() uses for a float32 run on this CPU with the threads in force.
lmlab::PeakKey cpu_key(const std::string& dtype) {
  return {lmlab::cpu_model_name(), at::get_num_threads(), dtype, lmlab::tune_blas_kernels().describe(),
          lmlab::torch_version()};
}

}  // namespace

TEST_CASE("published peaks: CUDA device names find their card, variants before their family") {
  CHECK(card_of("NVIDIA H100 80GB HBM3") == "NVIDIA H100 SXM");
  CHECK(card_of("NVIDIA H100 PCIe") == "NVIDIA H100 PCIe");
  CHECK(card_of("NVIDIA H100 NVL") == "NVIDIA H100 NVL");
  CHECK(card_of("NVIDIA H200") == "NVIDIA H200 SXM");
  CHECK(card_of("NVIDIA H200 NVL") == "NVIDIA H200 NVL");
  CHECK(card_of("NVIDIA GH200 480GB") == "NVIDIA GH200");
  CHECK(card_of("NVIDIA A100-SXM4-40GB") == "NVIDIA A100");
  CHECK(card_of("NVIDIA A100 80GB PCIe") == "NVIDIA A100");
  CHECK(card_of("NVIDIA L40S") == "NVIDIA L40S");
  CHECK(card_of("NVIDIA L40") == "NVIDIA L40");
  CHECK(card_of("NVIDIA L4") == "NVIDIA L4");
  CHECK(card_of("NVIDIA A10") == "NVIDIA A10");
  CHECK(card_of("NVIDIA GeForce RTX 4090") == "NVIDIA GeForce RTX 4090");
  CHECK(card_of("NVIDIA RTX A6000") == "NVIDIA RTX A6000");
  // Other cards whose names contain a known one's: measured, never given another card's peak.
  CHECK(card_of("NVIDIA A10G") == "unknown");
  CHECK(card_of("NVIDIA GeForce RTX 4090 D") == "unknown");
  CHECK(card_of("NVIDIA GeForce RTX 4090 Laptop GPU") == "unknown");
  CHECK(card_of("NVIDIA H800") == "unknown");
  CHECK(card_of("Intel(R) Xeon(R) Processor") == "unknown");
  CHECK(card_of("") == "unknown");
}

TEST_CASE("published peaks: the dense figures per dtype") {
  const auto h100 = lmlab::published_peak("NVIDIA H100 80GB HBM3");
  REQUIRE(h100);
  CHECK(h100->bf16 == 989.5e12);  // the 989 TFLOP/s: 1,979 with 2:4 sparsity, halved
  CHECK(h100->tf32 == 494.5e12);
  CHECK(h100->fp32 == 67e12);
  const auto a100 = lmlab::published_peak("NVIDIA A100-SXM4-80GB");
  REQUIRE(a100);
  CHECK(a100->bf16 == 312e12);
  CHECK(a100->tf32 == 156e12);
  CHECK(a100->fp32 == 19.5e12);
}

TEST_CASE("peak cache: what is stored is found under its key only; other entries are kept") {
  TempDir dir;
  const fs::path file = dir / "cache" / "peak-flops.toml";
  const lmlab::PeakKey f32 = cpu_key("float32");
  lmlab::PeakKey bf16 = f32;
  bf16.dtype = "bfloat16";
  CHECK_FALSE(lmlab::find_cached_peak(file, f32));  // no file yet
  lmlab::store_peak(file, f32, {3.0e11, "a method", "2026-01-01T00:00:00Z"});
  lmlab::store_peak(file, bf16, {1.5e11, "another", "2026-01-02T00:00:00Z"});
  const auto found = lmlab::find_cached_peak(file, f32);
  REQUIRE(found);
  CHECK(found->flops_per_s == 3.0e11);
  CHECK(found->method == "a method");
  CHECK(found->measured_at == "2026-01-01T00:00:00Z");
  CHECK(lmlab::find_cached_peak(file, bf16)->flops_per_s == 1.5e11);
  lmlab::PeakKey other_threads = f32;
  other_threads.threads += 1;
  CHECK_FALSE(lmlab::find_cached_peak(file, other_threads));
  // Storing the same key again replaces its entry.
  lmlab::store_peak(file, f32, {3.5e11, "again", "2026-01-03T00:00:00Z"});
  CHECK(lmlab::find_cached_peak(file, f32)->flops_per_s == 3.5e11);
  CHECK(toml::parse_file(file.string())["peak"].as_array()->size() == 2);
  // The temporary file each store writes was renamed over the cache, not left beside it.
  CHECK(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator()) == 1);
}

TEST_CASE("peak cache: a damaged file is ignored, never an error, and rewritten whole by the next store") {
  TempDir dir;
  const fs::path file = dir / "peak-flops.toml";
  const lmlab::PeakKey key = cpu_key("float32");
  lmlab::store_peak(file, key, {3.0e11, "a method", "2026-01-01T00:00:00Z"});
  const std::string whole = lmlab::test::read_file(file);
  const std::string damaged = GENERATE_COPY(whole.substr(0, whole.size() - 40), std::string("\x01\x02 not toml [[["),
                                            std::string("[[peak]]\nflops_per_s = -1.0\n"));
  lmlab::test::write_file(file, damaged);
  CHECK_FALSE(lmlab::find_cached_peak(file, key));
  lmlab::store_peak(file, key, {2.0e11, "measured again", "2026-01-02T00:00:00Z"});
  CHECK(lmlab::find_cached_peak(file, key)->flops_per_s == 2.0e11);
  CHECK(toml::parse_file(file.string())["peak"].as_array()->size() >= 1);
}

TEST_CASE("peak cache: LMLAB_CACHE_DIR names the folder") {
  TempDir dir;
  ScopedCacheDir scope(dir.path());
  CHECK(lmlab::peak_cache_file() == dir / "peak-flops.toml");
}

TEST_CASE("a CPU run's peak is read from the cache when the cache has it") {
  TempDir dir;
  ScopedCacheDir scope(dir.path());
  // A figure no measurement gives: the run must have read it from the file.
  lmlab::store_peak(dir / "peak-flops.toml", cpu_key("float32"), {1.25e9, "planted", "2026-01-01T00:00:00Z"});
  const lmlab::PeakFlops peak = lmlab::run_peak_flops(c10::Device(c10::kCPU), false);
  CHECK(peak.flops_per_s == 1.25e9);
  CHECK(peak.source.rfind("measured: planted on ", 0) == 0);
  CHECK_THAT(peak.source, Catch::Contains("cached in " + (dir / "peak-flops.toml").string()));
}

TEST_CASE("a bf16 CPU run's MFU peak is the faster of the bf16 and float32 products") {
  TempDir dir;
  ScopedCacheDir scope(dir.path());
  const fs::path file = dir / "peak-flops.toml";
  const c10::Device cpu(c10::kCPU);
  lmlab::store_peak(file, cpu_key("float32"), {2.0e9, "planted float32", "2026-01-01T00:00:00Z"});
  lmlab::store_peak(file, cpu_key("bfloat16"), {1.0e9, "planted bf16", "2026-01-01T00:00:00Z"});
  // Its products may run on the float32 kernels (bf16_products.hpp): MFU must not pass 1 by that.
  const lmlab::PeakFlops slower_bf16 = lmlab::mfu_peak_flops(cpu, true);
  CHECK(slower_bf16.flops_per_s == 2.0e9);
  CHECK(slower_bf16.source.rfind("float32's, the faster (2 against bf16's 1 GFLOP/s): measured: planted float32", 0) ==
        0);
  CHECK(lmlab::run_peak_flops(cpu, true).flops_per_s == 1.0e9);  // the dtype's own peak is unchanged
  lmlab::store_peak(file, cpu_key("bfloat16"), {3.0e9, "planted bf16", "2026-01-01T00:00:00Z"});
  CHECK(lmlab::mfu_peak_flops(cpu, true).flops_per_s == 3.0e9);
  CHECK(lmlab::mfu_peak_flops(cpu, false).flops_per_s == 2.0e9);
}

TEST_CASE("a CPU run's peak is measured when the cache lacks it, and a damaged cache is no error") {
  TempDir dir;
  ScopedCacheDir scope(dir.path());
  lmlab::test::write_file(dir / "peak-flops.toml", "[[peak]\ndevice = ");
  const lmlab::PeakFlops peak = lmlab::run_peak_flops(c10::Device(c10::kCPU), true);
  CHECK(std::isfinite(peak.flops_per_s));
  CHECK(peak.flops_per_s > 1e8);
  CHECK(peak.source.rfind("measured: ", 0) == 0);
  CHECK_THAT(peak.source, Catch::Contains("bfloat16 matmul"));
  // Cached unless other work shared the CPUs while it measured (then the next run measures again).
  if (peak.source.find("not cached") == std::string::npos) {
    CHECK(lmlab::find_cached_peak(dir / "peak-flops.toml", cpu_key("bfloat16"))->flops_per_s == peak.flops_per_s);
  }
}

TEST_CASE("the matmul measurement sizes its products and reports how much CPU it got") {
  const lmlab::MatmulRate rate = lmlab::time_matmul(c10::Device(c10::kCPU), c10::kFloat);
  CHECK(rate.flops_per_s > 1e8);
  CHECK(rate.n >= 1024);
  CHECK(rate.n <= 8192);
  CHECK(rate.n % 256 == 0);
  CHECK(rate.per_timing >= 1);
  CHECK(rate.samples == 3);
  CHECK(rate.cpu_share > 0.0);
  CHECK(rate.cpu_share < 1.5);
}

}  // namespace peak_flops_tests
