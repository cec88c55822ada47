/// Numbers and durations as people read them, in progress lines, the sweep's view, reports and
/// `lmlab check`'s evidence.
#pragma once
#include <string>

namespace lmlab {

/// "1h02m", "3m07s", "12s".
std::string format_duration(double seconds);

/// A metric for people: four significant digits, large values (token counts, parameters) in full,
/// "nan" for NaN.
std::string format_value(double value);

}  // namespace lmlab
