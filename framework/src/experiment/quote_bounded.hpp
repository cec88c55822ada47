/// User text quoted in error messages, cut to a bounded length: a 10 MB value must not make a
/// 10 MB message (or three copies of it).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace lmlab {

/// 'text' when it is at most `max_chars` bytes, else its first `max_chars` bytes and
/// "... (N bytes)". Control characters are shown as \xNN so the message stays one line.
std::string quote_bounded(std::string_view text, std::size_t max_chars = 80, char quote = '\'');

}  // namespace lmlab
