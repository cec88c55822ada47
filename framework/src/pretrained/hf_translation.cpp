#include "pretrained/hf_translation.hpp"

#include <fmt/format.h>

#include "lmlab/error.hpp"

namespace lmlab::pretrained {

at::Tensor transposed(const std::vector<at::Tensor>& t) { return t[0].t(); }

at::Tensor as_is(const std::vector<at::Tensor>& t) { return t[0]; }

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
