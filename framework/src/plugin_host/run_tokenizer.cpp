#include "plugin_host/run_tokenizer.hpp"

#include <filesystem>
#include <sstream>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"

namespace lmlab {

namespace {

// Every call through plugin_call. Tokenizers are shared by threads, so this adds no state.
class GuardedTokenizer final : public Tokenizer {
 public:
  GuardedTokenizer(std::shared_ptr<Tokenizer> tokenizer, PluginInfo info)
      : tokenizer_(std::move(tokenizer)), info_(std::move(info)) {}

  std::vector<std::int64_t> encode(std::string_view text) const override {
    return plugin_call(info_, "encode", [&] { return tokenizer_->encode(text); });
  }
  std::string decode(std::span<const std::int64_t> ids) const override {
    return plugin_call(info_, "decode", [&] { return tokenizer_->decode(ids); });
  }
  std::int64_t vocab_size() const override {
    return plugin_call(info_, "vocab_size", [&] { return tokenizer_->vocab_size(); });
  }
  const SpecialIds& special() const override { return special_; }
  std::string piece(std::int64_t id) const override {
    return plugin_call(info_, "piece", [&] { return tokenizer_->piece(id); });
  }
  std::string identity() const override { return identity_; }
  std::vector<std::int64_t> newline_ids() const override {
    return plugin_call(info_, "newline_ids", [&] { return tokenizer_->newline_ids(); });
  }

  // Read once: the host asks for them on every batch and every decoded text.
  void settle() {
    special_ = plugin_call(info_, "special", [&] { return tokenizer_->special(); });
    identity_ = plugin_call(info_, "identity", [&] { return tokenizer_->identity(); });
    check_special();
  }

 private:
  void check_special() const {
    const std::int64_t v = vocab_size();
    if (v <= 0) throw PluginError(fmt::format("tokenizer '{}' reports a vocabulary of {} ids", info_.name, v));
    const std::pair<const char*, std::int64_t> ids[] = {{"pad", special_.pad},   {"bos", special_.bos},
                                                        {"eos", special_.eos},   {"mask", special_.mask},
                                                        {"unk", special_.unk}};
    for (const auto& [name, id] : ids) {
      if (id < -1 || id >= v) {
        throw PluginError(fmt::format("tokenizer '{}': its {} id {} is outside 0..{}", info_.name, name, id, v - 1));
      }
    }
    if (special_.n_sentinels < 0 ||
        (special_.n_sentinels > 0 && (special_.first_sentinel < 0 || special_.first_sentinel + special_.n_sentinels > v))) {
      throw PluginError(fmt::format("tokenizer '{}': its {} sentinels from id {} do not fit in {} ids", info_.name,
                                    special_.n_sentinels, special_.first_sentinel, v));
    }
    if (special_.ordinary_begin < 0 || special_.ordinary_begin >= special_.ordinary_end || special_.ordinary_end > v) {
      throw PluginError(fmt::format("tokenizer '{}': its ordinary ids [{}, {}) are not a range within 0..{}",
                                    info_.name, special_.ordinary_begin, special_.ordinary_end, v - 1));
    }
  }

  std::shared_ptr<Tokenizer> tokenizer_;
  PluginInfo info_;
  SpecialIds special_;
  std::string identity_;
};

std::string options_text(const PluginChoice& choice) {
  std::ostringstream text;
  text << choice.options;
  std::string one_line = text.str();
  for (char& c : one_line) {
    if (c == '\n') c = ';';
  }
  return one_line;
}

}  // namespace

std::shared_ptr<const Tokenizer> build_tokenizer(const Registry& registry, const PluginChoice& choice) {
  std::error_code ec;
  const TokenizerContext context{std::filesystem::current_path(ec)};
  auto guarded = std::make_shared<GuardedTokenizer>(make_plugin<Tokenizer>(registry, choice.name, choice.options, context),
                                                    registry.get<Tokenizer>(choice.name).info);
  guarded->settle();
  return guarded;
}

void check_tokenizer_identity(const Tokenizer& tokenizer, const std::string& expected_identity,
                              const std::string& what, const PluginChoice& choice) {
  if (expected_identity.empty() || tokenizer.identity() == expected_identity) return;
  const std::string options = options_text(choice);
  throw DataError(fmt::format("tokenizer '{}' is not the one {} was made with: its identity is now {}, it was {}; "
                              "its files changed since (options: {}). Point [tokenizer] at the files it was made "
                              "with, or prepare and train afresh",
                              choice.name, what, tokenizer.identity(), expected_identity,
                              options.empty() ? "none" : options));
}

}  // namespace lmlab
