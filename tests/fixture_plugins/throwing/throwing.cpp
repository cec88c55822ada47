// A plugin whose objects fail: its factory throws a std::runtime_error and its step throws
// when applied, so tests can check that the host re-throws with the plugin's name.
#include <stdexcept>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct Options {
  bool fail_in_factory = true;
};

class Failing final : public lmlab::DecodingStep {
 public:
  std::string name() const override { return "failing"; }
  void apply(lmlab::DecodeState&) override { throw std::runtime_error("failing step applied"); }
  std::shared_ptr<lmlab::DecodingStep> clone() const override { return std::make_shared<Failing>(*this); }
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>(
      "failing", "throws from its factory or from apply (tests only)",
      lmlab::OptionSet<Options>{}.add("fail_in_factory", &Options::fail_in_factory, "throw when constructed"),
      [](const Options& o, const lmlab::DecodingContext&) -> std::shared_ptr<lmlab::DecodingStep> {
        if (o.fail_in_factory) throw std::runtime_error("factory refused to build");
        return std::make_shared<Failing>();
      });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
