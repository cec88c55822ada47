/// Integers too large for 64 bits, reported as such: toml++ refuses them as a syntax error, and a
/// `--set` value that is not TOML would otherwise be read as a string ("expected an integer, got
/// string").
#pragma once
#include <string>
#include <string_view>

namespace lmlab {

/// A TOML integer literal by its shape, whatever its size: an optional sign and decimal digits
/// (with '_' between them), or 0x / 0o / 0b and digits of that base.
bool is_integer_literal(std::string_view text);

/// "<literal> is out of range for a 64-bit integer" (a long literal cut), and the accepted range.
std::string integer_overflow_message(std::string_view literal);
std::string integer_range_text();

}  // namespace lmlab
