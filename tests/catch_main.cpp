// The Catch2 main of lmlab_tests: the same BLAS kernels as the lmlab program, a peak-FLOP/s
// cache of the build's own, then Catch2's own. The cache folder replaces any LMLAB_CACHE_DIR the
// developer set: tests never write into a user's cache (peaks measured while tests share the
// CPUs would mislead every later run there). bf16 runs multiply on the float32 kernels unless
// the developer chose otherwise, and float32 products on oneDNN (where built) likewise: a choice
// measured per test process could differ between the two halves of a resume test run while the
// suite loads the CPUs, and oneDNN is what this project's machines choose.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "generated/test_paths.hpp"
#include "training/blas_kernels.hpp"

int main(int argc, char** argv) {
  lmlab::tune_blas_kernels();
  setenv("LMLAB_CACHE_DIR", (std::string(lmlab::test_paths::binary_dir) + "/test-cache").c_str(), 1);
  setenv("LMLAB_CPU_BF16_PRODUCTS", "float32", 0);
  setenv("LMLAB_CPU_FLOAT32_PRODUCTS", "onednn", 0);
  return Catch::Session().run(argc, argv);
}
