/// Catch2 for lmlab's tests. LibTorch's logging (glog) defines a one-argument CHECK macro that
/// would replace Catch's whenever a LibTorch header comes after Catch; pulling glog in first and
/// dropping its CHECK makes the include order irrelevant.
#pragma once
#include <c10/util/Logging.h>
#undef CHECK
#include <catch2/catch.hpp>
