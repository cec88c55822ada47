/// lmlab's cache of the peak FLOP/s it measured, one small TOML file per user. Measuring takes
/// about half a second (measured_peak.hpp), which every run on a machine would otherwise repeat,
/// and the figure must be the same for every run the MFU of which is compared.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace lmlab {

/// What a measured peak depends on. A cached figure is used only for exactly the same key: other
/// threads, kernels or LibTorch give another figure.
struct PeakKey {
  std::string device;  // the CPU's model name, or the CUDA card's
  int threads = 0;     // intra-op threads (0 for a CUDA device, which they do not change)
  std::string dtype;   // "float32", "bfloat16" or "tf32"
  std::string blas;    // tune_blas_kernels().describe()
  std::string torch;   // LibTorch's version
  bool operator==(const PeakKey&) const = default;
};

struct CachedPeak {
  double flops_per_s = 0.0;
  std::string method;       // how it was measured: "2560x2560x2560 float32 matmul, best of 3 ..."
  std::string measured_at;  // ISO 8601 UTC
};

/// $LMLAB_CACHE_DIR/peak-flops.toml; else $XDG_CACHE_HOME/lmlab/peak-flops.toml; else
/// $HOME/.cache/lmlab/peak-flops.toml; empty when none of the three is set.
std::filesystem::path peak_cache_file();

/// The entry for `key` in `file`, or nothing: no file, no such entry, or a file that does not
/// parse. A half-written or hand-edited file is measured over and rewritten, never an error.
std::optional<CachedPeak> find_cached_peak(const std::filesystem::path& file, const PeakKey& key);

/// Adds or replaces the entry for `key`, keeping the other entries that parse. The file is
/// written beside itself and renamed over, so a run reading it concurrently sees the old file or
/// the new one, never half of one. Throws std::exception when the folder or file cannot be written.
void store_peak(const std::filesystem::path& file, const PeakKey& key, const CachedPeak& peak);

}  // namespace lmlab
