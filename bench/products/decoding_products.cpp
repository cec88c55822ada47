// A decoding step's products at the bench models' shapes, timed side by side in one process:
//   at::linear   LibTorch 1.13's bf16 product: oneDNN through ideep, which describes the product
//                and looks its primitive up at every call
//   primitive    nn::onednn_bf16_linear: the same oneDNN kernel, its primitive built once per shape
//   float32      the input rounded to bf16 and widened back, then nn::thin_product (at::linear on
//                one thread) with the weight's bf16-rounded float32 copy, the result rounded to
//                bf16: the float32 path, which a bf16 run's decoding steps take where LibTorch
//                lacks vectorised bf16 kernels
// Each is timed over --reps calls, alternating, --rounds times; the medians and the ratio of the
// first two are printed. bench/README.md says when to run it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "nn/cpu_onednn.hpp"
#include "nn/cpu_thin_products.hpp"
#include "nn/onednn_bf16_linear.hpp"
#include "training/blas_kernels.hpp"

namespace {

struct Shape {
  const char* what;
  std::int64_t c_in, c_out;
};

// Microseconds per call of `f` over `reps` calls, after a warm-up.
double per_call_us(const std::function<void()>& f, int reps) {
  for (int i = 0; i < std::max(10, reps / 20); ++i) f();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / reps;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"a decoding step's bf16 products: LibTorch's at::linear against a reused oneDNN primitive"};
  std::int64_t rows = 16;
  int threads = 2, reps = 2000, rounds = 5;
  app.add_option("--rows", rows, "rows per product: the batch of a decoding step (default 16)")->check(CLI::Range(1, 4096));
  app.add_option("--threads", threads, "intra-op threads (default 2)")->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "calls per timing (default 2000)")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "alternating timings per variant (default 5)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (!lmlab::nn::onednn_built()) {
    std::fprintf(stderr, "this build has no oneDNN (libdnnl-dev at configure time, LibTorch < 2): nothing to compare\n");
    return 2;
  }
  const std::string blas = lmlab::tune_blas_kernels().describe();
  at::set_num_threads(threads);
  at::manual_seed(1);
  const std::vector<Shape> shapes{{"small: q, k, v or out", 256, 256}, {"small: MLP up", 256, 1024},
                                  {"small: MLP down", 1024, 256},      {"small: head", 256, 360},
                                  {"large: q, k, v or out", 384, 384}, {"large: MLP up", 384, 1536},
                                  {"large: MLP down", 1536, 384},      {"large: head", 384, 360}};
  fmt::print("{} rows, {} threads, {} calls per timing, median of {} alternating timings; {}; {}\n\n", rows,
             threads, reps, rounds, lmlab::nn::onednn_version(), blas);
  fmt::print("| product | C_in x C_out | at::linear bf16 us | primitive us | at::linear / primitive | float32 thin product us |\n");
  fmt::print("|---|---|---|---|---|---|\n");
  at::NoGradGuard no_grad;
  for (const Shape& s : shapes) {
    const at::Tensor x = at::randn({rows, 1, s.c_in}).to(at::kBFloat16);        // (B, 1, C_in): a step
    const at::Tensor w = (at::randn({s.c_out, s.c_in}) * 0.05).to(at::kBFloat16);  // (C_out, C_in)
    const at::Tensor w32 = w.to(at::kFloat);  // the bf16-rounded weight, as RoundedWeightScope keeps it
    std::vector<double> ideep, primitive, float32;
    for (int r = 0; r < rounds; ++r) {
      ideep.push_back(per_call_us([&] { at::linear(x, w); }, reps));
      primitive.push_back(per_call_us([&] { lmlab::nn::onednn_bf16_linear(x, w, at::Tensor()); }, reps));
      float32.push_back(per_call_us(
          [&] {
            const at::Tensor rounded = x.to(at::kFloat);  // x is bf16 already: the widening linear() pays
            const at::Tensor y = lmlab::nn::thin_product_applies(rounded, w32, at::Tensor())
                                     ? lmlab::nn::thin_product(rounded, w32, at::Tensor())
                                     : at::linear(rounded, w32);
            (void)y.to(at::kBFloat16);
          },
          reps));
    }
    fmt::print("| {} | {} x {} | {:.1f} | {:.1f} | {:.2f} | {:.1f} |\n", s.what, s.c_in, s.c_out, median(ideep),
               median(primitive), median(ideep) / median(primitive), median(float32));
  }
  return 0;
}
