#include "training/peak_flops.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <set>
#include <utility>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "training/blas_kernels.hpp"
#include "training/measured_peak.hpp"
#include "training/provenance.hpp"

namespace lmlab {

namespace {

// A table row: the card, which words its CUDA name has (and must not have), and its peaks.
struct CardPattern {
  std::array<std::string_view, 2> words;  // all present ("" is no word)
  std::array<std::string_view, 2> unless;  // words that name another card, all absent
  PublishedPeak peak;
};

constexpr double tera = 1e12;
constexpr std::string_view h100_sheet = "NVIDIA H100 Tensor Core GPU datasheet, dense";
constexpr std::string_view h200_sheet = "NVIDIA H200 Tensor Core GPU datasheet, dense";
constexpr std::string_view gh200_sheet = "NVIDIA GH200 Grace Hopper Superchip datasheet, dense";
constexpr std::string_view a100_sheet = "NVIDIA A100 Tensor Core GPU datasheet, dense";
constexpr std::string_view l40s_sheet = "NVIDIA L40S datasheet, dense";
constexpr std::string_view l40_sheet = "NVIDIA L40 datasheet, dense";
constexpr std::string_view l4_sheet = "NVIDIA L4 Tensor Core GPU datasheet, dense";
constexpr std::string_view a10_sheet = "NVIDIA A10 Tensor Core GPU datasheet, dense";
constexpr std::string_view ada_paper = "NVIDIA Ada GPU architecture whitepaper, appendix A, dense";
constexpr std::string_view ga102_paper = "NVIDIA Ampere GA102 GPU architecture whitepaper, dense";

// First match wins, so a variant's row comes before its family's. Where a datasheet gives only
// the figure with 2:4 sparsity (H100, H200, L4: "1,979 TFLOPS*"), the dense one is its half.
// Cards missing here are measured as a CPU is.
constexpr std::array<CardPattern, 13> published_cards{{
    // {words}, {unless}, {card, bf16, tf32, fp32, reference}
    {{"H100", "PCIE"}, {}, {"NVIDIA H100 PCIe", 756.5 * tera, 378 * tera, 51 * tera, h100_sheet}},
    {{"H100", "NVL"}, {}, {"NVIDIA H100 NVL", 835.5 * tera, 417.5 * tera, 60 * tera, h100_sheet}},
    {{"H100", ""}, {}, {"NVIDIA H100 SXM", 989.5 * tera, 494.5 * tera, 67 * tera, h100_sheet}},
    {{"H200", "NVL"}, {}, {"NVIDIA H200 NVL", 835.5 * tera, 417.5 * tera, 60 * tera, h200_sheet}},
    {{"H200", ""}, {}, {"NVIDIA H200 SXM", 989.5 * tera, 494.5 * tera, 67 * tera, h200_sheet}},
    {{"GH200", ""}, {}, {"NVIDIA GH200", 989.5 * tera, 494.5 * tera, 67 * tera, gh200_sheet}},
    {{"A100", ""}, {}, {"NVIDIA A100", 312 * tera, 156 * tera, 19.5 * tera, a100_sheet}},
    {{"L40S", ""}, {}, {"NVIDIA L40S", 362.05 * tera, 183 * tera, 91.6 * tera, l40s_sheet}},
    {{"L40", ""}, {}, {"NVIDIA L40", 181.05 * tera, 90.5 * tera, 90.5 * tera, l40_sheet}},
    {{"L4", ""}, {}, {"NVIDIA L4", 121 * tera, 60 * tera, 30.3 * tera, l4_sheet}},
    {{"A10", ""}, {}, {"NVIDIA A10", 125 * tera, 62.5 * tera, 31.2 * tera, a10_sheet}},
    {{"RTX", "4090"}, {"D", "LAPTOP"}, {"NVIDIA GeForce RTX 4090", 165.2 * tera, 82.6 * tera, 82.6 * tera, ada_paper}},
    {{"RTX", "A6000"}, {}, {"NVIDIA RTX A6000", 154.8 * tera, 77.4 * tera, 38.7 * tera, ga102_paper}},
}};

// The upper-case words of a device name: "NVIDIA A100-SXM4-40GB" is NVIDIA, A100, SXM4, 40GB.
std::set<std::string> name_words(std::string_view name) {
  std::set<std::string> words;
  std::string word;
  for (const char c : std::string(name) + ' ') {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      words.insert(std::exchange(word, {}));
    }
  }
  return words;
}

// Whether cuBLAS may run float32 products in TF32. LibTorch 2.9+ throws here when the legacy and
// the new TF32 switches disagree; cuBLAS calls then fail the same way, so plain float32 is as
// good an answer as any.
bool cublas_uses_tf32() {
  try {
    return at::globalContext().allowTF32CuBLAS();
  } catch (const c10::Error&) {
    return false;
  }
}

// The dtype a run's matrix products compute in: a measured peak's key and a published one's column.
std::string peak_dtype(const c10::Device& device, bool bf16) {
  if (bf16) return "bfloat16";
  return device.is_cuda() && cublas_uses_tf32() ? "tf32" : "float32";
}

PeakFlops published_flops(const PublishedPeak& card, const std::string& dtype) {
  const double flops = dtype == "bfloat16" ? card.bf16 : dtype == "tf32" ? card.tf32 : card.fp32;
  return {flops, fmt::format("published: {}, {} ({})", card.card, dtype, card.reference)};
}

}  // namespace

std::optional<PublishedPeak> published_peak(std::string_view device_name) {
  const std::set<std::string> words = name_words(device_name);
  const auto has = [&](std::string_view w) { return words.count(std::string(w)) > 0; };
  for (const CardPattern& row : published_cards) {
    const bool all = std::all_of(row.words.begin(), row.words.end(), [&](auto w) { return w.empty() || has(w); });
    const bool none = std::none_of(row.unless.begin(), row.unless.end(), [&](auto w) { return !w.empty() && has(w); });
    if (all && none) return row.peak;
  }
  return std::nullopt;
}

// The driver API, asked through libcuda itself: LibTorch's CPU builds (Debian's) carry no CUDA
// headers, and the driver is present wherever a CUDA device is.
std::string cuda_device_name(int index) {
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver) return "";
  using Init = int (*)(unsigned);
  using Get = int (*)(int*, int);
  using Name = int (*)(char*, int, int);
  const auto init = reinterpret_cast<Init>(dlsym(driver, "cuInit"));
  const auto get = reinterpret_cast<Get>(dlsym(driver, "cuDeviceGet"));
  const auto name = reinterpret_cast<Name>(dlsym(driver, "cuDeviceGetName"));
  std::array<char, 256> text{};
  int device = 0;
  const bool ok = init && get && name && init(0) == 0 && get(&device, index) == 0 &&
                  name(text.data(), static_cast<int>(text.size()), device) == 0;
  return ok ? std::string(text.data()) : "";  // the library stays loaded: LibTorch uses it anyway
}

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
  }
  return "unknown CPU";
}

PeakFlops run_peak_flops(const c10::Device& device, bool bf16) {
  const std::string dtype = peak_dtype(device, bf16);
  const c10::ScalarType scalar = bf16 ? c10::kBFloat16 : c10::kFloat;
  if (device.is_cuda()) {
    const std::string name = cuda_device_name(std::max<int>(0, device.index()));
    if (const auto card = published_peak(name)) return published_flops(*card, dtype);
    return measured_peak(device, scalar, {name.empty() ? "unnamed CUDA device" : name, 0, dtype, "", torch_version()});
  }
  const PeakKey key{cpu_model_name(), at::get_num_threads(), dtype, tune_blas_kernels().describe(), torch_version()};
  return measured_peak(device, scalar, key);
}

PeakFlops mfu_peak_flops(const c10::Device& device, bool bf16) {
  PeakFlops peak = run_peak_flops(device, bf16);
  if (!bf16 || !device.is_cpu()) return peak;
  const PeakFlops float32 = run_peak_flops(device, false);
  if (float32.flops_per_s <= peak.flops_per_s) return peak;
  return {float32.flops_per_s,
          fmt::format("float32's, the faster ({:.0f} against bf16's {:.0f} GFLOP/s): {}", float32.flops_per_s / 1e9,
                      peak.flops_per_s / 1e9, float32.source)};
}

}  // namespace lmlab
