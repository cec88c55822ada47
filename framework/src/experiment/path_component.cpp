#include "experiment/path_component.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace lmlab {

std::optional<std::string> path_component_problem(std::string_view text) {
  if (text.empty()) return "it is empty";
  if (text.size() > max_path_component_bytes) return fmt::format("it is {} bytes long", text.size());
  if (text == ".") return "it names the folder itself";
  if (text.find('/') != std::string_view::npos) return "it contains '/'";
  if (text.find('\\') != std::string_view::npos) return "it contains '\\'";
  if (text.find("..") != std::string_view::npos) return "it contains '..'";
  const auto control = std::find_if(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  if (control != text.end()) return fmt::format("it contains the control character \\x{:02x}", *control);
  return std::nullopt;
}

std::string path_component_rule() {
  return fmt::format("1 to {} bytes, not '.', without '/', '\\', '..' or control characters",
                     max_path_component_bytes);
}

}  // namespace lmlab
