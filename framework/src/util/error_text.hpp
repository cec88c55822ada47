/// What an exception says to a user. LibTorch's errors (c10::Error) carry a C++ backtrace of ~20
/// frames that buries the one line that matters; it is shown only when LMLAB_DEBUG is set.
#pragma once
#include <exception>
#include <string>

namespace lmlab {

/// `error.what()`, without LibTorch's backtrace unless the environment sets LMLAB_DEBUG.
std::string error_text(const std::exception& error);

}  // namespace lmlab
