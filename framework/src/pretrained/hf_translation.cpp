#include "pretrained/hf_translation.hpp"

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "pretrained/hf_config.hpp"

namespace lmlab::pretrained {

at::Tensor transposed(const std::vector<at::Tensor>& t) { return t[0].t(); }

at::Tensor as_is(const std::vector<at::Tensor>& t) { return t[0]; }

std::int64_t lmlab_sentinels(HfConfig& config) {
  const std::int64_t n = config.optional_integer("lmlab_sentinels").value_or(0);
  if (n < 0 || n > 10000) config.refuse("lmlab_sentinels", "must be between 0 and 10000");
  return n;
}

WeightSource tied_head_check(const std::string& head, const std::string& embedding) {
  return {{head, embedding}, [head, embedding](const std::vector<at::Tensor>& t) {
            if (!t[0].equal(t[1])) {
              throw DataError(fmt::format("{} differs from {}, but the config ties them (tie_word_embeddings)", head,
                                          embedding));
            }
            return at::Tensor();
          }};
}

}  // namespace lmlab::pretrained
