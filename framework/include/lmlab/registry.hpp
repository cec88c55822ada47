/// One registry per plugin kind (after fairseq's registry.py): named factories, duplicates
/// rejected, and lookups that fail with the names that exist and the closest match.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <toml++/toml.h>

#include "lmlab/capabilities.hpp"
#include "lmlab/kinds.hpp"
#include "lmlab/options.hpp"

namespace lmlab {

/// What `lmlab plugins` shows of one registered plugin.
struct PluginInfo {
  std::string kind, name, help, library;
  std::vector<OptionInfo> options;
  std::vector<PresetInfo> presets;
  PluginTraits traits;  // what an architecture provides, what an objective needs
};

/// A named way to build one plugin of interface I from its TOML options.
template <class I>
struct Factory {
  PluginInfo info;
  /// Validates the user's option table (key path `path` for errors) and returns it with every
  /// default filled in.
  std::function<toml::table(const toml::table& user, std::string_view path)> resolve;
  /// Builds the plugin from a resolved option table.
  std::function<std::shared_ptr<I>(const toml::table& resolved, const typename I::Context& context)> make;
};

namespace detail {
[[noreturn]] void throw_unknown_plugin(std::string_view kind, std::string_view name,
                                       const std::vector<std::string>& known, const PluginInfo* other_kind);
[[noreturn]] void throw_duplicate_plugin(const PluginInfo& existing, const PluginInfo& incoming);
// Rejects traits that do not fit the kind: a regulariser that declares no hook point would never
// be called, and only an objective can be composite.
void check_traits(const PluginInfo& info);
template <class Kinds>
struct KindTuple;
template <class... Is>
struct KindTuple<KindList<Is...>> {
  using type = std::tuple<std::map<std::string, Factory<Is>, std::less<>>...>;
};
}  // namespace detail

/// All plugins the host has loaded, by kind.
class Registry {
 public:
  template <class I>
  void add(Factory<I> factory) {
    auto& map = std::get<Map<I>>(kinds_);
    factory.info.kind = std::string(I::kind);
    detail::check_traits(factory.info);
    if (auto it = map.find(factory.info.name); it != map.end()) detail::throw_duplicate_plugin(it->second.info, factory.info);
    if constexpr (std::is_same_v<I, DecodingStep>) record_name(factory);
    map.emplace(factory.info.name, std::move(factory));
  }

  /// The factory called `name`; unknown names fail listing the known ones, the closest first,
  /// and a name registered under another kind says which.
  template <class I>
  const Factory<I>& get(std::string_view name) const {
    const auto& map = std::get<Map<I>>(kinds_);
    if (auto it = map.find(name); it != map.end()) return it->second;
    const std::vector<PluginInfo> everything = all();
    for (const auto& info : everything) {
      if (info.name == name) detail::throw_unknown_plugin(I::kind, name, names<I>(), &info);
    }
    detail::throw_unknown_plugin(I::kind, name, names<I>(), nullptr);
  }

  template <class I>
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, f] : std::get<Map<I>>(kinds_)) out.push_back(name);
    return out;
  }

  /// Moves every plugin of `other` into this registry. A name already here is a duplicate, and
  /// then nothing is moved: a library registers all of its plugins or none.
  void merge(Registry&& other) {
    std::apply([&](const auto&... theirs) { (check_no_clash(theirs), ...); }, other.kinds_);
    std::apply([&](auto&... theirs) { (move_into(theirs), ...); }, other.kinds_);
  }

  /// Every registered plugin, by kind in PluginKinds order, then by name.
  std::vector<PluginInfo> all() const {
    std::vector<PluginInfo> out;
    std::apply([&](const auto&... maps) { (collect(maps, out), ...); }, kinds_);
    return out;
  }

 private:
  template <class I>
  using Map = std::map<std::string, Factory<I>, std::less<>>;
  // Every step the factory builds answers DecodingStep::name() with the name it is registered under.
  static void record_name(Factory<DecodingStep>& factory) {
    factory.make = [make = std::move(factory.make), name = factory.info.name](const toml::table& resolved,
                                                                              const DecodingContext& context) {
      std::shared_ptr<DecodingStep> step = make(resolved, context);
      if (step) step->registered_name_ = name;
      return step;
    };
  }
  template <class M>
  void check_no_clash(const M& theirs) const {
    const M& ours = std::get<M>(kinds_);
    for (const auto& [name, f] : theirs) {
      if (auto it = ours.find(name); it != ours.end()) detail::throw_duplicate_plugin(it->second.info, f.info);
    }
  }
  template <class M>
  void move_into(M& theirs) {
    std::get<M>(kinds_).merge(theirs);
  }
  template <class M>
  static void collect(const M& map, std::vector<PluginInfo>& out) {
    for (const auto& [name, f] : map) out.push_back(f.info);
  }

  typename detail::KindTuple<PluginKinds>::type kinds_;
};

}  // namespace lmlab
