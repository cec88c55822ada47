#include "lmlab/stepper.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>
#include <fmt/format.h>

#include "generation/select_rows.hpp"
#include "generation/step_threads.hpp"

namespace lmlab {

namespace {

/// The prompts left-padded into one (B, P) batch, and which positions are real.
struct PaddedPrompts {
  at::Tensor tokens;  // (B, P) int64
  at::Tensor valid;   // (B, P) bool
  bool padded = false;
};

PaddedPrompts pad_left(const std::vector<std::vector<std::int64_t>>& prompts, std::int64_t pad_id) {
  std::size_t longest = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) throw std::invalid_argument(fmt::format("generate: prompt {} is empty", i));
    longest = std::max(longest, prompts[i].size());
  }
  const auto B = static_cast<std::int64_t>(prompts.size()), P = static_cast<std::int64_t>(longest);
  std::vector<std::int64_t> flat(static_cast<std::size_t>(B * P), pad_id);
  std::vector<std::uint8_t> valid(flat.size(), 0);
  PaddedPrompts out;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const std::size_t offset = i * longest + (longest - prompts[i].size());
    std::copy(prompts[i].begin(), prompts[i].end(), flat.begin() + static_cast<std::ptrdiff_t>(offset));
    std::fill_n(valid.begin() + static_cast<std::ptrdiff_t>(offset), prompts[i].size(), 1);
    out.padded = out.padded || prompts[i].size() != longest;
  }
  out.tokens = at::tensor(flat, at::kLong).view({B, P});                  // (B, P)
  out.valid = at::tensor(valid, at::kByte).view({B, P}).to(at::kBool);  // (B, P)
  return out;
}

// Appends `column` (R, 1) to `view` (R, L), which is kept as the first L columns of `room`
// (R, capacity). While there is room the column is written in place; when there is none, or
// `view` no longer lies in `room` (a search reordered the rows), the history moves to a buffer
// with twice its width. Generating n tokens thus copies O(n) columns, not O(n^2).
void append_column(at::Tensor& room, at::Tensor& view, const at::Tensor& column) {
  const std::int64_t length = view.size(1);
  const bool in_room = room.defined() && room.size(0) == view.size(0) && view.data_ptr() == room.data_ptr() &&
                       view.strides() == room.strides();
  if (!in_room || length == room.size(1)) {
    at::Tensor wider = at::empty({view.size(0), std::max<std::int64_t>(16, 2 * (length + 1))}, view.options());  // (R, capacity)
    wider.narrow(1, 0, length).copy_(view);
    room = wider;
  }
  room.narrow(1, length, 1).copy_(column);  // (R, 1)
  view = room.narrow(1, 0, length + 1);     // (R, L + 1)
}

}  // namespace

at::Tensor entropy_of(const at::Tensor& log_probs) {
  // p log p with p = 0 is 0, but -inf * 0 is NaN: banned tokens are zeroed explicitly.
  const at::Tensor p_log_p = at::where(at::isinf(log_probs), at::zeros({}, log_probs.options()),
                                       log_probs.exp() * log_probs);  // (R, V)
  return -p_log_p.sum(-1);                                              // (R)
}

ModelStepper::ModelStepper(Architecture& model, const std::vector<std::vector<std::int64_t>>& prompts,
                           const StepperOptions& options, const c10::Device& device)
    : model_(model), options_(options), device_(device), caps_(model.capabilities()) {
  if (prompts.empty()) throw std::invalid_argument("generate: no prompts");
  if (!caps_.generates) throw std::invalid_argument("generate: the model does not generate (it has no causal decoder)");
  if (caps_.has_encoder && options.decoder_start_id < 0) {
    throw std::invalid_argument(fmt::format(
        "generate: an encoder-decoder needs decoder_start_id, the decoder's first token (got {})",
        options.decoder_start_id));
  }
  context_ = model.context_length();
  if (context_ <= 0) throw std::invalid_argument(fmt::format("generate: model context length is {}", context_));

  const PaddedPrompts prompt = pad_left(prompts, options.pad_id);
  prompt_length_ = prompt.tokens.size(1);
  const std::int64_t batch = prompt.tokens.size(0);
  history_ = prompt.tokens.to(device);        // (B, P)
  history_valid_ = prompt.valid.to(device);   // (B, P)
  if (caps_.has_encoder) {
    // The prompt goes to the encoder (its most recent context tokens); the decoder starts alone.
    const std::int64_t kept = std::min(prompt_length_, context_);
    encoder_tokens_ = history_.narrow(1, prompt_length_ - kept, kept);  // (B, S)
    if (prompt.padded) encoder_valid_ = history_valid_.narrow(1, prompt_length_ - kept, kept);  // (B, S)
    decoded_ = at::full({batch, 1}, options.decoder_start_id, history_.options());  // (B, 1)
    decoded_valid_ = at::ones({batch, 1}, history_valid_.options());                 // (B, 1)
  } else {
    decoded_ = history_;              // (B, P)
    decoded_valid_ = history_valid_;  // (B, P)
  }
  // Each row's window starts at its first real token: after its left padding, or at 0 for an
  // encoder-decoder's decoder.
  for (const auto& p : prompts) {
    window_start_.push_back(caps_.has_encoder ? 0 : prompt_length_ - static_cast<std::int64_t>(p.size()));
  }
  if (options.adapt_threads && device.is_cpu()) threads_ = std::make_unique<StepThreads>(at::get_num_threads());
}

ModelStepper::~ModelStepper() = default;

StepOutput ModelStepper::forward() {
  if (started_ && !pending_.defined()) throw std::logic_error("ModelStepper: forward() twice without an append()");
  const std::int64_t length = decoded_.size(1);
  // Each row keeps its own window of real tokens: the most recent `context` of them at first,
  // and, when the next token would overflow it, the most recent half context (so refills are
  // rare and each costs one forward). A row's windows thus depend on its own length only, never
  // on the padding its batch adds, and a prompt decodes alike alone or in any batch.
  bool reread = !started_ || !options_.use_cache;
  for (std::size_t r = 0; r < window_start_.size(); ++r) {
    if (!started_) {
      window_start_[r] = std::max(window_start_[r], length - context_);
    } else if (length - window_start_[r] > context_) {
      window_start_[r] = length - std::max<std::int64_t>(1, context_ / 2);
      reread = true;
    }
  }
  ModelInput input;
  input.cache = &cache_;
  input.return_hidden = options_.hidden;
  StepOutput out;
  if (reread) {
    const std::int64_t first = *std::min_element(window_start_.begin(), window_start_.end());
    const std::int64_t width = length - first;
    // An encoder-decoder keeps its encoded prompt while the cache lives; only the decoder's
    // past is re-read.
    if (caps_.has_encoder && options_.use_cache) cache_.clear_decoder();
    else cache_.clear();
    input.tokens = decoded_.narrow(1, first, width);  // (R, W)
    const bool ragged = std::any_of(window_start_.begin(), window_start_.end(), [&](std::int64_t s) { return s != first; });
    if (ragged) {
      // Columns before a row's window are hidden from it, as left padding is.
      const at::Tensor starts = at::tensor(window_start_, at::kLong).to(device_).unsqueeze(1);  // (R, 1)
      const at::Tensor columns = at::arange(first, length, starts.options()).unsqueeze(0);     // (1, W)
      input.padding_mask = decoded_valid_.narrow(1, first, width).logical_and(columns >= starts);  // (R, W)
    }
    if (caps_.prefix) {
      // The part of the prompt still in the window stays the bidirectional prefix.
      input.prefix_lengths = at::full({rows()}, std::max<std::int64_t>(0, prompt_length_ - first), history_.options());  // (R)
    }
    if (caps_.has_encoder && !cache_.has_memory()) {
      input.encoder_tokens = encoder_tokens_;        // (R, S)
      input.encoder_padding_mask = encoder_valid_;   // (R, S)
    }
    out.fresh = started_ ? 1 : width;
  } else {
    input.tokens = pending_;  // (R, 1)
    out.fresh = 1;
  }
  started_ = true;
  pending_ = at::Tensor();
  // One-token steps run on the number of threads measured faster; a prompt or window read is
  // large enough work to take them all.
  const bool one_token = out.fresh == 1 && input.tokens.size(1) == 1;
  if (threads_ && one_token) threads_->begin_step();
  else if (threads_) threads_->all();
  const auto start = std::chrono::steady_clock::now();
  const ModelOutput result = model_.forward(input);
  if (threads_ && one_token) {
    threads_->end_step(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), rows());
  }
  // A float32 copy: warpers may change it in place without touching the model's output.
  out.logits = result.logits.select(1, -1).to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);  // (R, V)
  out.log_probs = at::log_softmax(out.logits, -1);  // (R, V)
  out.entropy = entropy_of(out.log_probs);          // (R)
  if (options_.hidden) {
    if (!result.hidden.defined()) throw std::logic_error("ModelStepper: the model returned no hidden states");
    out.hidden = result.hidden;  // (R, t, C)
  }
  if (!options_.use_cache) cache_.clear();  // nothing is reused, so nothing need be held
  return out;
}

void ModelStepper::append(const at::Tensor& tokens) {
  if (!started_) throw std::logic_error("ModelStepper: append() before the first forward()");
  if (pending_.defined()) throw std::logic_error("ModelStepper: append() twice without a forward()");
  if (tokens.dim() != 1 || tokens.size(0) != rows()) {
    throw std::invalid_argument(fmt::format("ModelStepper: append() takes one token per row ({}), got shape {}",
                                            rows(), c10::str(tokens.sizes())));
  }
  pending_ = tokens.reshape({rows(), 1}).to(device_, at::kLong);  // (R, 1)
  const at::Tensor real = at::ones({rows(), 1}, history_valid_.options());  // (R, 1)
  append_column(history_room_, history_, pending_);                // (R, L + 1)
  append_column(history_valid_room_, history_valid_, real);        // (R, L + 1)
  if (caps_.has_encoder) {
    append_column(decoded_room_, decoded_, pending_);              // (R, Ld + 1)
    append_column(decoded_valid_room_, decoded_valid_, real);      // (R, Ld + 1)
  } else {
    decoded_ = history_;
    decoded_valid_ = history_valid_;
  }
}

void ModelStepper::select(const at::Tensor& rows) {
  const at::Tensor r = rows.to(device_, at::kLong);  // (R')
  detail::select_rows(history_, r);
  detail::select_rows(history_valid_, r);
  if (caps_.has_encoder) {
    detail::select_rows(decoded_, r);
    detail::select_rows(decoded_valid_, r);
    detail::select_rows(encoder_tokens_, r);
    detail::select_rows(encoder_valid_, r);
  } else {
    decoded_ = history_;
    decoded_valid_ = history_valid_;
  }
  detail::select_rows(pending_, r);
  cache_.select(r);
  // Beam and contrastive search call this every step: one host copy, then plain indexing.
  const at::Tensor host = r.cpu().contiguous();
  const auto ids = host.accessor<std::int64_t, 1>();
  std::vector<std::int64_t> starts;
  starts.reserve(static_cast<std::size_t>(ids.size(0)));
  for (std::int64_t i = 0; i < ids.size(0); ++i) starts.push_back(window_start_.at(static_cast<std::size_t>(ids[i])));
  window_start_ = std::move(starts);
}

}  // namespace lmlab
