// A library whose ABI record claims another lmlab ABI and LibTorch: the host must refuse it
// before calling anything in it. Its registration function would register a plugin if called.
#include <boost/dll/alias.hpp>

#include "lmlab/plugin.hpp"

namespace {

lmlab::AbiRecord wrong_record() {
  lmlab::AbiRecord r = lmlab::make_abi_record();
  r.lmlab_abi = 999;
  const std::string torch = "0.4.1";
  std::fill(std::begin(r.torch_version), std::end(r.torch_version), '\0');
  torch.copy(r.torch_version, sizeof r.torch_version - 1);
  return r;
}

const lmlab::AbiRecord record = wrong_record();

void register_entry(lmlab::Registrar&) { throw std::logic_error("bad_abi: registration must never be called"); }

}  // namespace

BOOST_DLL_ALIAS(record, lmlab_abi)
BOOST_DLL_ALIAS(register_entry, lmlab_register)
