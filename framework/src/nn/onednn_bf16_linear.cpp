#include "nn/onednn_bf16_linear.hpp"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/version.h>

// oneDNN 2.x's C++ API (oneDNN 3 replaced matmul::desc); another major version takes at::linear.
#if defined(LMLAB_HAVE_ONEDNN) && TORCH_VERSION_MAJOR < 2 && __has_include(<oneapi/dnnl/dnnl_version.h>)
#include <oneapi/dnnl/dnnl_version.h>
#if DNNL_VERSION_MAJOR == 2
#define LMLAB_ONEDNN_BF16_LINEAR 1
#include <oneapi/dnnl/dnnl.hpp>
#endif
#endif

namespace lmlab::nn {

#ifdef LMLAB_ONEDNN_BF16_LINEAR
namespace {

// What a primitive is built for: rows, C_in, C_out, the row strides of x and the weight, a bias,
// and the intra-op threads. oneDNN fixes a primitive's thread count when it builds it, and a
// decoding step may run on one thread or all (generation/step_threads.hpp).
using Shape = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, bool, int>;

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Per thread: a primitive keeps its own scratch memory, so two threads must never execute the
// same one at once. Decoding meets a handful of shapes (one per distinct layer width, batch size
// and thread count), so the map stays small; it is emptied if a caller ever cycles through many.
thread_local std::map<Shape, dnnl::matmul> t_primitives;
thread_local std::size_t t_primitives_built = 0;

dnnl::memory::desc rows_desc(std::int64_t rows, std::int64_t cols, std::int64_t ld) {
  return dnnl::memory::desc({rows, cols}, dnnl::memory::data_type::bf16, dnnl::memory::dims{ld, 1});
}

// The weight (C_out, C_in) read as the (C_in, C_out) matrix the product multiplies by.
dnnl::memory::desc weight_desc(std::int64_t c_in, std::int64_t c_out, std::int64_t ld) {
  return dnnl::memory::desc({c_in, c_out}, dnnl::memory::data_type::bf16, dnnl::memory::dims{1, ld});
}

dnnl::memory::desc bias_desc(std::int64_t c_out) {
  return dnnl::memory::desc({1, c_out}, dnnl::memory::data_type::bf16, dnnl::memory::format_tag::ab);
}

// The primitive for `shape`, built on this thread's first use of it.
dnnl::matmul primitive_for(const Shape& shape) {
  if (auto found = t_primitives.find(shape); found != t_primitives.end()) return found->second;
  if (t_primitives.size() >= 256) t_primitives.clear();
  [[maybe_unused]] const auto [rows, c_in, c_out, ld_x, ld_w, biased, threads] = shape;
  const auto dst = rows_desc(rows, c_out, c_out);
  const auto desc = biased ? dnnl::matmul::desc(rows_desc(rows, c_in, ld_x), weight_desc(c_in, c_out, ld_w),
                                                bias_desc(c_out), dst)
                           : dnnl::matmul::desc(rows_desc(rows, c_in, ld_x), weight_desc(c_in, c_out, ld_w), dst);
  dnnl::matmul built(dnnl::matmul::primitive_desc(desc, cpu_engine()));
  t_primitives.emplace(shape, built);
  ++t_primitives_built;
  return built;
}

bool dense_rows(const at::Tensor& t) { return t.dim() == 2 && t.stride(1) == 1 && t.stride(0) >= t.size(1); }

}  // namespace

bool onednn_bf16_linear_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const auto bf16_cpu = [](const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kBFloat16; };
  if (!bf16_cpu(x) || !bf16_cpu(weight) || x.dim() < 1 || x.numel() == 0 || weight.numel() == 0) return false;
  if (!dense_rows(weight) || x.size(-1) != weight.size(1) || x.stride(-1) != 1) return false;
  return !bias.defined() || (bf16_cpu(bias) && bias.dim() == 1 && bias.is_contiguous() && bias.size(0) == weight.size(0));
}

at::Tensor onednn_bf16_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const std::int64_t c_in = weight.size(1), c_out = weight.size(0);
  at::Tensor rows = x.reshape({-1, c_in});  // (N, C_in): a view for a step's (B, 1, C_in)
  if (!dense_rows(rows)) rows = rows.contiguous();
  const std::int64_t n = rows.size(0);
  std::vector<std::int64_t> out_sizes = x.sizes().vec();
  out_sizes.back() = c_out;
  at::Tensor y = at::empty(out_sizes, x.options());  // (..., C_out)
  const Shape shape{n, c_in, c_out, rows.stride(0), weight.stride(0), bias.defined(), at::get_num_threads()};
  try {
    const dnnl::matmul product = primitive_for(shape);
    const dnnl::engine& engine = cpu_engine();
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(rows_desc(n, c_in, rows.stride(0)), engine, rows.data_ptr())},
        {DNNL_ARG_WEIGHTS, dnnl::memory(weight_desc(c_in, c_out, weight.stride(0)), engine, weight.data_ptr())},
        {DNNL_ARG_DST, dnnl::memory(rows_desc(n, c_out, c_out), engine, y.data_ptr())}};
    if (bias.defined()) args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_desc(c_out), engine, bias.data_ptr()));
    thread_local dnnl::stream stream(engine);
    product.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    throw std::runtime_error(fmt::format("oneDNN bf16 product of {} x {} x {} failed: {} (status {})", n, c_in,
                                         c_out, e.what(), static_cast<int>(e.status)));
  }
  return y;  // (..., C_out)
}

std::size_t onednn_bf16_primitives_built() { return t_primitives_built; }

#else

bool onednn_bf16_linear_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return false; }

at::Tensor onednn_bf16_linear(const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  throw std::logic_error("onednn_bf16_linear: this build has no oneDNN 2 (see onednn_bf16_linear_applies())");
}

std::size_t onednn_bf16_primitives_built() { return 0; }

#endif

}  // namespace lmlab::nn
