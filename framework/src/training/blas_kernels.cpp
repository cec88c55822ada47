#include "training/blas_kernels.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

namespace lmlab {

namespace {

// OpenBLAS's kernel families by the widest vector instructions they use. A core missing from
// the table is never replaced: lmlab does not know what it is worth.
struct CoreLevel {
  std::string_view name;
  int level;  // 0 SSE, 1 AVX, 2 AVX2 + FMA, 3 AVX-512, 4 AVX-512 with bf16
};
constexpr std::array<CoreLevel, 25> core_levels{{
    {"katmai", 0},    {"coppermine", 0}, {"northwood", 0},  {"prescott", 0},    {"banias", 0},
    {"core2", 0},     {"penryn", 0},     {"dunnington", 0}, {"nehalem", 0},     {"atom", 0},
    {"nano", 0},      {"athlon", 0},     {"opteron", 0},    {"opteron_sse3", 0}, {"barcelona", 0},
    {"bobcat", 0},    {"sandybridge", 1}, {"bulldozer", 1}, {"piledriver", 1},  {"steamroller", 1},
    {"excavator", 1}, {"haswell", 2},    {"zen", 2},        {"skylakex", 3},    {"cooperlake", 4},
}};

int level_of(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const CoreLevel& c : core_levels) {
    if (c.name == name) return c.level;
  }
  return -1;
}

// The best OpenBLAS core for what this CPU executes, and its level; empty below AVX, and on
// other architectures (whose OpenBLAS detection lmlab leaves alone).
CoreLevel best_core_for_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512 && __builtin_cpu_supports("avx512bf16")) return {"Cooperlake", 4};
  if (avx512) return {"SkylakeX", 3};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"Haswell", 2};
  if (__builtin_cpu_supports("avx")) return {"Sandybridge", 1};
#endif
  return {"", 0};
}

// OpenBLAS's entry points, looked up in the process (LibTorch links the system BLAS); null
// members when the BLAS is another one. gotoblas_dynamic_quit/init re-run the load-time kernel
// choice, which reads OPENBLAS_CORETYPE.
struct OpenBlas {
  using Text = char* (*)();
  using Call = void (*)();
  Text config = reinterpret_cast<Text>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  Text corename = reinterpret_cast<Text>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  Call quit = reinterpret_cast<Call>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
  Call init = reinterpret_cast<Call>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
};

BlasKernels tune() {
  BlasKernels k;
  const OpenBlas blas;
  if (!blas.config || !blas.corename) {
    k.reason = "left as it is";
    return k;
  }
  k.library = blas.config();
  k.detected = k.chosen = blas.corename();
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE"); forced && *forced) {
    k.reason = fmt::format("OPENBLAS_CORETYPE={} chose it", forced);
    return k;
  }
  const CoreLevel best = best_core_for_cpu();
  const int current = level_of(k.detected);
  if (!blas.quit || !blas.init || current < 0 || best.name.empty() || current >= best.level) {
    k.reason = "OpenBLAS's own choice";
    return k;
  }
  // setenv before re-running the choice: OpenBLAS reads the variable itself. Replace nothing
  // the user set (checked above), and leave the variable set so that child processes agree.
  setenv("OPENBLAS_CORETYPE", std::string(best.name).c_str(), 0);
  blas.quit();
  blas.init();
  k.chosen = blas.corename();
  k.reason = fmt::format("switched: OpenBLAS chose {} on a CPU that runs {} kernels", k.detected, best.name);
  return k;
}

}  // namespace

std::string BlasKernels::describe() const {
  if (library.empty()) return "not OpenBLAS";
  const std::string_view name = std::string_view(library).substr(0, library.find(' ', library.find(' ') + 1));
  return fmt::format("{}, {} kernels", name, chosen);
}

std::string BlasKernels::explain() const { return fmt::format("{} ({})", describe(), reason); }

const BlasKernels& tune_blas_kernels() {
  static const BlasKernels kernels = tune();
  return kernels;
}

}  // namespace lmlab
