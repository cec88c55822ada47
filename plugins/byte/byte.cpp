// The byte-level tokenizer: every UTF-8 byte is one id, so nothing is ever out of vocabulary and
// any text round-trips. Its ids (bytes 0-255, then pad, bos, eos, mask and 100 sentinels) are
// those of every lmlab run from before tokenizers were plugins; the class itself is part of the
// SDK (lmlab/tokenizer.hpp) because tests and the host's defaults build it directly.
#include <memory>

#include "lmlab/plugin.hpp"
#include "lmlab/tokenizer.hpp"

namespace {

struct ByteOptions {};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Tokenizer>("byte", "UTF-8 bytes as ids 0-255, then pad, bos, eos, mask and 100 sentinels",
                          lmlab::OptionSet<ByteOptions>{},
                          [](const ByteOptions&, const lmlab::TokenizerContext&) {
                            return std::make_shared<lmlab::ByteTokenizer>();
                          });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
