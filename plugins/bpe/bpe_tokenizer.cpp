// Byte-level BPE: text is cut into pieces by the model's regex, each piece's UTF-8 bytes are
// merged pair by pair in the order the model learned its merges, and the ids are the model's own.
// lmlab's objectives need pad, mask and sentinels, which these models lack: they come after the
// model's vocabulary, so its published ids do not move.
#include "bpe_tokenizer.hpp"

#include <algorithm>
#include <filesystem>

#include "lmlab/error.hpp"
#include "merge.hpp"

namespace bpe_plugin {

namespace {

std::filesystem::path resolve(const std::string& file, const lmlab::TokenizerContext& context) {
  const std::filesystem::path path(file);
  return path.is_absolute() || context.base_folder.empty() ? path : context.base_folder / path;
}

Vocabulary load(const BpeOptions& o, const lmlab::TokenizerContext& context) {
  if (!o.ranks.empty()) return load_tiktoken_file(resolve(o.ranks, context));
  return load_gpt2_files(resolve(o.encoder, context), resolve(o.merges, context));
}

constexpr std::string_view replacement = "\xEF\xBF\xBD";

}  // namespace

BpeTokenizer::BpeTokenizer(const BpeOptions& o, const lmlab::TokenizerContext& context)
    : vocab_(load(o, context)), pretokenizer_(pattern_regex(o.pattern)), cache_(static_cast<std::size_t>(o.cache_words)) {
  add_named_specials(vocab_, o.specials);
  assign_special_ids(o);
  // Everything that changes ids: the files, the regex (not its name), the specials and lmlab's
  // additions. The cache size does not.
  identity_ = "bpe:" + lmlab::text_sha256("bpe v1\nfiles " + vocab_.files_digest + "\npattern " + pattern_regex(o.pattern) +
                                          "\nspecials " + specials_text() + "\neos " + o.eos + "\nsentinels " +
                                          std::to_string(o.sentinels) + "\n");
}

std::vector<std::int64_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<std::int64_t> ids;
  ids.reserve(text.size() / 3);
  std::vector<std::int32_t> merged;
  pretokenizer_.split(text, [&](std::string_view piece) { encode_piece(piece, ids, merged); });
  return ids;
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<std::int64_t>& ids,
                                std::vector<std::int32_t>& merged) const {
  const bool cached = cache_.enabled() && piece.size() <= WordCache::max_word_bytes;
  const std::size_t hash = cached ? std::hash<std::string_view>{}(piece) : 0;
  if (cached && cache_.find(piece, hash, ids)) return;
  merged.clear();
  merge_piece(vocab_, piece, merged);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cached) cache_.insert(piece, hash, merged.data(), merged.size());
}

std::string BpeTokenizer::decode(std::span<const std::int64_t> ids) const {
  std::string out, run;
  out.reserve(ids.size() * 4);
  // Bytes are validated run by run, so a special id inside a multi-byte character ends it.
  for (const std::int64_t id : ids) {
    if (id >= 0 && id < vocab_.size && vocab_.byte_level[id]) {
      run += vocab_.bytes[id];
      continue;
    }
    lmlab::append_valid_utf8(run, out);
    run.clear();
    const auto name = names_.find(id);
    if (name != names_.end()) {
      out += name->second;
    } else {
      out += replacement;
    }
  }
  lmlab::append_valid_utf8(run, out);
  return out;
}

std::string BpeTokenizer::piece(std::int64_t id) const {
  if (const auto name = names_.find(id); name != names_.end()) return name->second;
  if (id < 0 || id >= vocab_.size || !vocab_.byte_level[id]) return "<unknown " + std::to_string(id) + ">";
  std::string symbols;
  for (const char b : vocab_.bytes[id]) symbols += byte_symbols()[static_cast<unsigned char>(b)];
  return symbols;
}

std::vector<std::int64_t> BpeTokenizer::newline_ids() const {
  std::vector<std::int64_t> ids;
  for (std::int64_t id = 0; id < vocab_.size; ++id) {
    if (vocab_.byte_level[id] && vocab_.bytes[id] == "\n") ids.push_back(id);
  }
  return ids;
}

// The model's specials keep their ids; lmlab's own (eos when the model has none, pad, mask,
// sentinels) follow the model's vocabulary.
void BpeTokenizer::assign_special_ids(const BpeOptions& o) {
  for (const auto& s : vocab_.specials) names_[s.id] = s.name;
  std::int64_t next = vocab_.size;
  auto append = [&](const std::string& name) {
    names_[next] = name;
    return next++;
  };
  if (o.eos.empty()) {
    special_.eos = append("<eos>");
  } else {
    for (const auto& s : vocab_.specials) {
      if (s.name == o.eos) special_.eos = s.id;
    }
    if (special_.eos < 0) {
      throw lmlab::ConfigError("bpe: eos: the model has no special token " + bounded_quote(o.eos) + "; name it in specials (\"" +
                               o.eos + "=<id>\") or set eos = \"\" for lmlab's own <eos>");
    }
  }
  special_.bos = special_.eos;
  special_.pad = append("<pad>");
  special_.mask = append("<mask>");
  special_.first_sentinel = next;
  special_.n_sentinels = o.sentinels;
  for (std::int64_t i = 0; i < o.sentinels; ++i) append("<extra_id_" + std::to_string(i) + ">");
  vocab_size_ = next;
  // The byte-level tokens' span, which a masked LM may draw from (GPT-2: 0..50255).
  special_.ordinary_begin = vocab_.size;
  special_.ordinary_end = 0;
  for (std::int64_t id = 0; id < vocab_.size; ++id) {
    if (!vocab_.byte_level[id]) continue;
    special_.ordinary_begin = std::min(special_.ordinary_begin, id);
    special_.ordinary_end = id + 1;
  }
}

std::string BpeTokenizer::specials_text() const {
  std::string text;
  for (const auto& s : vocab_.specials) text += s.name + "=" + std::to_string(s.id) + ";";
  return text;
}

}  // namespace bpe_plugin
