/// The headers every test unit parses, precompiled once for lmlab_tests (tests/CMakeLists.txt):
/// the tree's LibTorch header and Catch2 (through support/catch.hpp, which orders it after glog).
#pragma once
#include "lmlab_pch.hpp"
#include "support/catch.hpp"
