// Keeping some rows of a batch: what a search does to every per-row tensor it carries (the key/value
// cache's layers and masks, the stepper's history) when it reorders or drops sequences.
#pragma once
#include <ATen/ATen.h>

namespace lmlab::detail {

/// t := t[rows] along dimension 0; an undefined tensor (an unused cache slot) stays undefined.
inline void select_rows(at::Tensor& t, const at::Tensor& rows) {
  if (t.defined()) t = t.index_select(0, rows.to(t.device()));
}

}  // namespace lmlab::detail
