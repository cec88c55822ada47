/// The host's wrapper around every call into plugin code: whatever escapes comes back as an
/// lmlab error that names the plugin and its library.
#pragma once
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "lmlab/error.hpp"
#include "lmlab/registry.hpp"

namespace lmlab {

namespace detail {
[[noreturn]] void rethrow_from_plugin(const PluginInfo& info, std::string_view during);
}

/// Runs `fn()`. A ConfigError or PluginError passes through unchanged (each already says where it
/// came from);
/// any other exception is re-thrown as PluginError "<kind> '<name>' (<library>) <during>: <what>".
template <class F>
decltype(auto) plugin_call(const PluginInfo& info, std::string_view during, F&& fn) {
  try {
    return std::forward<F>(fn)();
  } catch (...) {
    detail::rethrow_from_plugin(info, during);
  }
}

/// Validates `options` for plugin `name` of kind I and fills its defaults.
template <class I>
toml::table resolve_plugin(const Registry& registry, std::string_view name, const toml::table& options,
                           std::string_view path) {
  const Factory<I>& f = registry.get<I>(name);
  return plugin_call(f.info, "validating options", [&] { return f.resolve(options, path); });
}

/// Builds plugin `name` of kind I from resolved options.
template <class I>
std::shared_ptr<I> make_plugin(const Registry& registry, std::string_view name, const toml::table& resolved,
                               const typename I::Context& context) {
  const Factory<I>& f = registry.get<I>(name);
  return plugin_call(f.info, "construction", [&] { return f.make(resolved, context); });
}

}  // namespace lmlab
