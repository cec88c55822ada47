/// The peak FLOP/s a run's model FLOPs utilisation (mfu.hpp) is measured against, for its device
/// and precision: a CUDA card's published dense figure where lmlab knows the card, otherwise (a
/// CPU, an unknown card) a matrix product lmlab times on the machine itself (measured_peak.hpp).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <c10/core/Device.h>

namespace lmlab {

struct PeakFlops {
  double flops_per_s = 0.0;
  std::string source;  // "published: NVIDIA H100 SXM, dense bf16 (...)" or "measured: ..."
};

/// A card's dense peaks (FLOP/s, without 2:4 sparsity) from its maker's datasheet or whitepaper.
struct PublishedPeak {
  std::string_view card;       // "NVIDIA H100 SXM"
  double bf16 = 0.0;           // bf16 tensor cores, fp32 accumulation
  double tf32 = 0.0;           // tf32 tensor cores: float32 matmuls with TF32 allowed
  double fp32 = 0.0;           // plain float32
  std::string_view reference;  // where the figures are published
};

/// The card a CUDA device name ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB") names, or
/// nothing for a card missing from the table (whose peak is then measured).
std::optional<PublishedPeak> published_peak(std::string_view device_name);

/// The name the CUDA driver gives device `index`; empty when no driver answers.
std::string cuda_device_name(int index);

/// The CPU's model name from /proc/cpuinfo ("Intel(R) Xeon(R) Processor"), or "unknown CPU".
std::string cpu_model_name();

/// The peak of matrix products on `device` in bf16 or float32 (`bf16` false): on CUDA, float32
/// counts at the TF32 rate when LibTorch lets cuBLAS use TF32. Measures (or reads the cache)
/// with the intra-op threads in force, so call it after configure_threads().
PeakFlops run_peak_flops(const c10::Device& device, bool bf16);

/// What a run's MFU is measured against: run_peak_flops(), except that a bf16 run on a CPU gets
/// the faster of the bf16 and float32 peaks, since its products may run on float32 kernels
/// (bf16_products.hpp), and its MFU must not pass 1 by choosing the faster kernels.
PeakFlops mfu_peak_flops(const c10::Device& device, bool bf16);

}  // namespace lmlab
