/// What a plugin library includes: the Registrar it fills and LMLAB_PLUGIN, which exports its
/// ABI record and its one registration function.
///
///   void register_plugins(lmlab::Registrar& r) {
///     r.add<lmlab::DecodingStep>("temperature", "divide logits by T", options(), make_temperature);
///   }
///   LMLAB_PLUGIN(register_plugins)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <boost/dll/alias.hpp>
#include <torch/version.h>

#include "lmlab/error.hpp"
#include "lmlab/options.hpp"
#include "lmlab/registry.hpp"

namespace lmlab {

/// Bumped whenever a kind's interface or a type crossing the boundary changes (4: a DecodingStep
/// holds the name it was registered under; 5: lmlab::nn::linear, which the SDK's layers and
/// plugins call, and KV caches that may be views into a larger buffer; 6: ModelStepper's history
/// is a view into a buffer with room, and GenerateOptions reports progress; 7: the tokenizer kind, and objectives get the tokenizer's
/// special ids; 8: TransformerOptions holds BERT's parts, token_types to head_bias; 9: T5's head_width
/// and scale_attention, and MultiHeadAttention's layout with them).
inline constexpr std::uint32_t abi_version = 9;

/// Plain data, so the host can read a plugin's record before trusting anything else about it.
struct AbiRecord {
  char magic[8];  // "LMLABABI"
  std::uint32_t record_size;
  std::uint32_t lmlab_abi;
  std::int32_t cxx11_abi;
  char torch_version[32];
  char compiler[64];
};

/// The record of the translation unit that calls it: the plugin's own when expanded there.
inline AbiRecord make_abi_record() {
  AbiRecord r{};
  const std::string magic = "LMLABABI";
  const std::string torch = TORCH_VERSION;
#if defined(__clang__)
  const std::string compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  const std::string compiler = std::string("gcc ") + __VERSION__;
#else
  const std::string compiler = "unknown";
#endif
  magic.copy(r.magic, sizeof r.magic);
  r.record_size = sizeof(AbiRecord);
  r.lmlab_abi = abi_version;
#ifdef _GLIBCXX_USE_CXX11_ABI
  r.cxx11_abi = _GLIBCXX_USE_CXX11_ABI;
#else
  r.cxx11_abi = -1;
#endif
  torch.copy(r.torch_version, sizeof r.torch_version - 1);
  compiler.copy(r.compiler, sizeof r.compiler - 1);
  return r;
}

/// What a plugin's registration function receives: adds named factories to the host's registry,
/// recording which library they came from.
class Registrar {
 public:
  Registrar(Registry& registry, std::string library) : registry_(registry), library_(std::move(library)) {}

  /// Registers plugin `name` of interface I, whose options struct O is declared by `options`.
  /// `make(const O&, const I::Context&)` returns a std::shared_ptr to the new object. `traits`
  /// says what an architecture can do, or what an objective needs of the architecture.
  template <class I, class O, class F>
  void add(std::string name, std::string help, OptionSet<O> options, F make, PluginTraits traits = {}) {
    Factory<I> f;
    f.info = PluginInfo{std::string(I::kind), std::move(name),           std::move(help), library_,
                        options.describe(),   options.describe_presets(), traits};
    f.resolve = [options](const toml::table& user, std::string_view path) {
      return options.to_toml(options.parse(user, path));
    };
    f.make = [options, make](const toml::table& resolved, const typename I::Context& context) {
      return std::shared_ptr<I>(make(options.parse(resolved, ""), context));
    };
    registry_.add<I>(std::move(f));
  }

  const std::string& library() const { return library_; }

 private:
  Registry& registry_;
  std::string library_;
};

/// The signature of a plugin's registration function.
using RegisterFunction = void(Registrar&);

}  // namespace lmlab

/// Exports the plugin library's ABI record (`lmlab_abi`) and registration function
/// (`lmlab_register`). Use exactly once per plugin library.
#define LMLAB_PLUGIN(register_function)                                              \
  namespace lmlab_plugin_exports {                                                   \
  const ::lmlab::AbiRecord abi_record = ::lmlab::make_abi_record();                 \
  void register_entry(::lmlab::Registrar& r) { register_function(r); }              \
  }                                                                                  \
  BOOST_DLL_ALIAS(lmlab_plugin_exports::abi_record, lmlab_abi)                       \
  BOOST_DLL_ALIAS(lmlab_plugin_exports::register_entry, lmlab_register)
