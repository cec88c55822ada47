#include "training/peak_cache.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "experiment/toml_limits.hpp"
#include "lmlab/error.hpp"

namespace fs = std::filesystem;

namespace lmlab {

namespace {

constexpr const char* kPeakCacheName = "peak-flops.toml";

// The cache's [[peak]] entries; none when the file is missing or does not parse.
toml::array read_peak_entries(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return {};
  try {
    std::ifstream in(file, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    toml::table doc = parse_toml(text, file.string());
    if (toml::array* peaks = doc["peak"].as_array()) return std::move(*peaks);
  } catch (const Error&) {
    // Truncated by a crash, edited by hand or hostile: treated as empty, so it is measured and
    // rewritten (parse_toml refuses what could crash the parser).
  }
  return {};
}

bool entry_has_key(const toml::table& t, const PeakKey& key) {
  return t["device"].value_or(std::string()) == key.device && t["threads"].value_or(std::int64_t{-1}) == key.threads &&
         t["dtype"].value_or(std::string()) == key.dtype && t["blas"].value_or(std::string()) == key.blas &&
         t["torch"].value_or(std::string()) == key.torch;
}

toml::table peak_entry(const PeakKey& key, const CachedPeak& peak) {
  return toml::table{{"device", key.device},        {"threads", static_cast<std::int64_t>(key.threads)},
                     {"dtype", key.dtype},          {"blas", key.blas},
                     {"torch", key.torch},          {"flops_per_s", peak.flops_per_s},
                     {"method", peak.method},       {"measured_at", peak.measured_at}};
}

}  // namespace

fs::path peak_cache_file() {
  const auto env = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value ? value : "";
  };
  if (!env("LMLAB_CACHE_DIR").empty()) return fs::path(env("LMLAB_CACHE_DIR")) / kPeakCacheName;
  if (!env("XDG_CACHE_HOME").empty()) return fs::path(env("XDG_CACHE_HOME")) / "lmlab" / kPeakCacheName;
  if (!env("HOME").empty()) return fs::path(env("HOME")) / ".cache" / "lmlab" / kPeakCacheName;
  return {};
}

std::optional<CachedPeak> find_cached_peak(const fs::path& file, const PeakKey& key) {
  for (const toml::node& node : read_peak_entries(file)) {
    const toml::table* t = node.as_table();
    if (!t || !entry_has_key(*t, key)) continue;
    CachedPeak peak{(*t)["flops_per_s"].value_or(0.0), (*t)["method"].value_or(std::string()),
                    (*t)["measured_at"].value_or(std::string())};
    // A figure no measurement gives is an edited or damaged entry: measure again.
    if (std::isfinite(peak.flops_per_s) && peak.flops_per_s > 0) return peak;
  }
  return std::nullopt;
}

void store_peak(const fs::path& file, const PeakKey& key, const CachedPeak& peak) {
  toml::array entries;
  for (toml::node& node : read_peak_entries(file)) {
    if (const toml::table* t = node.as_table(); t && !entry_has_key(*t, key)) entries.push_back(*t);
  }
  entries.push_back(peak_entry(key, peak));
  fs::create_directories(file.parent_path());
  const fs::path temporary = fs::path(file).concat(fmt::format(".{}.tmp", ::getpid()));
  try {
    std::ofstream out(temporary, std::ios::trunc);
    out << "# The peak FLOP/s lmlab measured on this machine, which runs state their MFU against\n"
           "# (docs/performance.md, \"MFU\"). Delete the file, or an entry, to measure again.\n\n"
        << toml::table{{"peak", std::move(entries)}} << '\n';
    out.close();
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", temporary.string()));
    fs::rename(temporary, file);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

}  // namespace lmlab
