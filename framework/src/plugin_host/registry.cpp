#include "lmlab/registry.hpp"

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "util/error_text.hpp"
#include "util/suggest.hpp"

namespace lmlab::detail {

namespace {
std::string with_article(std::string_view noun) {
  const bool vowel = !noun.empty() && std::string_view("aeiou").find(noun[0]) != std::string_view::npos;
  return fmt::format("{} {}", vowel ? "an" : "a", noun);
}
}  // namespace

void throw_unknown_plugin(std::string_view kind, std::string_view name, const std::vector<std::string>& known,
                          const PluginInfo* other_kind) {
  // A decoding plugin is one step of a chain, and named so where a step is misspelt.
  const std::string noun = kind == "decoding" ? "decoding step" : std::string(kind);
  // The name is user text: quoted cut, so a megabyte name makes a short message.
  std::string message = fmt::format("unknown {} '{:.80}'{}", noun, name, name.size() > 80 ? "..." : "");
  if (other_kind) {
    message += fmt::format(": '{}' is {} plugin (from {}), not {}", name, with_article(other_kind->kind),
                           other_kind->library, with_article(kind));
  } else {
    message += did_you_mean(name, known);
  }
  message += known.empty() ? fmt::format("; no {} plugins are loaded", noun)
                           : fmt::format("; known {} plugins: {}", noun, join(known));
  throw PluginError(message);
}

void throw_duplicate_plugin(const PluginInfo& existing, const PluginInfo& incoming) {
  throw PluginError(fmt::format("duplicate {} plugin '{}': registered by {} and again by {}", existing.kind,
                                existing.name, existing.library, incoming.library));
}

void check_traits(const PluginInfo& info) {
  if (info.kind == "regulariser" && info.traits.hooks.empty()) {
    throw PluginError(fmt::format("regulariser '{}' from {} declares no hook point; set PluginTraits::hooks "
                                  "(loss, gradients, after_step, logs)",
                                  info.name, info.library));
  }
  if (info.kind != "regulariser" && !info.traits.hooks.empty()) {
    throw PluginError(fmt::format("{} '{}' from {} declares hook points, which only regularisers have", info.kind,
                                  info.name, info.library));
  }
  if (info.kind != "objective" && info.traits.composite) {
    throw PluginError(fmt::format("{} '{}' from {} is marked composite, which only objectives can be", info.kind,
                                  info.name, info.library));
  }
}

void rethrow_from_plugin(const PluginInfo& info, std::string_view during) {
  const std::string who = fmt::format("{} '{}' ({})", info.kind, info.name, info.library);
  try {
    throw;
  } catch (const ConfigError&) {
    throw;
  } catch (const PluginError&) {
    throw;  // already names the plugin it came from (a step called inside another plugin's call)
  } catch (const std::exception& e) {
    throw PluginError(fmt::format("{} failed during {}: {}", who, during, error_text(e)));
  } catch (...) {
    throw PluginError(fmt::format("{} failed during {}: unknown exception", who, during));
  }
}

}  // namespace lmlab::detail
