// util/format: the numbers and durations people read in progress lines, reports and `lmlab check`.
#include "support/catch.hpp"

#include <limits>

#include "util/format.hpp"

namespace format_tests {

TEST_CASE("durations read like a person writes them") {
  CHECK(lmlab::format_duration(12.2) == "12s");
  CHECK(lmlab::format_duration(187) == "3m07s");
  CHECK(lmlab::format_duration(3720) == "1h02m");
}

TEST_CASE("format_value: four significant digits, large values in full, nan spelled out") {
  CHECK(lmlab::format_value(2.718281828) == "2.718");
  CHECK(lmlab::format_value(0.000123456) == "0.0001235");
  CHECK(lmlab::format_value(-1.5) == "-1.5");
  CHECK(lmlab::format_value(9999.4) == "9999");
  // From 1e4 on a value is a count (tokens, parameters): every digit, no exponent.
  CHECK(lmlab::format_value(123456.7) == "123457");
  CHECK(lmlab::format_value(-20000.0) == "-20000");
  CHECK(lmlab::format_value(std::numeric_limits<double>::quiet_NaN()) == "nan");
}

}  // namespace format_tests
