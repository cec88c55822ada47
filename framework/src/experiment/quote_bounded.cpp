#include "experiment/quote_bounded.hpp"

#include <fmt/format.h>

namespace lmlab {

std::string quote_bounded(std::string_view text, std::size_t max_chars, char quote) {
  std::string out(1, quote);
  for (const char c : text.substr(0, max_chars)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  if (text.size() > max_chars) out += "...";
  out += quote;
  if (text.size() > max_chars) out += fmt::format(" ({} bytes)", text.size());
  return out;
}

}  // namespace lmlab
