#include "experiment/integer_literal.hpp"

#include <cstdint>
#include <limits>

#include <fmt/format.h>

namespace lmlab {
namespace {

bool is_decimal_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex_digit(char c) { return is_decimal_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_octal_digit(char c) { return c >= '0' && c <= '7'; }
bool is_binary_digit(char c) { return c == '0' || c == '1'; }

}  // namespace

bool is_integer_literal(std::string_view text) {
  std::string_view digits = text;
  bool (*is_digit)(char) = is_decimal_digit;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o' || text[1] == 'b')) {
    digits = text.substr(2);
    is_digit = text[1] == 'x' ? is_hex_digit : text[1] == 'o' ? is_octal_digit : is_binary_digit;
  } else if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    digits = text.substr(1);
  }
  if (digits.empty() || !is_digit(digits.front()) || !is_digit(digits.back())) return false;
  // TOML has no leading zeros in decimals: "007" is a word, not a number.
  if (is_digit == is_decimal_digit && digits.size() > 1 && digits.front() == '0') return false;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    // Underscores only between digits, as TOML has them (the ends are digits, checked above).
    if (digits[i] == '_' && is_digit(digits[i + 1]) && is_digit(digits[i - 1])) continue;
    if (!is_digit(digits[i])) return false;
  }
  return true;
}

std::string integer_overflow_message(std::string_view literal) {
  constexpr std::size_t shown = 40;
  const std::string text = literal.size() <= shown
                               ? std::string(literal)
                               : fmt::format("{}... ({} characters)", literal.substr(0, shown), literal.size());
  return fmt::format("{} is out of range for a 64-bit integer", text);
}

std::string integer_range_text() {
  return fmt::format("integers from {} to {}", std::numeric_limits<std::int64_t>::min(),
                     std::numeric_limits<std::int64_t>::max());
}

}  // namespace lmlab
