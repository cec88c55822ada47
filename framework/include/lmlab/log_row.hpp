/// One row of named values, as a plugin hands it to the host for its group of the run file
/// (RegulariserLog::append). The host's run-file writer takes the same type.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace lmlab {

using LogValue = std::variant<std::int64_t, double, std::string>;
using LogRow = std::vector<std::pair<std::string, LogValue>>;

}  // namespace lmlab
