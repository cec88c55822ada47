#include "lmlab/search.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace lmlab {

// Out of line, so the vtable and type_info live in the framework library that plugins link.
SearchStrategy::~SearchStrategy() = default;

void SearchStrategy::apply(DecodeState&) {
  throw std::logic_error(fmt::format("'{}' is a search strategy: it drives the model itself (through generate) "
                                     "and cannot be applied to one position's logits",
                                     name()));
}

}  // namespace lmlab
