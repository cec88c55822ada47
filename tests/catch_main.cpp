// The Catch2 main of lmlab_tests: the same BLAS kernels as the lmlab program, then Catch2's own.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "training/blas_kernels.hpp"

int main(int argc, char** argv) {
  lmlab::tune_blas_kernels();
  return Catch::Session().run(argc, argv);
}
