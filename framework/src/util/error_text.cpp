#include "util/error_text.hpp"

#include <cstdlib>

#include <c10/util/Exception.h>

namespace lmlab {

std::string error_text(const std::exception& error) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
  if (torch_error == nullptr || std::getenv("LMLAB_DEBUG") != nullptr) return error.what();
  return torch_error->what_without_backtrace();
}

}  // namespace lmlab
