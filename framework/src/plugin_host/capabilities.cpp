#include "lmlab/capabilities.hpp"

#include <utility>

namespace lmlab {

namespace {

struct Flag {
  bool Capabilities::*have;
  std::optional<bool> Requirements::*need;
  const char* name;  // in a list of capabilities
  const char* yes;   // after "an architecture that", or "architecture 'x'"
  const char* no;    // the same, for its absence
};

constexpr Flag flags[] = {
    {&Capabilities::generates, &Requirements::generates, "generates", "generates", "does not generate"},
    {&Capabilities::bidirectional, &Requirements::bidirectional, "bidirectional", "is bidirectional",
     "is causal everywhere"},
    {&Capabilities::has_encoder, &Requirements::has_encoder, "has an encoder", "has an encoder", "has no encoder"},
    {&Capabilities::prefix, &Requirements::prefix, "takes prefix lengths", "takes prefix lengths",
     "takes no prefix lengths"},
};

std::string join_and(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
  return out;
}

}  // namespace

std::string describe(const Capabilities& c) {
  std::vector<std::string> parts;
  for (const auto& f : flags) {
    if (c.*f.have) parts.emplace_back(f.name);
  }
  return parts.empty() ? "none" : join_and(parts);
}

std::string describe(const Requirements& r) {
  std::vector<std::string> parts;
  for (const auto& f : flags) {
    if (r.*f.need) parts.emplace_back(*(r.*f.need) ? f.yes : f.no);
  }
  return parts.empty() ? "any architecture" : "an architecture that " + join_and(parts);
}

std::string describe(const HookPoints& h) {
  std::vector<std::string> parts;
  if (h.extra_loss) parts.emplace_back("adds a loss term");
  if (h.before_step) parts.emplace_back("acts on gradients before the step");
  if (h.after_step) parts.emplace_back("acts after the step");
  if (h.log) parts.emplace_back("logs to the run file");
  return parts.empty() ? "none" : join_and(parts);
}

std::optional<std::string> unmet(const Requirements& r, const Capabilities& c) {
  for (const auto& f : flags) {
    if (r.*f.need && *(r.*f.need) != c.*f.have) return std::string(c.*f.have ? f.yes : f.no);
  }
  return std::nullopt;
}

}  // namespace lmlab
